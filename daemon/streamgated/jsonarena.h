/*
 * jsonarena.h: cJSON's allocations for one request come from a per-thread
 * bump arena instead of malloc: a 1.7 KB body is a tree of ~100 nodes, and
 * the allocator was a sixth of the daemon's time under load.  Outside a
 * begin/end pair (and once the arena is full) cJSON uses malloc as usual.
 */
#ifndef SG_JSONARENA_H
#define SG_JSONARENA_H

void	jsonarena_init(void);	/* install the hooks, once, before threads */
void	jsonarena_begin(void);	/* this thread's cJSON calls use the arena */
void	jsonarena_end(void);	/* everything allocated since begin is gone */
/* Whether a tree parsed since begin needs cJSON_Delete (a walk of every
 * node) before jsonarena_end: when part of it came from malloc, or when
 * the hooks were never installed and all of it did. */
int	jsonarena_must_free(void);

#endif
