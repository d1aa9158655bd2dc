/*
 * pending.c: the agent's pending table (see pending.h).
 *
 * The messages live in one array, m[0..n-1], in no order (a deletion
 * moves the last one into the hole).  Two indexes hold positions in it:
 *   - slot[]: a hash table of m-index + 1 (0: free) with linear probing,
 *     at most half full; a deletion shifts the run behind it back
 *     (no tombstones, so lookups never slow down with churn);
 *   - heap[k]: for kind k (0 QUEUED, 1 ACCEPTED) a binary min-heap of
 *     m-indexes ordered by next_try; each message keeps its place in its
 *     heap (pos) so that a reschedule or a deletion finds it at once.
 * Every change keeps slot[], heap[] and pos in step with m[].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "astore.h"
#include "pending.h"

#define PENDING_CAP_MIN 64

struct pending {
	struct pending_msg *m;	/* m[0..n-1]; room for cap */
	size_t n, cap;
	size_t *slot;		/* nslot = 2 * cap entries, a power of 2 */
	size_t nslot;
	size_t *heap[2];	/* room for cap each */
	size_t nheap[2];
	uint8_t key[crypto_shorthash_KEYBYTES];
	size_t custody[PENDING_LINKS];	/* ACCEPTED messages per link */
};

/* Message ${m} counts (${d} = 1) or no longer counts (-1) in custody. */
static void
custody_note(struct pending *p, const struct pending_msg *m, int d)
{

	if (m->state != ASTORE_ACCEPTED || m->link < 0 ||
	    m->link >= PENDING_LINKS)
		return;
	if (d > 0)
		p->custody[m->link]++;
	else if (p->custody[m->link] > 0)
		p->custody[m->link]--;
}

/* The heap of messages in ${state}. */
static int
kind(uint32_t state)
{

	return (state == ASTORE_ACCEPTED);
}

/* ---- the hash table ---------------------------------------------------- */

/* Where ${id}'s run starts.  Keyed: ids made to collide cannot cluster. */
static size_t
home(const struct pending *p, const uint8_t id[FERRY_MSGID_LEN])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, id, FERRY_MSGID_LEN, p->key);
	memcpy(&v, h, sizeof(v));
	return ((size_t)v & (p->nslot - 1));
}

/* The slot holding ${id}, or the free slot that ends its run. */
static size_t
slot_of(const struct pending *p, const uint8_t id[FERRY_MSGID_LEN])
{
	size_t s = home(p, id);

	while (p->slot[s] != 0 &&
	    memcmp(p->m[p->slot[s] - 1].msg_id, id, FERRY_MSGID_LEN) != 0)
		s = (s + 1) & (p->nslot - 1);
	return (s);
}

/*
 * Free slot ${s}, then move back each later entry of the run that may
 * stand there (its home is not between the hole and itself), so that
 * every entry stays reachable from its home without gaps.
 */
static void
slot_clear(struct pending *p, size_t s)
{
	size_t mask = p->nslot - 1, j = s, h;

	p->slot[s] = 0;
	for (;;) {
		j = (j + 1) & mask;
		if (p->slot[j] == 0)
			return;
		h = home(p, p->m[p->slot[j] - 1].msg_id);
		if (((j - h) & mask) >= ((j - s) & mask)) {
			p->slot[s] = p->slot[j];
			p->slot[j] = 0;
			s = j;
		}
	}
}

/* ---- the heaps --------------------------------------------------------- */

static void
heap_put(struct pending *p, int k, size_t pos, size_t i)
{

	p->heap[k][pos] = i;
	p->m[i].pos = pos;
}

static int
before(const struct pending *p, size_t i, size_t j)
{

	return (p->m[i].next_try < p->m[j].next_try);
}

static void
sift_up(struct pending *p, int k, size_t pos)
{
	size_t i = p->heap[k][pos], up;

	while (pos > 0) {
		up = (pos - 1) / 2;
		if (!before(p, i, p->heap[k][up]))
			break;
		heap_put(p, k, pos, p->heap[k][up]);
		pos = up;
	}
	heap_put(p, k, pos, i);
}

