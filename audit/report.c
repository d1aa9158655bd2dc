/*
 * report.c: ferry-audit report LOGDIR... — one report over the logs of
 * several parties (the relay and agencies) for an auditor: per party its
 * size, checkpoints and whether each holds; per message its timeline
 * across parties (sent, custody, received, receipt at sender, answered)
 * with latencies; findings of every pair (audit_compare) and of each log's
 * own tree and checkpoints; the roster history; erasures.  As a
 * self-contained HTML file (inline CSS and SVG, no scripts, no remote
 * assets) with --html, as JSON with --json, else a summary.  Only ids,
 * agencies, times, kinds, sizes and outcomes: never referral content.
 * Exit 1 when any finding is red (missing, or a log that does not hold).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "envelope.h"
#include "ferry.h"
#include "log.h"
#include "roster.h"

#define MAX_PARTIES 64
#define MAX_ROSTERS 256
#define MAX_DAYS 62		/* days shown in the per-day chart */

/* A log's own health. */
struct health {
	int open;		/* it could be read at all */
	int tree_rc;
	uint64_t tree_bad;
	size_t ncp, ncp_bad;
	uint64_t t_first, t_last;
	char why[320];
};

/* One message across every party. */
struct urec {
	uint8_t id[16];
	uint32_t from, to;
	uint64_t sent, custody, received, receipt, delivered;
	int nack, expired, has_reply, answered_idx;
	uint8_t reply_to[16];
	int red, amber;
	/* Relays: the sender's routing (LOG_ROUTE), the signers of the
	 * custody receipts it holds (in log order: the last is the current
	 * custodian), the relay whose log shows the delivery. */
	uint32_t route[AUDIT_ROUTES_MAX];
	uint8_t route_code[AUDIT_ROUTES_MAX];
	uint8_t nroutes;
	uint32_t custody_by[AUDIT_ROUTES_MAX];
	uint8_t ncustody_by;
	int has_carried;
	uint32_t carried_by;
};

struct rep {
	struct party p[MAX_PARTIES];
	struct health h[MAX_PARTIES];
	size_t np;
	struct roster *ro[MAX_ROSTERS];
	size_t nro;
	struct findings f;
	size_t *fpair;		/* per finding: i * MAX_PARTIES + j */
	struct urec *u;
	size_t nu, capu;
	struct msgtab idx;	/* id -> u (index in ->first) */
	size_t nred, namber;
	uint64_t now;
};

static int
cmp_time(const void *a, const void *b)
{
	const struct urec *x = a, *y = b;
	uint64_t tx = x->sent ? x->sent : x->custody;
	uint64_t ty = y->sent ? y->sent : y->custody;

	return (tx < ty ? -1 : tx > ty);
}

static int
cp_cb(void *ctx, uint64_t size, const uint8_t *note, size_t len)
{
	void **c = ctx;
	struct party *p = c[0];
	struct health *h = c[1];
	uint64_t *prev = c[2], bad;
	char why[256];

	h->ncp++;
	if (audit_check_cp(p->l, note, len, p->pk, prev, c[3], &bad, why,
	    sizeof(why)) != 0 && h->ncp_bad++ == 0)
		snprintf(h->why, sizeof(h->why), "checkpoint %zu %s", h->ncp - 1,
		    why);
	return (0);
}

static void
check_health(struct party *p, struct health *h)
{
	uint8_t prev_root[32];
	uint64_t prev = 0;
	void *c[4] = { p, h, &prev, prev_root };
	size_t i;

	h->open = 1;
	h->tree_rc = party_tree(p, &h->tree_bad);
	if (h->tree_rc != 0)
		snprintf(h->why, sizeof(h->why), "%s at entry %llu: %s",
		    h->tree_rc == FERRY_ELOGCORRUPT ? "stored entry or hash "
		    "does not match the recomputed tree (altered or corrupt)" :
		    h->tree_rc == FERRY_EINCONSISTENT ? "the latest checkpoint "
		    "does not match the tree, or covers only the entries "
		    "before this one" : "the tree cannot be read",
		    (unsigned long long)h->tree_bad, ferry_strerror(h->tree_rc));
	if (log_checkpoint_foreach(p->l, cp_cb, c) != 0 && h->why[0] == '\0')
		snprintf(h->why, sizeof(h->why), "checkpoints cannot be read");
	for (i = 0; i < p->t.cap; i++) {
		const struct msgrec *r = &p->t.r[i];
		uint32_t k;

		if (!r->used)
			continue;
		for (k = 1; k <= LOG_KIND_MAX; k++) {
			if (!(r->kinds & (1u << k)) || r->t[k] == 0)
				continue;
			if (h->t_first == 0 || r->t[k] < h->t_first)
				h->t_first = r->t[k];
			if (r->t[k] > h->t_last)
				h->t_last = r->t[k];
		}
	}
}

static int
health_bad(const struct health *h)
{

	return (!h->open || h->tree_rc != 0 || h->ncp_bad > 0);
}

