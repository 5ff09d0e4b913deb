/*
 * order.c: the ordering window (see order.h).
 *
 * Entries are kept by seq in one array (with holes, compacted when it is
 * full), and by order key in a list per key.  The candidates, the entries
 * that order allows to go (no key, or their key's head while none of the
 * key is in flight), are in one of two heaps: "wait", by next_at, until
 * their time comes, then "due", by seq.  order_ready moves what has come
 * due and takes the lowest seqs; every change that makes an entry a
 * candidate or stops it being one (added, landed, done) updates the heaps
 * at once.  So a choice costs O(log n), where a scan of the window cost
 * O(n) on every turn of the worker's loop: with one busy channel that was
 * 16384 entries walked per event sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "order.h"

#define KEY_LEN		sizeof(((struct store_pending *)0)->order_key)

enum { H_NONE, H_WAIT, H_DUE, H_MAX };

struct order_key {
	char			 key[KEY_LEN];
	struct order_entry	*head, *tail;	/* by seq */
	int			 inflight;
	struct order_key	*hnext;
};

struct heap {
	struct order_entry	**v;
	size_t			  n;
};

struct order {
	struct order_entry	**v;		/* by seq, with holes */
	size_t			 n, cap;
	size_t			 live, max;
	struct order_key	**tab;		/* key hash, chained */
	size_t			 nbuckets;
	struct heap		 h[H_MAX];	/* the candidates */
};

/* ---- keys ---- */

