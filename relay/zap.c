/*
 * zap.c: the ZAP handler (RFC 27) that admits only the transport keys of
 * active roster agencies, and names each connection by its agency id
 * (the User-Id every message then carries).
 *
 * PITFALLS: ZAP fails open when no handler is bound, so zap_start runs
 * before the ROUTER binds and the ROUTER enforces its domain.  The thread
 * answers every request promptly.  It reads an immutable admission table;
 * the main thread swaps in a new one under a mutex (zap_swap) and the old
 * one is freed once no lookup can hold it (lookups copy under the lock).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "relay.h"

struct zap_ent {
	uint8_t pk[32];
	char id[FERRY_ID_MAX + 1];
};

struct zap_table {
	size_t n, cap;
	int sorted;
	struct zap_ent *e;
};

struct zap {
	void *sock;
	pthread_t thr;
	int started;
	pthread_mutex_t mu;
	struct zap_table *table;
	atomic_int stop;
	atomic_int dead;		/* the thread stopped on an error */
	atomic_uint_fast64_t allowed, denied;
};

/** zap_table_new(n): an empty table for ${n} entries. */
struct zap_table *
zap_table_new(size_t n)
{
	struct zap_table *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	if ((t->e = calloc(n ? n : 1, sizeof(t->e[0]))) == NULL) {
		free(t);
		return (NULL);
	}
	t->cap = n ? n : 1;
	return (t);
}

/** zap_table_add(t, curve_pk, id): admit ${curve_pk} as ${id}. */
int
zap_table_add(struct zap_table *t, const uint8_t curve_pk[32], const char *id)
{
	size_t len = strlen(id);

	if (t->n == t->cap || len > FERRY_ID_MAX)
		return (FERRY_EINVAL);
	memcpy(t->e[t->n].pk, curve_pk, 32);
	memcpy(t->e[t->n].id, id, len + 1);
	t->n++;
	t->sorted = 0;
	return (0);
}

/** zap_table_free(t): free ${t}. */
void
zap_table_free(struct zap_table *t)
{

	if (t == NULL)
		return;
	free(t->e);
	free(t);
}

static int
ent_cmp(const void *a, const void *b)
{

	return (memcmp(((const struct zap_ent *)a)->pk,
	    ((const struct zap_ent *)b)->pk, 32));
}

static void
table_sort(struct zap_table *t)
{

	if (t != NULL && !t->sorted) {
		qsort(t->e, t->n, sizeof(t->e[0]), ent_cmp);
		t->sorted = 1;
	}
}

/* Look ${pk} up; copy its id into ${id}.  1 if admitted. */
static int
zap_lookup(struct zap *z, const uint8_t pk[32], char id[FERRY_ID_MAX + 1])
{
	struct zap_ent key, *hit = NULL;
	int ok = 0;

	memcpy(key.pk, pk, 32);
	if (pthread_mutex_lock(&z->mu) != 0)
		return (0);
	if (z->table != NULL && z->table->n > 0)
		hit = bsearch(&key, z->table->e, z->table->n,
		    sizeof(z->table->e[0]), ent_cmp);
	if (hit != NULL) {
		memcpy(id, hit->id, sizeof(hit->id));
		ok = 1;
	}
	pthread_mutex_unlock(&z->mu);
	return (ok);
}