static struct urec *
urec_get(struct rep *R, const uint8_t id[16])
{
	struct msgrec *m;
	struct urec *nu;
	size_t ncap;

	if ((m = msgtab_get(&R->idx, id, 1)) == NULL)
		return (NULL);
	if (m->kinds != 0)
		return (&R->u[m->first]);
	if (R->nu == R->capu) {
		ncap = R->capu ? R->capu * 2 : 256;
		if ((nu = realloc(R->u, ncap * sizeof(*nu))) == NULL)
			return (NULL);
		R->u = nu;
		R->capu = ncap;
	}
	m->kinds = 1;
	m->first = R->nu;
	nu = &R->u[R->nu++];
	memset(nu, 0, sizeof(*nu));
	memcpy(nu->id, id, 16);
	nu->from = nu->to = UINT32_MAX;
	nu->answered_idx = -1;
	return (nu);
}

/* The reply_to of the stored MSG envelope ${r} refers to (header only). */
static void
reply_of(struct party *p, const struct msgrec *r, struct urec *u)
{
	struct env e;
	uint8_t *buf;
	size_t len;

	if (u->has_reply || !r->has_hash ||
	    log_get_envelope(p->l, r->env_hash, &buf, &len) != 0)
		return;
	if (env_decode(buf, len, 0, &e) == 0 && e.type == ENV_MSG &&
	    e.has_reply_to) {
		u->has_reply = 1;
		memcpy(u->reply_to, e.reply_to, 16);
	}
	free(buf);
}

/* The sender's routing of ${r} and the signers of its custody receipts. */
static void
routes_of(const struct msgrec *r, struct urec *u)
{

	memcpy(u->route, r->route, sizeof(u->route));
	memcpy(u->route_code, r->route_code, sizeof(u->route_code));
	u->nroutes = r->nroutes;
	memcpy(u->custody_by, r->custody, sizeof(u->custody_by));
	u->ncustody_by = r->ncustody;
}

/*
 * The relay that carried ${u} to its recipient: the one whose log shows
 * the delivery; else, with the receipt at the sender, the sender's last
 * route, else the signer of its latest custody receipt; NULL if not
 * known.
 */
static const char *
carrier(const struct urec *u)
{

	if (u->has_carried)
		return (audit_name(u->carried_by));
	if (!u->receipt)
		return (NULL);
	if (u->nroutes > 0)
		return (audit_name(u->route[u->nroutes - 1]));
	return (u->ncustody_by > 0 ? audit_name(u->custody_by[
	    u->ncustody_by - 1]) : NULL);
}

static void
settle(uint64_t *slot, uint64_t t)
{

	if (t != 0 && (*slot == 0 || t < *slot))
		*slot = t;
}

static int
build_messages(struct rep *R)
{
	struct msgrec *r, *m;
	struct party *p;
	struct urec *u;
	size_t i, j;

	if (msgtab_init(&R->idx) != 0)
		return (-1);
	for (i = 0; i < R->np; i++) {
		p = &R->p[i];
		if (p->l == NULL)
			continue;
		for (j = 0; j < p->t.cap; j++) {
			r = &p->t.r[j];
			if (!r->used || (u = urec_get(R, r->id)) == NULL)
				continue;
			if (r->has_hash && u->from == UINT32_MAX) {
				u->from = r->from;
				u->to = r->to;
			}
			if (r->kinds & (1u << LOG_SENT)) {
				settle(&u->sent, r->t[LOG_SENT]);
				settle(&u->receipt, r->t[LOG_RECEIPT]);
				routes_of(r, u);
			}
			if (p->relay) {
				settle(&u->custody, r->t[LOG_ACCEPTED]);
				settle(&u->delivered, r->t[LOG_DELIVERED]);
				if ((r->kinds & (1u << LOG_DELIVERED)) &&
				    !u->has_carried) {
					u->carried_by = audit_intern(p->self);
					u->has_carried = 1;
				}
			}
			if (r->kinds & (1u << LOG_RECEIVED))
				settle(&u->received, r->t[LOG_RECEIVED]);
			u->nack |= (r->kinds & (1u << LOG_NACK)) != 0;
			u->expired |= (r->kinds & (1u << LOG_EXPIRED)) != 0;
			if (r->kinds & ((1u << LOG_SENT) | (1u << LOG_RECEIVED)))
				reply_of(p, r, u);
		}
	}
	if (R->nu > 0)		/* qsort(NULL, 0, ...) is undefined */
		qsort(R->u, R->nu, sizeof(*R->u), cmp_time);
	for (i = 0; i < R->nu; i++)
		if ((m = msgtab_get(&R->idx, R->u[i].id, 0)) != NULL)
			m->first = i;
	for (i = 0; i < R->nu; i++) {
		u = &R->u[i];
		if (u->has_reply && (m = msgtab_get(&R->idx, u->reply_to,
		    0)) != NULL && R->u[m->first].answered_idx < 0)
			R->u[m->first].answered_idx = (int)i;
	}
	for (i = 0; i < R->f.n; i++) {
		if (!R->f.f[i].has_id ||
		    (m = msgtab_get(&R->idx, R->f.f[i].id, 0)) == NULL)
			continue;
		if (R->f.f[i].missing)
			R->u[m->first].red = 1;
		else
			R->u[m->first].amber = 1;
	}
	return (0);
}

/* ---- HTML --------------------------------------------------------------- */

static void
esc(FILE *o, const char *s)
{

	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': fputs("&amp;", o); break;
		case '<': fputs("&lt;", o); break;
		case '>': fputs("&gt;", o); break;
		case '"': fputs("&quot;", o); break;
		case '\'': fputs("&#39;", o); break;
		default:
			if ((unsigned char)*s < 0x20)
				fputc(' ', o);
			else
				fputc(*s, o);
		}
	}
}