static uint32_t
key_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct order_key *
key_get(struct order *o, const char *key, int create)
{
	struct order_key **b = &o->tab[key_hash(key) & (o->nbuckets - 1)], *k;

	for (k = *b; k != NULL; k = k->hnext)
		if (strcmp(k->key, key) == 0)
			return k;
	if (!create || (k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	snprintf(k->key, sizeof(k->key), "%s", key);
	k->hnext = *b;
	*b = k;
	return k;
}

static void
key_drop(struct order *o, struct order_key *k)
{
	struct order_key **b = &o->tab[key_hash(k->key) & (o->nbuckets - 1)];

	while (*b != k)
		b = &(*b)->hnext;
	*b = k->hnext;
	free(k);
}

/* Into its key's list, by seq: nearly always at the tail. */
static void
key_link(struct order_key *k, struct order_entry *e)
{
	struct order_entry **pp;

	e->kq = k;
	if (k->tail == NULL || k->tail->p.seq < e->p.seq) {
		if (k->tail != NULL)
			k->tail->knext = e;
		else
			k->head = e;
		k->tail = e;
		return;
	}
	for (pp = &k->head; (*pp)->p.seq < e->p.seq; pp = &(*pp)->knext)
		;
	e->knext = *pp;
	*pp = e;
}

/* Out of its key's list: the key's head now, NULL when the key went. */
static struct order_entry *
key_unlink(struct order *o, struct order_entry *e)
{
	struct order_key *k = e->kq;
	struct order_entry **pp, *prev = NULL;

	for (pp = &k->head; *pp != e; pp = &(*pp)->knext)
		prev = *pp;
	*pp = e->knext;
	if (k->tail == e)
		k->tail = prev;
	e->kq = NULL;
	if (k->head != NULL)
		return k->head;
	key_drop(o, k);
	return NULL;
}

/* ---- the candidates ---- */

static int
heap_less(int h, const struct order_entry *a, const struct order_entry *b)
{
	if (h == H_WAIT && a->p.next_at != b->p.next_at)
		return a->p.next_at < b->p.next_at;
	return a->p.seq < b->p.seq;
}

static void
heap_set(struct heap *hp, size_t i, struct order_entry *e)
{
	hp->v[i] = e;
	e->hidx = i;
}

static void
heap_up(int h, struct heap *hp, size_t i)
{
	struct order_entry *e = hp->v[i];

	while (i > 0 && heap_less(h, e, hp->v[(i - 1) / 2])) {
		heap_set(hp, i, hp->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(hp, i, e);
}

static void
heap_down(int h, struct heap *hp, size_t i)
{
	struct order_entry *e = hp->v[i];
	size_t c;

	while ((c = 2 * i + 1) < hp->n) {
		if (c + 1 < hp->n && heap_less(h, hp->v[c + 1], hp->v[c]))
			c++;
		if (!heap_less(h, hp->v[c], e))
			break;
		heap_set(hp, i, hp->v[c]);
		i = c;
	}
	heap_set(hp, i, e);
}

/* The heaps have room: candidates are held entries, at most max. */
static void
heap_push(struct order *o, int h, struct order_entry *e)
{
	struct heap *hp = &o->h[h];

	e->heap = h;
	hp->v[hp->n++] = e;
	heap_up(h, hp, hp->n - 1);
}

static void
heap_remove(struct order *o, struct order_entry *e)
{
	struct heap *hp = &o->h[e->heap];
	struct order_entry *last;
	size_t i = e->hidx;
	int h = e->heap;

	e->heap = H_NONE;
	if (i == --hp->n)
		return;
	/* the last one fills the gap, then goes down or up to its place */
	last = hp->v[hp->n];
	heap_set(hp, i, last);
	heap_down(h, hp, i);
	heap_up(h, hp, last->hidx);
}

static int
order_eligible(const struct order_entry *e)
{
	if (e->inflight || e->removed)
		return 0;
	return e->kq == NULL || (e->kq->head == e && e->kq->inflight == 0);
}

/* e became a candidate, or stopped being one: the heaps follow.  A new
 * candidate waits for its time; order_ready sees when it has come. */
static void
candidate(struct order *o, struct order_entry *e)
{
	int want = order_eligible(e);

	if (want && e->heap == H_NONE)
		heap_push(o, H_WAIT, e);
	else if (!want && e->heap != H_NONE)
		heap_remove(o, e);
}

/* ---- the window ---- */

struct order *
order_new(size_t max)
{
	struct order *o = calloc(1, sizeof(*o));
	int h;

	if (o == NULL)
		return NULL;
	o->max = max;
	o->cap = max + max / 4 + 1;	/* room for holes between compactions */
	for (o->nbuckets = 64; o->nbuckets < max; o->nbuckets *= 2)
		;
	o->v = calloc(o->cap, sizeof(*o->v));
	o->tab = calloc(o->nbuckets, sizeof(*o->tab));
	for (h = H_WAIT; h < H_MAX; h++)
		o->h[h].v = calloc(max + 1, sizeof(*o->h[h].v));
	if (o->v == NULL || o->tab == NULL || o->h[H_WAIT].v == NULL ||
	    o->h[H_DUE].v == NULL) {
		order_free(o);
		return NULL;
	}
	return o;
}

void
order_free(struct order *o)
{
	struct order_key *k, *next;
	size_t i;
	int h;

	if (o == NULL)
		return;
	for (i = 0; i < o->n; i++)
		free(o->v[i]);
	for (i = 0; o->tab != NULL && i < o->nbuckets; i++)
		for (k = o->tab[i]; k != NULL; k = next) {
			next = k->hnext;
			free(k);
		}
	for (h = H_WAIT; h < H_MAX; h++)
		free(o->h[h].v);
	free(o->v);
	free(o->tab);
	free(o);
}

/* Drop the holes (never candidates: done entries left the heaps). */
static void
order_compact(struct order *o)
{
	size_t i, w = 0;

	for (i = 0; i < o->n; i++) {
		if (o->v[i]->removed)
			free(o->v[i]);
		else
			o->v[w++] = o->v[i];
	}
	o->n = w;
}

/* The first index whose seq is >= seq. */
static size_t
order_search(const struct order *o, int64_t seq)
{
	size_t lo = 0, hi = o->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (o->v[mid]->p.seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
order_holds(const struct order *o, int64_t seq)
{
	size_t i = order_search(o, seq);

	return i < o->n && o->v[i]->p.seq == seq && !o->v[i]->removed;
}

size_t
order_held(const struct order *o)
{
	return o->live;
}

int
order_add(struct order *o, const struct store_pending *p)
{
	struct order_entry *e;
	struct order_key *k = NULL;
	size_t i;

	if (order_holds(o, p->seq))
		return 0;
	if (o->live >= o->max)
		return -1;
	if (o->n == o->cap)
		order_compact(o);
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -1;
	e->p = *p;
	e->p.order_key[sizeof(e->p.order_key) - 1] = '\0';
	if (e->p.order_key[0] != '\0' &&
	    (k = key_get(o, e->p.order_key, 1)) == NULL) {
		free(e);
		return -1;
	}
	i = order_search(o, p->seq);
	if (i < o->n && o->v[i]->p.seq == p->seq)	/* a hole: reuse */
		free(o->v[i]);
	else {
		memmove(&o->v[i + 1], &o->v[i], (o->n - i) * sizeof(*o->v));
		o->n++;
	}
	o->v[i] = e;
	o->live++;
	if (k != NULL) {
		key_link(k, e);
		/* an older event made pending again takes the head: the
		 * one before is no longer its key's next */
		if (k->head == e && e->knext != NULL)
			candidate(o, e->knext);
	}
	candidate(o, e);
	return 1;
}

size_t
order_ready(struct order *o, int64_t now, struct order_entry **out,
    size_t max, int64_t *next_due)
{
	struct heap *wait = &o->h[H_WAIT], *due = &o->h[H_DUE];
	struct order_entry *e;
	size_t k = 0;

	while (wait->n > 0 && wait->v[0]->p.next_at <= now) {
		e = wait->v[0];
		heap_remove(o, e);
		heap_push(o, H_DUE, e);
	}
	*next_due = wait->n > 0 ? wait->v[0]->p.next_at : INT64_MAX;
	while (k < max && due->n > 0) {
		e = due->v[0];
		heap_remove(o, e);
		e->inflight = 1;
		if (e->kq != NULL)
			e->kq->inflight++;
		out[k++] = e;
	}
	return k;
}

size_t
order_next(const struct order *o, int64_t seq, int64_t *out, size_t max)
{
	size_t i, k = 0;

	for (i = order_search(o, seq + 1); i < o->n && k < max; i++)
		if (!o->v[i]->removed && !o->v[i]->inflight)
			out[k++] = o->v[i]->p.seq;
	return k;
}

static void
order_landed(struct order *o, struct order_entry *e)
{
	if (e->heap != H_NONE)
		heap_remove(o, e);
	if (!e->inflight)
		return;
	e->inflight = 0;
	if (e->kq != NULL)
		e->kq->inflight--;
}

void
order_retry(struct order *o, struct order_entry *e, int tries,
    int64_t next_at)
{
	order_landed(o, e);
	e->p.tries = tries;
	e->p.next_at = next_at;
	/* the key's head: e, or an older one added while e was out */
	candidate(o, e->kq != NULL ? e->kq->head : e);
}

void
order_done(struct order *o, struct order_entry *e)
{
	struct order_entry *head = NULL;

	order_landed(o, e);
	if (e->kq != NULL)
		head = key_unlink(o, e);
	e->removed = 1;
	o->live--;
	if (head != NULL)
		candidate(o, head);
}
