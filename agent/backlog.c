/*
 * backlog.c: the agent's backlog per recipient (backlog.h): a count and
 * a queue of (id, time) per recipient, the oldest found at the head.
 */
#include <stdlib.h>
#include <string.h>

#include "backlog.h"

struct bl_item {
	uint8_t id[FERRY_MSGID_LEN];
	uint64_t t;
};

struct bl_rcpt {
	char to[FERRY_ID_MAX + 1];
	uint64_t n;			/* undelivered */
	struct bl_item *q;		/* in order of queuing; head at q[h] */
	size_t h, len, cap;
	int said;			/* over the bound: said once */
};

struct backlog {
	backlog_live_fn *live;
	void *ctx;
	struct bl_rcpt *r;
	size_t n, cap;
	int loaded;			/* backlog_loaded called: trim */
};

/** backlog_new(live, ctx): an empty table asking ${live}(${ctx}, id), or NULL (out of memory). */
struct backlog *
backlog_new(backlog_live_fn *live, void *ctx)
{
	struct backlog *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return (NULL);
	b->live = live;
	b->ctx = ctx;
	return (b);
}

/** backlog_free(b): free ${b}; NULL is a no-op. */
void
backlog_free(struct backlog *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
		free(b->r[i].q);
	free(b->r);
	free(b);
}

/* Recipient ${to}'s entry, added if ${add} (NULL: none, or no memory). */
static struct bl_rcpt *
find(struct backlog *b, const char *to, int add)
{
	struct bl_rcpt *p;
	size_t i, l = strlen(to);

	for (i = 0; i < b->n; i++)
		if (strcmp(b->r[i].to, to) == 0)
			return (&b->r[i]);
	if (!add || l > FERRY_ID_MAX)
		return (NULL);
	if (b->n == b->cap) {
		if ((p = realloc(b->r, (b->cap ? b->cap * 2 : 8) *
		    sizeof(*p))) == NULL)
			return (NULL);
		b->r = p;
		b->cap = b->cap ? b->cap * 2 : 8;
	}
	p = &b->r[b->n++];
	memset(p, 0, sizeof(*p));
	memcpy(p->to, to, l + 1);
	return (p);
}

/*
 * Drop the delivered entries at the head of ${p}'s queue; when delivered
 * entries behind an undelivered head outnumber the undelivered ones
 * (by more than a little), drop them all, keeping the order.  Each
 * entry is dropped once; a compaction walks at most twice the entries
 * it keeps plus the ones it drops: amortised O(1) per message.
 */
static void
trim(struct backlog *b, struct bl_rcpt *p)
{
	size_t i, k;

	if (!b->loaded)
		return;
	while (p->h < p->len && !b->live(b->ctx, p->q[p->h].id))
		p->h++;
	if (p->h == p->len) {
		p->h = p->len = 0;
		return;
	}
	if (p->len - p->h > 2 * p->n + 64) {
		for (i = p->h, k = 0; i < p->len; i++)
			if (b->live(b->ctx, p->q[i].id))
				p->q[k++] = p->q[i];
		p->h = 0;
		p->len = k;
	} else if (p->h > p->len / 2) {
		memmove(p->q, p->q + p->h, (p->len - p->h) * sizeof(*p->q));
		p->len -= p->h;
		p->h = 0;
	}
}

/** backlog_add(b, to, id, t): message ${id} to ${to}, queued at ${t}, is undelivered. */
int
backlog_add(struct backlog *b, const char *to,
    const uint8_t id[FERRY_MSGID_LEN], uint64_t t)
{
	struct bl_rcpt *p;
	struct bl_item *q;
	size_t cap;

	if ((p = find(b, to, 1)) == NULL)
		return (FERRY_ENOMEM);
	p->n++;
	if (p->len == p->cap) {
		trim(b, p);
		if (p->len == p->cap) {
			cap = p->cap ? p->cap * 2 : 16;
			if ((q = realloc(p->q, cap * sizeof(*q))) == NULL)
				return (FERRY_ENOMEM);
			p->q = q;
			p->cap = cap;
		}
	}
	memcpy(p->q[p->len].id, id, FERRY_MSGID_LEN);
	p->q[p->len++].t = t;
	return (0);
}

/** backlog_done(b, to): one message to ${to} was delivered or failed. */
void
backlog_done(struct backlog *b, const char *to)
{
	struct bl_rcpt *p;

	if ((p = find(b, to, 0)) == NULL || p->n == 0)
		return;
	if (--p->n == 0)
		p->h = p->len = 0;	/* nothing undelivered: all dropped */
}

static int
by_time(const void *x, const void *y)
{
	const struct bl_item *a = x, *c = y;

	return (a->t < c->t ? -1 : a->t > c->t);
}

/** backlog_loaded(b): the adds of a start are done: sort each queue by time. */
void
backlog_loaded(struct backlog *b)
{
	size_t i;

	b->loaded = 1;
	for (i = 0; i < b->n; i++)
		qsort(b->r[i].q + b->r[i].h, b->r[i].len - b->r[i].h,
		    sizeof(struct bl_item), by_time);
}

/* ${p} as a row (its queue's head trimmed first). */
static void
row_of(struct backlog *b, struct bl_rcpt *p, struct backlog_row *row)
{

	trim(b, p);
	memcpy(row->to, p->to, sizeof(row->to));
	row->n = p->n;
	row->oldest_ms = p->n > 0 && p->h < p->len ? p->q[p->h].t : 0;
}

/** backlog_get(b, to, row): ${to}'s backlog into *${row} (n = 0 if none). */
void
backlog_get(struct backlog *b, const char *to, struct backlog_row *row)
{
	struct bl_rcpt *p;

	memset(row, 0, sizeof(*row));
	if ((p = find(b, to, 0)) != NULL)
		row_of(b, p, row);
}

/** backlog_top(b, rows, max): the largest backlogs, largest first. */
size_t
backlog_top(struct backlog *b, struct backlog_row *rows, size_t max)
{
	struct backlog_row r;
	size_t i, j, k = 0;

	for (i = 0; i < b->n && max > 0; i++) {
		if (b->r[i].n == 0)
			continue;
		for (j = k; j > 0 && rows[j - 1].n < b->r[i].n; j--)
			;
		if (j == max)
			continue;
		row_of(b, &b->r[i], &r);
		if (k == max)
			k--;		/* the smallest makes room */
		memmove(rows + j + 1, rows + j, (k - j) * sizeof(*rows));
		rows[j] = r;
		k++;
	}
	return (k);
}

/** backlog_said(b, to, over): 1 when the crossing of the bound is to be said now. */
int
backlog_said(struct backlog *b, const char *to, int over)
{
	struct bl_rcpt *p;

	if ((p = find(b, to, over)) == NULL)
		return (over);
	if (!over || p->said) {
		p->said = over;
		return (0);
	}
	p->said = 1;
	return (1);
}