/* printf to ${o} where every %s argument is escaped (only %s, %zu, %llu, %d). */
static void
h(FILE *o, const char *fmt, ...)
{
	va_list ap;
	const char *p;

	va_start(ap, fmt);
	for (p = fmt; *p != '\0'; p++) {
		if (*p != '%') {
			fputc(*p, o);
			continue;
		}
		p++;
		if (*p == 's')
			esc(o, va_arg(ap, const char *));
		else if (*p == 'd')
			fprintf(o, "%d", va_arg(ap, int));
		else if (strncmp(p, "zu", 2) == 0) {
			fprintf(o, "%zu", va_arg(ap, size_t));
			p++;
		} else if (strncmp(p, "llu", 3) == 0) {
			fprintf(o, "%llu", va_arg(ap, unsigned long long));
			p += 2;
		} else
			fputc(*p, o);
	}
	va_end(ap);
}

static const char *
tm(char *buf, size_t cap, uint64_t ms)
{

	return (ms ? ferry_utc(buf, cap, ms) : "—");
}

static const char *
lat(char *buf, size_t cap, uint64_t from, uint64_t to)
{

	if (from == 0 || to == 0 || to < from)
		return ("—");
	return (audit_age(buf, cap, to - from));
}

static const char *const palette[] = { "#1f77b4", "#ff7f0e", "#2ca02c",
	"#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
	"#17becf" };

static void
chart_per_day(FILE *o, struct rep *R)
{
	uint32_t senders[16];
	size_t ns = 0, i, j, d, nd;
	uint64_t day0 = UINT64_MAX, dayN = 0, day;
	unsigned cnt[MAX_DAYS][16], max = 1, tot;
	char b[32];
	const int W = 720, H = 220, L = 40, BOT = 40;

	memset(cnt, 0, sizeof(cnt));
	for (i = 0; i < R->nu; i++)
		if (R->u[i].sent) {
			day = R->u[i].sent / 86400000;
			if (day < day0)
				day0 = day;
			if (day > dayN)
				dayN = day;
		}
	if (day0 == UINT64_MAX) {
		h(o, "<p>No message was sent in these logs.</p>\n");
		return;
	}
	if (dayN - day0 >= MAX_DAYS)
		day0 = dayN - MAX_DAYS + 1;
	nd = (size_t)(dayN - day0 + 1);
	for (i = 0; i < R->nu; i++) {
		if (!R->u[i].sent || R->u[i].sent / 86400000 < day0)
			continue;
		for (j = 0; j < ns && senders[j] != R->u[i].from; j++)
			;
		if (j == ns && ns < 16)
			senders[ns++] = R->u[i].from;
		if (j == 16)
			continue;
		cnt[R->u[i].sent / 86400000 - day0][j]++;
	}
	for (d = 0; d < nd; d++) {
		for (tot = 0, j = 0; j < ns; j++)
			tot += cnt[d][j];
		if (tot > max)
			max = tot;
	}
	h(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" role=\"img\" aria-label=\"messages sent per day per "
	    "agency\">\n", W, H + 20 * (int)((ns + 3) / 4));
	h(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>\n",
	    L, H - BOT, W - 10, H - BOT);
	h(o, "<text x=\"2\" y=\"14\" font-size=\"11\">%d</text>\n", (int)max);
	for (d = 0; d < nd; d++) {
		int bw = (W - L - 20) / (int)nd > 60 ? 60 : (W - L - 20) /
		    (int)nd, x = L + 5 + (int)d * bw, y =
		    H - BOT;

		for (j = 0; j < ns; j++) {
			int bh = (int)(cnt[d][j] * (unsigned)(H - BOT - 20) / max);

			if (bh == 0)
				continue;
			y -= bh;
			h(o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
			    "fill=\"%s\"><title>%s: %d</title></rect>\n", x, y,
			    bw > 6 ? bw - 4 : bw, bh, palette[j % 10],
			    audit_name(senders[j]), (int)cnt[d][j]);
		}
		ferry_utc(b, sizeof(b), (day0 + d) * 86400000 + 1);
		b[10] = '\0';
		if (nd <= 14 || d % (nd / 7 + 1) == 0)
			h(o, "<text x=\"%d\" y=\"%d\" font-size=\"10\">%s</text>\n",
			    x, H - BOT + 14, b);
	}
	for (j = 0; j < ns; j++) {
		int x = L + (int)(j % 4) * 170, y = H + (int)(j / 4) * 20;

		h(o, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" "
		    "fill=\"%s\"/><text x=\"%d\" y=\"%d\" font-size=\"12\">%s"
		    "</text>\n", x, y - 10, palette[j % 10], x + 16, y,
		    audit_name(senders[j]));
	}
	h(o, "</svg>\n");
}

