/*
 * export.c: ferry-audit export LOGDIR --json | --csv.  Every field is an
 * id, a hex string, a number or an ISO 8601 UTC time (the last), so
 * neither format needs escaping (agency ids are [a-z0-9-]).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "cli.h"
#include "ferry.h"
#include "log.h"
#include "merkle.h"

struct ex {
	int json;
	uint64_t n;
};

static int
ex_cb(void *ctx, uint64_t idx, const struct log_entry *e, const uint8_t *raw,
    size_t rawlen)
{
	struct ex *x = ctx;
	uint8_t leaf[32];
	char id[33], eh[65], lh[65], t[32];

	ferry_hex(id, e->msg_id, 16);
	ferry_hex(eh, e->env_hash, 32);
	merkle_leaf_hash(raw, rawlen, leaf);
	ferry_hex(lh, leaf, 32);
	if (x->json)
		printf("%s\n  {\"index\": %llu, \"kind\": \"%s\", "
		    "\"time_ms\": %llu, \"msg_id\": \"%s\", \"env_hash\": "
		    "\"%s\", \"from\": \"%s\", \"to\": \"%s\", \"ref_index\": "
		    "%llu, \"code\": %d, \"roster_version\": %llu, "
		    "\"aux_len\": %zu, \"leaf_hash\": \"%s\", \"time\": \"%s\"}",
		    x->n ? "," : "", (unsigned long long)idx,
		    log_kind_name(e->kind), (unsigned long long)e->time_ms, id,
		    eh, e->from, e->to, (unsigned long long)e->ref_index,
		    (int)e->code, (unsigned long long)e->roster_version,
		    e->aux_len, lh, ferry_utc(t, sizeof(t), e->time_ms));
	else
		printf("%llu,%s,%llu,%s,%s,%s,%s,%llu,%d,%llu,%zu,%s,%s\n",
		    (unsigned long long)idx, log_kind_name(e->kind),
		    (unsigned long long)e->time_ms, id, eh, e->from, e->to,
		    (unsigned long long)e->ref_index, (int)e->code,
		    (unsigned long long)e->roster_version, e->aux_len, lh,
		    ferry_utc(t, sizeof(t), e->time_ms));
	x->n++;
	return (0);
}

int
cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "csv", no_argument, NULL, 'c' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct ex x = { -1, 0 };
	struct log *l;
	uint64_t bad = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, ":jc", opts, NULL)) != -1) {
		if (ch != 'j' && ch != 'c')
			return (cli_opt_error(ch, argv));
		if (x.json != -1)
			return (cli_usage("give one of --json and --csv"));
		x.json = ch == 'j';
	}
	if (x.json == -1)
		return (cli_usage("give one of --json and --csv"));
	if ((rc = audit_operands(argc, argv, "LOGDIR")) >= 0)
		return (rc);
	if (audit_open(argv[optind], &l) != 0)
		return (1);
	if (x.json)
		printf("{\"origin\": \"%s\", \"entries\": [", log_origin(l));
	else
		printf("index,kind,time_ms,msg_id,env_hash,from,to,ref_index,"
		    "code,roster_version,aux_len,leaf_hash,time\n");
	rc = log_foreach(l, 0, ex_cb, &x, &bad);
	if (x.json)
		printf("\n]}\n");
	log_close(l);
	if (rc != 0) {
		fprintf(stderr, "ferry-audit: entry %llu: %s\n",
		    (unsigned long long)bad, ferry_strerror(rc));
		return (1);
	}
	return (fflush(stdout) == 0 ? 0 : 1);
}