static void
sift_down(struct pending *p, int k, size_t pos)
{
	size_t i = p->heap[k][pos], n = p->nheap[k], c;

	for (;;) {
		c = 2 * pos + 1;
		if (c >= n)
			break;
		if (c + 1 < n && before(p, p->heap[k][c + 1], p->heap[k][c]))
			c++;
		if (!before(p, p->heap[k][c], i))
			break;
		heap_put(p, k, pos, p->heap[k][c]);
		pos = c;
	}
	heap_put(p, k, pos, i);
}

/* Message m[${i}] moved in time: up or down to its place. */
static void
heap_fix(struct pending *p, int k, size_t i)
{

	sift_up(p, k, p->m[i].pos);
	sift_down(p, k, p->m[i].pos);
}

static void
heap_push(struct pending *p, int k, size_t i)
{

	heap_put(p, k, p->nheap[k]++, i);
	sift_up(p, k, p->m[i].pos);
}

static void
heap_remove(struct pending *p, int k, size_t i)
{
	size_t pos = p->m[i].pos, last = p->heap[k][--p->nheap[k]];

	if (last == i)
		return;
	heap_put(p, k, pos, last);
	heap_fix(p, k, last);
}

/* ---- the table ---------------------------------------------------------- */

/* Room for ${cap} messages: arrays grown, the hash table rebuilt. */
static int
grow(struct pending *p, size_t cap)
{
	struct pending_msg *m;
	size_t *s, *h, i, j;
	int k;

	if (cap > SIZE_MAX / 2 / sizeof(*m))
		return (FERRY_ENOMEM);
	/* A larger array left behind by a later failure does no harm. */
	if ((m = realloc(p->m, cap * sizeof(*m))) == NULL)
		return (FERRY_ENOMEM);
	p->m = m;
	for (k = 0; k < 2; k++) {
		if ((h = realloc(p->heap[k], cap * sizeof(*h))) == NULL)
			return (FERRY_ENOMEM);
		p->heap[k] = h;
	}
	if ((s = calloc(2 * cap, sizeof(*s))) == NULL)
		return (FERRY_ENOMEM);
	free(p->slot);
	p->slot = s;
	p->nslot = 2 * cap;
	p->cap = cap;
	for (i = 0; i < p->n; i++) {
		j = slot_of(p, p->m[i].msg_id);
		p->slot[j] = i + 1;
	}
	return (0);
}

struct pending *
pending_new(void)
{
	struct pending *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (NULL);
	crypto_shorthash_keygen(p->key);
	if (grow(p, PENDING_CAP_MIN) != 0) {
		pending_free(p);
		return (NULL);
	}
	return (p);
}

void
pending_free(struct pending *p)
{

	if (p == NULL)
		return;
	free(p->m);
	free(p->slot);
	free(p->heap[0]);
	free(p->heap[1]);
	free(p);
}

size_t
pending_count(const struct pending *p)
{

	return (p->n);
}

const struct pending_msg *
pending_find(const struct pending *p, const uint8_t id[FERRY_MSGID_LEN])
{
	size_t s = slot_of(p, id);

	return (p->slot[s] != 0 ? &p->m[p->slot[s] - 1] : NULL);
}

int
pending_set(struct pending *p, const uint8_t id[FERRY_MSGID_LEN],
    uint32_t state, uint64_t next_try)
{
	struct pending_msg *m;
	size_t s = slot_of(p, id), i;

	if (p->slot[s] != 0) {
		i = p->slot[s] - 1;
		m = &p->m[i];
		custody_note(p, m, -1);
		if (kind(m->state) != kind(state)) {
			heap_remove(p, kind(m->state), i);
			m->state = state;
			m->next_try = next_try;
			heap_push(p, kind(state), i);
		} else {
			m->state = state;
			m->next_try = next_try;
			heap_fix(p, kind(state), i);
		}
		custody_note(p, m, 1);
		return (0);
	}
	if (p->n == p->cap) {
		if (grow(p, 2 * p->cap) != 0)
			return (FERRY_ENOMEM);
		s = slot_of(p, id);
	}
	i = p->n++;
	m = &p->m[i];
	memcpy(m->msg_id, id, FERRY_MSGID_LEN);
	m->state = state;
	m->attempts = 0;
	m->next_try = next_try;
	m->link = -1;
	m->sent_at = 0;
	p->slot[s] = i + 1;
	heap_push(p, kind(state), i);
	return (0);
}