static void
chart_latency(FILE *o, struct rep *R)
{
	static const char *const lab[] = { "<10 ms", "<100 ms", "<1 s",
	    "<10 s", "<1 min", "<10 min", "<1 h", "≥1 h" };
	static const uint64_t lim[] = { 10, 100, 1000, 10000, 60000, 600000,
	    3600000, UINT64_MAX };
	unsigned cnt[8] = { 0 }, max = 1, n = 0;
	size_t i, k;
	const int W = 720, H = 200, L = 40;

	for (i = 0; i < R->nu; i++) {
		const struct urec *u = &R->u[i];

		if (!u->sent || !u->received || u->received < u->sent)
			continue;
		for (k = 0; u->received - u->sent >= lim[k]; k++)
			;
		cnt[k]++;
		n++;
	}
	if (n == 0) {
		h(o, "<p>No delivery with both its sending and its receipt in "
		    "these logs.</p>\n");
		return;
	}
	for (k = 0; k < 8; k++)
		if (cnt[k] > max)
			max = cnt[k];
	h(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" role=\"img\" aria-label=\"delivery latency "
	    "distribution\">\n", W, H);
	h(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>\n",
	    L, H - 30, W - 10, H - 30);
	for (k = 0; k < 8; k++) {
		int bh = (int)(cnt[k] * (unsigned)(H - 60) / max), x = L + 5 +
		    (int)k * 82;

		h(o, "<rect x=\"%d\" y=\"%d\" width=\"70\" height=\"%d\" "
		    "fill=\"#1f77b4\"/>\n", x, H - 30 - bh, bh);
		h(o, "<text x=\"%d\" y=\"%d\" font-size=\"11\">%d</text>\n",
		    x + 30, H - 34 - bh, (int)cnt[k]);
		h(o, "<text x=\"%d\" y=\"%d\" font-size=\"11\">%s</text>\n", x,
		    H - 14, lab[k]);
	}
	h(o, "</svg>\n");
}

static void
roster_diff(FILE *o, const struct roster *prev, const struct roster *r)
{
	const struct roster_agency *a, *b;
	size_t i, n = 0;

	for (i = 0; i < r->nagencies; i++) {
		a = &r->agencies[i];
		b = prev != NULL ? roster_find(prev, a->id) : NULL;
		if (b == NULL)
			h(o, "%sadded %s", n++ ? "; " : "", a->id);
		else if (a->revoked && !b->revoked)
			h(o, "%srevoked %s", n++ ? "; " : "", a->id);
		else if (memcmp(a->sign_pk, b->sign_pk, 32) != 0 ||
		    a->nenc != b->nenc || memcmp(a->enc, b->enc,
		    a->nenc * sizeof(a->enc[0])) != 0)
			h(o, "%srotated keys of %s", n++ ? "; " : "", a->id);
	}
	for (i = 0; i < r->nrelays; i++) {
		const struct roster_relay *x = &r->relays[i], *y;

		y = prev != NULL ? roster_find_relay(prev, x->id) : NULL;
		if (prev != NULL && y == NULL)
			h(o, "%sadded relay %s", n++ ? "; " : "", x->id);
		else if (y != NULL && memcmp(x->sign_pk, y->sign_pk, 32) != 0)
			h(o, "%srotated keys of the relay %s", n++ ? "; " : "",
			    x->id);
	}
	for (i = 0; prev != NULL && i < prev->nrelays; i++)
		if (roster_find_relay(r, prev->relays[i].id) == NULL)
			h(o, "%sremoved relay %s", n++ ? "; " : "",
			    prev->relays[i].id);
	if (n == 0)
		h(o, "no change of agencies");
}

/* The admin of ${pk} in ${r} or ${prev}, or "?". */
static const char *
admin_of(const struct roster *r, const struct roster *prev,
    const uint8_t pk[32])
{
	size_t i;

	for (i = 0; i < r->nadmins; i++)
		if (memcmp(r->admins[i].sign_pk, pk, 32) == 0)
			return (r->admins[i].name);
	for (i = 0; prev != NULL && i < prev->nadmins; i++)
		if (memcmp(prev->admins[i].sign_pk, pk, 32) == 0)
			return (prev->admins[i].name);
	return ("an unknown key");
}

static void
html_rosters(FILE *o, struct rep *R)
{
	const struct roster *r;
	struct event *e;
	size_t i, j, k;
	char t[32], hx[65];

	h(o, "<h2>Roster history</h2>\n");
	if (R->nro > 0) {
		h(o, "<table><tr><th>version</th><th>issued</th><th>expires</th>"
		    "<th>signed by</th><th>changes</th></tr>\n");
		for (i = 0; i < R->nro; i++) {
			r = R->ro[i];
			h(o, "<tr><td>%llu</td><td>%s</td>", (unsigned long long)
			    r->version, tm(t, sizeof(t), r->issued));
			h(o, "<td>%s</td><td>", tm(t, sizeof(t), r->expires));
			for (k = 0; k < r->nsigs; k++)
				h(o, "%s%s", k ? ", " : "", admin_of(r, i ?
				    R->ro[i - 1] : NULL, r->sigs[k].pk));
			h(o, " (%d of %zu needed)</td><td>", (int)r->threshold,
			    r->nadmins);
			roster_diff(o, i ? R->ro[i - 1] : NULL, r);
			h(o, "</td></tr>\n");
		}
		h(o, "</table>\n");
	} else
		h(o, "<p>No --roster given: signers and changes of each version "
		    "are not shown, only when each party adopted it.</p>\n");
	h(o, "<table><tr><th>party</th><th>adopted roster version</th>"
	    "<th>at</th><th>roster hash</th></tr>\n");
	for (i = 0; i < R->np; i++)
		for (j = 0; j < R->p[i].nev; j++) {
			e = &R->p[i].ev[j];
			if (e->kind != LOG_ROSTER)
				continue;
			ferry_hex(hx, e->hash, 32);
			hx[16] = '\0';
			h(o, "<tr><td>%s</td><td>%llu</td><td>%s</td><td class=\"id"
			    "\">%s…</td></tr>\n", R->p[i].self, (unsigned long long)
			    e->version, tm(t, sizeof(t), e->time), hx);
		}
	h(o, "</table>\n");
}