static int
send_frame(void *s, const void *b, size_t n, int more)
{

	return (zmq_send(s, b, n, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0);
}

/* Receive one request (REP strips the delimiter) and answer it. */
static void
zap_handle(struct zap *z)
{
	zmq_msg_t f[8];
	size_t nf = 0, i;
	int more = 1;
	const char *status = "400", *text = "refused";
	char id[FERRY_ID_MAX + 1] = "";
	char hex[17];
	const uint8_t *pk;

	for (i = 0; i < 8; i++)
		zmq_msg_init(&f[i]);
	/* Read every frame; keep the first 8 (a request has 7). */
	while (more) {
		zmq_msg_t tmp;

		if (nf < 8) {
			if (zmq_msg_recv(&f[nf], z->sock, 0) < 0)
				goto done;
			more = zmq_msg_more(&f[nf]);
			nf++;
		} else {
			zmq_msg_init(&tmp);
			if (zmq_msg_recv(&tmp, z->sock, 0) < 0) {
				zmq_msg_close(&tmp);
				goto done;
			}
			more = zmq_msg_more(&tmp);
			zmq_msg_close(&tmp);
		}
	}
	if (nf < 2)
		goto done;	/* cannot even answer: no request id */
	if (nf != 7 || zmq_msg_size(&f[0]) != 3 ||
	    memcmp(zmq_msg_data(&f[0]), "1.0", 3) != 0) {
		status = "500";
		text = "bad request";
	} else if (zmq_msg_size(&f[2]) != 5 ||
	    memcmp(zmq_msg_data(&f[2]), "ferry", 5) != 0) {
		text = "wrong domain";
	} else if (zmq_msg_size(&f[5]) != 5 ||
	    memcmp(zmq_msg_data(&f[5]), "CURVE", 5) != 0 ||
	    zmq_msg_size(&f[6]) != 32) {
		text = "CURVE only";
	} else {
		pk = zmq_msg_data(&f[6]);
		if (zap_lookup(z, pk, id)) {
			status = "200";
			text = "OK";
		} else {
			text = "key not in roster";
		}
		ferry_hex(hex, pk, 8);
		if (id[0] != '\0')
			rlog(RLOG_DEBUG, "zap-allow", "agency=%s key=%s", id, hex);
		else
			rlog(RLOG_WARN, "zap-refuse", "key=%s reason=\"%s\"",
			    hex, text);
	}
	if (status[0] == '2')
		atomic_fetch_add(&z->allowed, 1);
	else
		atomic_fetch_add(&z->denied, 1);
	if (send_frame(z->sock, "1.0", 3, 1) ||
	    send_frame(z->sock, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), 1) ||
	    send_frame(z->sock, status, 3, 1) ||
	    send_frame(z->sock, text, strlen(text), 1) ||
	    send_frame(z->sock, id, status[0] == '2' ? strlen(id) : 0, 1) ||
	    send_frame(z->sock, "", 0, 0))
		rlog(RLOG_ERROR, "zap-send", "err=\"%s\"", zmq_strerror(errno));
done:
	for (i = 0; i < 8; i++)
		zmq_msg_close(&f[i]);
}

static void *
zap_main(void *arg)
{
	struct zap *z = arg;
	zmq_pollitem_t pi;
	int rc;

	while (!atomic_load(&z->stop)) {
		pi.socket = z->sock;
		pi.fd = -1;
		pi.events = ZMQ_POLLIN;
		pi.revents = 0;
		rc = zmq_poll(&pi, 1, 100);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ETERM)
				break;
			/* Handshakes would now stall in silence: say so and
			 * let the main loop stop the relay (review L5). */
			rlog(RLOG_ERROR, "zap-poll", "err=\"%s\"; ZAP thread "
			    "stopping", zmq_strerror(errno));
			atomic_store(&z->dead, 1);
			break;
		}
		if (rc > 0 && (pi.revents & ZMQ_POLLIN))
			zap_handle(z);
	}
	return (NULL);
}

/** zap_start(zctx, table, out): bind the ZAP endpoint and start the thread. */
int
zap_start(void *zctx, struct zap_table *table, struct zap **out)
{
	struct zap *z;
	int linger = 0;

	if ((z = calloc(1, sizeof(*z))) == NULL)
		return (-1);
	if (pthread_mutex_init(&z->mu, NULL) != 0) {
		free(z);
		return (-1);
	}
	table_sort(table);
	z->table = table;
	if ((z->sock = zmq_socket(zctx, ZMQ_REP)) == NULL)
		goto err1;
	if (zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_bind(z->sock, "inproc://zeromq.zap.01")) {
		rlog(RLOG_ERROR, "zap-bind", "err=\"%s\"", zmq_strerror(errno));
		goto err2;
	}
	if (pthread_create(&z->thr, NULL, zap_main, z) != 0)
		goto err2;
	z->started = 1;
	*out = z;
	return (0);
err2:
	zmq_close(z->sock);
err1:
	z->table = NULL;
	pthread_mutex_destroy(&z->mu);
	free(z);
	return (-1);
}

/** zap_alive(z): 0 once the handler thread stopped on an error. */
int
zap_alive(struct zap *z)
{

	return (!atomic_load(&z->dead));
}

/** zap_swap(z, table): replace the admission table; 0 or -1. */
int
zap_swap(struct zap *z, struct zap_table *table)
{
	struct zap_table *old;

	table_sort(table);
	if (pthread_mutex_lock(&z->mu) != 0) {
		zap_table_free(table);
		return (-1);
	}
	old = z->table;
	z->table = table;
	pthread_mutex_unlock(&z->mu);
	zap_table_free(old);
	return (0);
}

/** zap_counts(z, allowed, denied): handshake counters. */
void
zap_counts(struct zap *z, uint64_t *allowed, uint64_t *denied)
{

	*allowed = atomic_load(&z->allowed);
	*denied = atomic_load(&z->denied);
}

/** zap_stop(z): stop the thread and free everything. */
void
zap_stop(struct zap *z)
{

	if (z == NULL)
		return;
	atomic_store(&z->stop, 1);
	if (z->started)
		pthread_join(z->thr, NULL);
	zmq_close(z->sock);
	zap_table_free(z->table);
	pthread_mutex_destroy(&z->mu);
	free(z);
}
