/*
 * ctlsend.c: the load generator of make bench's end-to-end runs
 * (tests/bench/e2e.py): referrals submitted on agents' control sockets
 * exactly as `ferry send` does (docs/agent.md, "Control socket": frames
 * [empty, {"cmd":"send","to":TO}, document], answered [empty, JSON]),
 * pipelined.  In C, like the peer's clients (../shared/peers/rmq_pub.c),
 * so that the generator's own CPU, on the same cores as the daemons,
 * weighs as little on the figures as the peer's does.  Not installed;
 * never used in production.
 *
 *   ctlsend DOC RATE WINDOW N ENDPOINT=TO [ENDPOINT=TO ...]
 *
 * Sends N copies of the document in file DOC through each ENDPOINT
 * (e.g. ipc://DATA/control) to recipient TO, at most WINDOW unanswered
 * per endpoint, paced to RATE per second over all of them (0: as fast
 * as they answer).  Prints "I MSGID" (I the endpoint's index from 0) per
 * referral accepted.  Exit 0 when every one was accepted; 1 when one was
 * refused (the answer printed on stderr) or an endpoint was silent for
 * 60 s; 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <zmq.h>

#define MAX_EPS 16
#define SILENT_S 60

struct ep {
	void *s;
	char req[160];
	long sent, answered, out;
};

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return ((double)t.tv_sec + (double)t.tv_nsec / 1e9);
}

static int
usage(void)
{

	fprintf(stderr, "usage: ctlsend DOC RATE WINDOW N ENDPOINT=TO "
	    "[ENDPOINT=TO ...]\n");
	return (2);
}

static int
num(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return (errno != 0 || end == s || *end != '\0' || *out < 0 ? -1 : 0);
}

/* Read the whole file ${path} into *${buf}, *${len}. */
static int
slurp(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (*buf = malloc((size_t)n + 1)) ==
	    NULL || fread(*buf, 1, (size_t)n, f) != (size_t)n) {
		if (f != NULL)
			fclose(f);
		return (-1);
	}
	fclose(f);
	*len = (size_t)n;
	return (0);
}

/* One answer from endpoint ${i}: print its id; -1 if refused. */
static int
answer(struct ep *e, int i)
{
	zmq_msg_t m;
	json_t *j;
	const char *id;
	int more, rc = -1;

	/* [empty, JSON] */
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, e->s, 0) < 0)
		return (-1);
	more = zmq_msg_more(&m);
	zmq_msg_close(&m);
	if (!more)
		return (-1);
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, e->s, 0) < 0)
		return (-1);
	j = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, NULL);
	if (j != NULL && json_is_true(json_object_get(j, "ok")) &&
	    (id = json_string_value(json_object_get(j, "msg_id"))) != NULL) {
		printf("%d %s\n", i, id);
		rc = 0;
	} else
		fprintf(stderr, "ctlsend: endpoint %d refused: %.*s\n", i,
		    (int)zmq_msg_size(&m), (const char *)zmq_msg_data(&m));
	json_decref(j);
	zmq_msg_close(&m);
	e->answered++;
	e->out--;
	return (rc);
}

int
main(int argc, char **argv)
{
	struct ep eps[MAX_EPS];
	zmq_pollitem_t pi[MAX_EPS];
	double rate, window, n, t0;
	char *doc;
	size_t dlen;
	void *ctx;
	long total = 0;
	double last = now_s();
	int neps, i, done, rc = 0;

	if (argc < 6 || argc - 5 > MAX_EPS || num(argv[2], &rate) != 0 ||
	    num(argv[3], &window) != 0 || window < 1 || num(argv[4], &n) != 0)
		return (usage());
	if (slurp(argv[1], &doc, &dlen) != 0) {
		fprintf(stderr, "ctlsend: cannot read %s: %s\n", argv[1],
		    strerror(errno));
		return (1);
	}
	if ((ctx = zmq_ctx_new()) == NULL)
		return (1);
	neps = argc - 5;
	for (i = 0; i < neps; i++) {
		char *eq = strrchr(argv[5 + i], '=');
		int linger = 0;

		if (eq == NULL || eq[1] == '\0')
			return (usage());
		*eq = '\0';
		memset(&eps[i], 0, sizeof(eps[i]));
		snprintf(eps[i].req, sizeof(eps[i].req),
		    "{\"cmd\": \"send\", \"to\": \"%s\"}", eq + 1);
		if ((eps[i].s = zmq_socket(ctx, ZMQ_DEALER)) == NULL ||
		    zmq_setsockopt(eps[i].s, ZMQ_LINGER, &linger,
		    sizeof(linger)) != 0 || zmq_connect(eps[i].s,
		    argv[5 + i]) != 0) {
			fprintf(stderr, "ctlsend: %s: %s\n", argv[5 + i],
			    zmq_strerror(errno));
			return (1);
		}
		pi[i].socket = eps[i].s;
		pi[i].events = ZMQ_POLLIN;
	}
	t0 = now_s();
	for (;;) {
		int timeout = 1000;

		/* Send what the window and the pace allow, endpoints in
		 * turn (as e2e.py's send_many did). */
		for (i = 0; i < neps; i++) {
			struct ep *e = &eps[i];

			while (e->sent < (long)n && e->out < (long)window) {
				if (rate > 0 && (double)total >=
				    (now_s() - t0) * rate) {
					timeout = 1;
					break;
				}
				if (zmq_send(e->s, "", 0, ZMQ_SNDMORE) < 0 ||
				    zmq_send(e->s, e->req, strlen(e->req),
				    ZMQ_SNDMORE) < 0 ||
				    zmq_send(e->s, doc, dlen, 0) < 0) {
					fprintf(stderr, "ctlsend: send: %s\n",
					    zmq_strerror(errno));
					return (1);
				}
				e->sent++;
				e->out++;
				total++;
			}
		}
		for (done = 1, i = 0; i < neps; i++)
			if (eps[i].answered < (long)n)
				done = 0;
		if (done)
			break;
		if (zmq_poll(pi, neps, timeout) < 0) {
			fprintf(stderr, "ctlsend: poll: %s\n",
			    zmq_strerror(errno));
			return (1);
		}
		for (i = 0; i < neps; i++) {
			int more = 1;

			while ((pi[i].revents & ZMQ_POLLIN) && more) {
				size_t sz = sizeof(int);
				int ev = 0;

				if (answer(&eps[i], i) != 0)
					rc = 1;
				last = now_s();
				more = zmq_getsockopt(eps[i].s, ZMQ_EVENTS,
				    &ev, &sz) == 0 && (ev & ZMQ_POLLIN);
			}
		}
		if (rc != 0)
			break;
		if (now_s() - last > SILENT_S) {
			fprintf(stderr, "ctlsend: no answer for %d s\n",
			    SILENT_S);
			rc = 1;
			break;
		}
	}
	fflush(stdout);
	for (i = 0; i < neps; i++)
		zmq_close(eps[i].s);
	zmq_ctx_term(ctx);
	free(doc);
	return (rc);
}