/* An erasure's reason code as a word: "request", "retention" or "unknown". */
static const char *
erase_reason(int32_t code)
{

	return (code == LOG_ERASE_REQUEST ? "request" : code ==
	    LOG_ERASE_RETENTION ? "retention" : "unknown");
}

static void
html_erasures(FILE *o, struct rep *R)
{
	struct event *e;
	size_t i, j, n = 0;
	char t[32], id[33];

	h(o, "<h2>Erasures</h2>\n");
	for (i = 0; i < R->np; i++)
		for (j = 0; j < R->p[i].nev; j++) {
			e = &R->p[i].ev[j];
			if (e->kind != LOG_ERASURE)
				continue;
			if (n++ == 0)
				h(o, "<table><tr><th>party</th><th>at</th>"
				    "<th>message</th><th>reason</th><th>"
				    "authorised by</th></tr>\n");
			ferry_hex(id, e->msg_id, 16);
			h(o, "<tr><td>%s</td><td>%s</td><td class=\"id\">%s</td>"
			    "<td>%s</td><td>%s</td></tr>\n", R->p[i].self,
			    tm(t, sizeof(t), e->time), id, e->code ==
			    LOG_ERASE_RETENTION ? "retention period ended" :
			    e->code == LOG_ERASE_REQUEST ? "data-protection "
			    "request" : "unknown reason", audit_name(e->from));
		}
	if (n == 0)
		h(o, "<p>No erasure in these logs.</p>\n");
	else
		h(o, "</table>\n");
}

/* The relay column: the carrier, then every route when more than one,
 * then every custodian (signer of a custody receipt) when more than one. */
static void
html_relay(FILE *o, const struct urec *u)
{
	const char *c = carrier(u);
	size_t k;

	h(o, "<td>%s", c != NULL ? c : "—");
	for (k = 0; u->nroutes > 1 && k < u->nroutes; k++)
		h(o, "%s%s (%s)", k ? " → " : " (routes: ",
		    audit_name(u->route[k]), audit_route_reason(
		    u->route_code[k]));
	h(o, "%s", u->nroutes > 1 ? ")" : "");
	for (k = 0; u->ncustody_by > 1 && k < u->ncustody_by; k++)
		h(o, "%s%s", k ? ", " : " (custody receipts: ",
		    audit_name(u->custody_by[k]));
	h(o, "%s</td>", u->ncustody_by > 1 ? ")" : "");
}