void
pending_retime(struct pending *p, const struct pending_msg *m,
    uint64_t next_try, uint32_t attempts)
{
	size_t i = (size_t)(m - p->m);

	p->m[i].next_try = next_try;
	p->m[i].attempts = attempts;
	heap_fix(p, kind(p->m[i].state), i);
}

void
pending_del(struct pending *p, const uint8_t id[FERRY_MSGID_LEN])
{
	size_t s = slot_of(p, id), i, last;

	if (p->slot[s] == 0)
		return;
	i = p->slot[s] - 1;
	custody_note(p, &p->m[i], -1);
	heap_remove(p, kind(p->m[i].state), i);
	slot_clear(p, s);
	/* The last message fills the hole: its slot and heap place follow. */
	last = --p->n;
	if (i == last)
		return;
	p->m[i] = p->m[last];
	p->slot[slot_of(p, p->m[i].msg_id)] = i + 1;
	p->heap[kind(p->m[i].state)][p->m[i].pos] = i;
}

const struct pending_msg *
pending_first(const struct pending *p, uint32_t state)
{
	int k = kind(state);

	return (p->nheap[k] > 0 ? &p->m[p->heap[k][0]] : NULL);
}

void
pending_all_due(struct pending *p, uint64_t now)
{
	size_t i;

	/* All times equal: each heap's order holds as it stands. */
	for (i = 0; i < p->n; i++) {
		p->m[i].next_try = now;
		p->m[i].attempts = 0;
	}
}

void
pending_route(struct pending *p, const struct pending_msg *m, int link,
    uint64_t sent_at)
{
	struct pending_msg *w = &p->m[(size_t)(m - p->m)];

	custody_note(p, w, -1);
	w->link = link;
	w->sent_at = sent_at;
	custody_note(p, w, 1);
}

size_t
pending_custody(const struct pending *p, int link)
{

	return (link >= 0 && link < PENDING_LINKS ? p->custody[link] : 0);
}

/* Is link ${i} a better choice than ${j} (pending_choose)? */
static int
link_better(const struct pending_link *i, const struct pending_link *j,
    int how)
{

	if (how == PENDING_CHOOSE_FASTEST) {
		if (i->has_rtt != j->has_rtt)
			return (i->has_rtt);
		if (i->has_rtt && i->rtt_ms != j->rtt_ms)
			return (i->rtt_ms < j->rtt_ms);
	}
	return (i->order < j->order);
}

int
pending_choose(const struct pending_link *l, size_t n, int how, int exclude)
{
	size_t i;
	int best = -1;

	for (i = 0; i < n; i++) {
		if (!l[i].listed || !l[i].up || (int)i == exclude)
			continue;
		if (best < 0 || link_better(&l[i], &l[best], how))
			best = (int)i;
	}
	return (best);
}

int
pending_reroute(const struct pending_msg *m, const struct pending_link *l,
    size_t n, uint64_t now, uint64_t failover_ms, uint64_t resend_ms,
    uint64_t unknown_since)
{
	const struct pending_link *k;
	uint64_t since;

	k = m->link >= 0 && (size_t)m->link < n && l[m->link].listed ?
	    &l[m->link] : NULL;
	if (m->state == ASTORE_QUEUED) {
		if (m->link < 0)
			return (0);
		if (k == NULL || !k->up)
			return (LOG_ROUTE_LINK_LOST);
		if (m->sent_at != 0 && now - m->sent_at >= failover_ms)
			return (LOG_ROUTE_NO_ACCEPT);
		return (0);
	}
	if (m->state != ASTORE_ACCEPTED || (k != NULL && k->up))
		return (0);
	since = k != NULL ? k->down_since : unknown_since;
	if (since != 0 && now >= since && now - since >= resend_ms)
		return (LOG_ROUTE_RESEND);
	return (0);
}