static void
html(FILE *o, struct rep *R)
{
	struct party *p;
	struct health *hl;
	struct urec *u;
	struct finding *f;
	size_t i;
	char t[32], t2[32], id[33], a1[32], a2[32], a3[32];

	h(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<title>Ferry audit report</title>\n<style>\n"
	    "body{font-family:sans-serif;margin:2em;color:#111;background:#fff}"
	    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
	    "th,td{border:1px solid #999;padding:3px 6px;font-size:12px;"
	    "text-align:left;vertical-align:top}th{background:#eee}"
	    ".id{font-family:monospace}.red{background:#f8d0d0}"
	    ".amber{background:#fdebc8}.ok{color:#060}.bad{color:#b00;"
	    "font-weight:bold}h2{border-bottom:2px solid #333;margin-top:1.5em}"
	    "@media print{body{margin:0}h2{page-break-after:avoid}"
	    "tr{page-break-inside:avoid}}\n</style></head><body>\n");
	h(o, "<h1>Ferry audit report</h1>\n<p>Written %s from the logs of %zu "
	    "part%s. Times are UTC (ISO 8601). The logs hold no referral "
	    "content: only ids, agencies, times, kinds, sizes and outcomes.</p>"
	    "\n", tm(t, sizeof(t), R->now), R->np, R->np == 1 ? "y" : "ies");
	if (R->nred == 0)
		h(o, "<p class=\"ok\"><b>Everything holds</b>: every log is "
		    "consistent and every message is accounted for (%zu in "
		    "flight).</p>\n", R->namber);
	else
		h(o, "<p class=\"bad\">%zu finding%s need%s attention (shown in "
		    "red below).</p>\n", R->nred, R->nred == 1 ? "" : "s",
		    R->nred == 1 ? "s" : "");

	h(o, "<h2>Parties</h2>\n<table><tr><th>party</th><th>role</th><th>log "
	    "folder</th><th>entries</th><th>messages</th><th>first entry</th>"
	    "<th>last entry</th><th>checkpoints</th><th>holds together</th>"
	    "</tr>\n");
	for (i = 0; i < R->np; i++) {
		p = &R->p[i];
		hl = &R->h[i];
		h(o, "<tr class=\"%s\"><td>%s</td><td>%s</td><td class=\"id\">"
		    "%s</td>", health_bad(hl) ? "red" : "plain", p->self != NULL ?
		    p->self : "?", p->relay ? "relay" : "agency", p->dir);
		if (!hl->open) {
			h(o, "<td colspan=\"5\"></td><td class=\"bad\">no: %s</td>"
			    "</tr>\n", hl->why);
			continue;
		}
		h(o, "<td>%llu</td><td>%zu</td><td>%s</td><td>%s</td>",
		    (unsigned long long)p->size, p->t.n, tm(t, sizeof(t),
		    hl->t_first), tm(t2, sizeof(t2), hl->t_last));
		h(o, "<td>%zu, %zu consistent</td>", hl->ncp, hl->ncp -
		    hl->ncp_bad);
		if (health_bad(hl))
			h(o, "<td class=\"bad\">NO: %s</td></tr>\n", hl->why);
		else
			h(o, "<td class=\"ok\">yes</td></tr>\n");
	}
	h(o, "</table>\n");

	h(o, "<h2>Findings</h2>\n");
	if (R->f.n == 0)
		h(o, "<p>None: every message each party logged is accounted for "
		    "in the other parties' logs.</p>\n");
	else {
		h(o, "<table><tr><th>status</th><th>between</th><th>message</th>"
		    "<th>what</th><th>age</th></tr>\n");
		for (i = 0; i < R->f.n; i++) {
			f = &R->f.f[i];
			ferry_hex(id, f->id, 16);
			h(o, "<tr class=\"%s\"><td>%s</td><td>%s and %s</td><td "
			    "class=\"id\">%s</td><td>%s</td><td>%s</td></tr>\n",
			    f->missing ? "red" : "amber", f->missing ? "MISSING" :
			    "in flight", R->p[R->fpair[i] / MAX_PARTIES].self,
			    R->p[R->fpair[i] % MAX_PARTIES].self, f->has_id ? id :
			    "", f->what, !f->missing && f->since ? audit_age(a1,
			    sizeof(a1), R->now - f->since) : "");
		}
		h(o, "</table>\n");
	}

	h(o, "<h2>Messages per day per sending agency</h2>\n");
	chart_per_day(o, R);
	h(o, "<h2>Delivery latency (sent to received)</h2>\n");
	chart_latency(o, R);

	h(o, "<h2>Messages</h2>\n<p>%zu messages. sent: the sender logged it; "
	    "custody: the relay logged it (ACCEPTED); relay: the relay that "
	    "carried it (its log shows the delivery, else the sender's last "
	    "choice), and when the sender chose more than one, each in turn "
	    "with why; received: the recipient "
	    "logged it; receipt: the sender holds the recipient's signed "
	    "receipt; answered: a reply was sent. Red: missing somewhere; amber:"
	    " in flight.</p>\n<table><tr><th>message</th><th>from</th><th>to"
	    "</th><th>sent</th><th>custody</th><th>relay</th><th>received</th>"
	    "<th>receipt at sender</th><th>answered</th><th>to custody</th><th>"
	    "to recipient</th><th>receipt back</th></tr>\n", R->nu);
	for (i = 0; i < R->nu; i++) {
		u = &R->u[i];
		ferry_hex(id, u->id, 16);
		h(o, "<tr class=\"%s\"><td class=\"id\">%s</td><td>%s</td><td>"
		    "%s</td>", u->red ? "red" : u->amber ? "amber" : "plain", id, u->from != UINT32_MAX ? audit_name(u->from) : "?",
		    u->to != UINT32_MAX ? audit_name(u->to) : "?");
		h(o, "<td>%s</td>", tm(t, sizeof(t), u->sent));
		h(o, "<td>%s</td>", tm(t, sizeof(t), u->custody));
		html_relay(o, u);
		h(o, "<td>%s</td>", tm(t, sizeof(t), u->received));
		h(o, "<td>%s%s</td>", tm(t, sizeof(t), u->receipt), u->nack ?
		    " (refused: NACK)" : u->expired ? " (expired)" : "");
		h(o, "<td>%s</td>", u->answered_idx >= 0 ? tm(t, sizeof(t),
		    R->u[u->answered_idx].sent) : "—");
		h(o, "<td>%s</td><td>%s</td><td>%s</td></tr>\n", lat(a1,
		    sizeof(a1), u->sent, u->custody), lat(a2, sizeof(a2), u->sent,
		    u->received), lat(a3, sizeof(a3), u->sent, u->receipt));
	}
	h(o, "</table>\n");
	html_rosters(o, R);
	html_erasures(o, R);
	h(o, "<p>ferry-audit report; checkpoints are each log's signed tree "
	    "heads: a party holds the others' in the receipts it logs (see "
	    "docs/audit.md).</p>\n</body></html>\n");
}

/* ---- JSON --------------------------------------------------------------- */

static json_t *
jtime(uint64_t ms)
{
	char t[32];

	return (ms ? json_string(ferry_utc(t, sizeof(t), ms)) : json_null());
}

/* "relay" (the carrier or null), "custody_receipt_by" (the latest signer
 * or null), "custody_receipts_by" (every signer, in log order), "routes". */
static void
json_relay(json_t *x, const struct urec *u)
{
	const char *c = carrier(u);
	json_t *a;
	size_t k;

	json_object_set_new(x, "relay", c != NULL ? json_string(c) :
	    json_null());
	json_object_set_new(x, "custody_receipt_by", u->ncustody_by > 0 ?
	    json_string(audit_name(u->custody_by[u->ncustody_by - 1])) :
	    json_null());
	a = json_array();
	for (k = 0; k < u->ncustody_by; k++)
		json_array_append_new(a, json_string(audit_name(
		    u->custody_by[k])));
	json_object_set_new(x, "custody_receipts_by", a);
	a = json_array();
	for (k = 0; k < u->nroutes; k++)
		json_array_append_new(a, json_pack("{s:s,s:s}", "relay",
		    audit_name(u->route[k]), "reason", audit_route_reason(
		    u->route_code[k])));
	json_object_set_new(x, "routes", a);
}

static json_t *
json_report(struct rep *R)
{
	json_t *o, *a, *x;
	struct event *e;
	size_t i, j;
	char id[33], hx[65];

	o = json_object();
	json_object_set_new(o, "written", jtime(R->now));
	a = json_array();
	for (i = 0; i < R->np; i++) {
		x = json_pack("{s:s,s:s?,s:b,s:b}", "dir", R->p[i].dir, "agency",
		    R->p[i].self, "relay", R->p[i].relay, "holds",
		    !health_bad(&R->h[i]));
		if (R->h[i].open) {
			json_object_set_new(x, "entries",
			    json_integer((json_int_t)R->p[i].size));
			json_object_set_new(x, "messages",
			    json_integer((json_int_t)R->p[i].t.n));
			json_object_set_new(x, "checkpoints",
			    json_integer((json_int_t)R->h[i].ncp));
			json_object_set_new(x, "checkpoints_bad",
			    json_integer((json_int_t)R->h[i].ncp_bad));
			json_object_set_new(x, "first", jtime(R->h[i].t_first));
			json_object_set_new(x, "last", jtime(R->h[i].t_last));
		}
		if (R->h[i].why[0] != '\0')
			json_object_set_new(x, "problem",
			    json_string(R->h[i].why));
		json_array_append_new(a, x);
	}
	json_object_set_new(o, "parties", a);
	a = json_array();
	for (i = 0; i < R->f.n; i++) {
		ferry_hex(id, R->f.f[i].id, 16);
		x = json_pack("{s:s,s:[s,s],s:s}", "status", R->f.f[i].missing ?
		    "missing" : "in flight", "between",
		    R->p[R->fpair[i] / MAX_PARTIES].self,
		    R->p[R->fpair[i] % MAX_PARTIES].self, "what",
		    R->f.f[i].what);
		if (R->f.f[i].has_id)
			json_object_set_new(x, "msg_id", json_string(id));
		if (!R->f.f[i].missing && R->f.f[i].since)
			json_object_set_new(x, "since", jtime(R->f.f[i].since));
		json_array_append_new(a, x);
	}
	json_object_set_new(o, "findings", a);
	a = json_array();
	for (i = 0; i < R->nu; i++) {
		struct urec *u = &R->u[i];

		ferry_hex(id, u->id, 16);
		x = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:b,s:b}",
		    "msg_id", id, "from", u->from != UINT32_MAX ?
		    audit_name(u->from) : "", "to", u->to != UINT32_MAX ?
		    audit_name(u->to) : "", "sent", jtime(u->sent), "custody",
		    jtime(u->custody), "received", jtime(u->received),
		    "receipt_at_sender", jtime(u->receipt), "answered",
		    u->answered_idx >= 0 ? jtime(R->u[u->answered_idx].sent) :
		    json_null(), "missing", u->red, "in_flight", u->amber);
		if (u->sent && u->received >= u->sent)
			json_object_set_new(x, "latency_ms", json_integer(
			    (json_int_t)(u->received - u->sent)));
		json_relay(x, u);
		json_array_append_new(a, x);
	}
	json_object_set_new(o, "messages", a);
	a = json_array();
	for (i = 0; i < R->np; i++)
		for (j = 0; j < R->p[i].nev; j++) {
			e = &R->p[i].ev[j];
			ferry_hex(id, e->msg_id, 16);
			ferry_hex(hx, e->hash, 32);
			if (e->kind == LOG_ROSTER)
				x = json_pack("{s:s,s:s,s:I,s:o,s:s}", "kind",
				    "roster", "party", R->p[i].self, "version",
				    (json_int_t)e->version, "at", jtime(e->time),
				    "hash", hx);
			else
				x = json_pack("{s:s,s:s,s:s,s:o,s:s,s:i,s:s}",
				    "kind", "erasure", "party", R->p[i].self,
				    "msg_id", id, "at", jtime(e->time), "reason",
				    erase_reason(e->code), "reason_code",
				    (int)e->code, "authorised_by",
				    audit_name(e->from));
			json_array_append_new(a, x);
		}
	json_object_set_new(o, "events", a);
	json_object_set_new(o, "ok", json_boolean(R->nred == 0));
	return (o);
}

/* "carried by relay-a 12, relay-b 30" when any message has a known carrier. */
static void
print_carriers(struct rep *R)
{
	const char *name[AUDIT_RELAYS_MAX], *c;
	size_t n[AUDIT_RELAYS_MAX], nn = 0, i, k;

	for (i = 0; i < R->nu; i++) {
		if ((c = carrier(&R->u[i])) == NULL)
			continue;
		for (k = 0; k < nn && strcmp(name[k], c) != 0; k++)
			;
		if (k == nn && nn == AUDIT_RELAYS_MAX)
			continue;
		if (k == nn) {
			name[nn] = c;
			n[nn++] = 0;
		}
		n[k]++;
	}
	for (k = 0; k < nn; k++)
		printf("%s%s %zu%s", k ? ", " : "carried by: ", name[k], n[k],
		    k + 1 == nn ? "\n" : "");
}

int
cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "html", required_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ "roster", required_argument, NULL, 'r' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct rep *R;
	struct pairsum s;
	const char *hfile = NULL, *rfiles[MAX_ROSTERS];
	size_t i, j, k, before;
	json_t *out;
	FILE *o;
	int fd = -1;
	int ch, json = 0, ret = 1;

	if ((R = calloc(1, sizeof(*R))) == NULL)
		return (1);
	while ((ch = getopt_long(argc, argv, ":H:jr:", opts, NULL)) != -1) {
		if (ch == 'H')
			hfile = optarg;
		else if (ch == 'j')
			json = 1;
		else if (ch == 'r' && R->nro < MAX_ROSTERS)
			rfiles[R->nro++] = optarg;
		else if (ch == 'r')
			ret = cli_usage("more than %d --roster", MAX_ROSTERS);
		else
			ret = cli_opt_error(ch, argv);
		if (ret != 1)
			goto out;
	}
	if (optind == argc) {
		ret = cli_usage("missing LOGDIR (one or more parties' log "
		    "folders)");
		goto out;
	}
	if (argc - optind > MAX_PARTIES) {
		ret = cli_usage("more than %d LOGDIR", MAX_PARTIES);
		goto out;
	}
	if (audit_load_rosters(rfiles, R->nro, R->ro) != 0)
		goto out;
	qsort(R->ro, R->nro, sizeof(R->ro[0]), audit_roster_cmp);
	R->now = ferry_now_ms();
	for (i = 0; optind + (int)i < argc; i++) {
		if (party_open(&R->p[i], argv[optind + (int)i], NULL, R->ro,
		    R->nro) == 0)
			check_health(&R->p[i], &R->h[i]);
		else {
			snprintf(R->h[i].why, sizeof(R->h[i].why), "the log "
			    "%s", R->p[i].why);
			party_close(&R->p[i]);
			R->p[i].dir = argv[optind + (int)i];
			R->p[i].self = "?";
		}
		if (health_bad(&R->h[i]))
			R->nred++;
	}
	R->np = i;
	for (i = 0, k = 0; i < R->np; i++)
		k += R->h[i].open && R->p[i].relay;
	for (i = 0; i < R->np; i++)
		if (R->p[i].known_relays < k)
			R->p[i].known_relays = k;
	for (i = 0; i < R->np; i++)
		for (j = i + 1; j < R->np; j++) {
			if (!R->h[i].open || !R->h[j].open)
				continue;
			before = R->f.n;
			audit_compare(&R->p[i], &R->p[j], &R->f, &s);
			if ((R->fpair = realloc(R->fpair, (R->f.cap + 1) *
			    sizeof(*R->fpair))) == NULL)
				goto out;
			for (k = before; k < R->f.n; k++)
				R->fpair[k] = i * MAX_PARTIES + j;
		}
	R->nred += R->f.nmissing;
	R->namber = R->f.ninflight;
	if (build_messages(R) != 0)
		goto out;
	ret = R->nred > 0;
	if (hfile != NULL) {
		/* Not through a planted symlink; readable by the auditor only. */
		if ((fd = open(hfile, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
		    O_CLOEXEC, 0600)) < 0 || fchmod(fd, 0600) != 0 ||
		    (o = fdopen(fd, "w")) == NULL) {
			if (fd >= 0)
				(void)close(fd);
			fprintf(stderr, "ferry-audit: cannot write %s: %s\n",
			    hfile, strerror(errno));
			ret = 1;
			goto out;
		}
		html(o, R);
		if (fclose(o) != 0) {
			fprintf(stderr, "ferry-audit: writing %s failed: %s\n",
			    hfile, strerror(errno));
			ret = 1;
			goto out;
		}
	}
	if (json) {
		out = json_report(R);
		if (out == NULL || json_dumpf(out, stdout, JSON_INDENT(2)) != 0)
			ret = 1;
		putchar('\n');
		json_decref(out);
		goto out;
	}
	for (i = 0; i < R->np; i++)
		printf("%-16s %-6s %s: %s\n", R->p[i].self, R->p[i].relay ?
		    "relay" : "agency", R->p[i].dir, health_bad(&R->h[i]) ?
		    R->h[i].why : "holds together");
	printf("%zu messages; %zu missing, %zu in flight\n", R->nu,
	    R->f.nmissing, R->f.ninflight);
	print_carriers(R);
	if (hfile != NULL)
		printf("report written to %s\n", hfile);
	printf("%s\n", R->nred == 0 ? "OK" : "FAILED: findings in red");
out:
	for (i = 0; i < R->np; i++)
		party_close(&R->p[i]);
	for (i = 0; i < R->nro; i++)
		roster_free(R->ro[i]);
	findings_free(&R->f);
	free(R->fpair);
	free(R->u);
	msgtab_free(&R->idx);
	free(R);
	return (ret);
}
