/*
 * jsonarena.c: see jsonarena.h.  Nothing allocated in the arena may outlive
 * jsonarena_end(): copy what must (webhook.c copies the printed message).
 */
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "jsonarena.h"

#define ARENA_SIZE	(256 * 1024)	/* bigger trees spill to malloc */

static __thread char	*arena;
static __thread size_t	 used;
static __thread int	 active;
static __thread int	 spilled;	/* malloc'd since begin */
static int		 installed;	/* cJSON allocates through us */

static void *
arena_malloc(size_t n)
{
	size_t at = (used + 15) & ~(size_t)15;

	if (active && arena != NULL && at + n <= ARENA_SIZE) {
		used = at + n;
		return arena + at;
	}
	spilled |= active;
	return malloc(n);
}

static void
arena_free(void *p)
{
	/* arena memory goes all at once, in jsonarena_end() */
	if (arena != NULL && (char *)p >= arena && (char *)p < arena + ARENA_SIZE)
		return;
	free(p);
}

void
jsonarena_init(void)
{
	cJSON_Hooks hooks = { arena_malloc, arena_free };

	cJSON_InitHooks(&hooks);
	installed = 1;
}

void
jsonarena_begin(void)
{
	if (arena == NULL)
		arena = malloc(ARENA_SIZE);	/* NULL: plain malloc, still correct */
	used = 0;
	active = 1;
	spilled = 0;
}

int
jsonarena_must_free(void)
{
	return !installed || spilled;
}

void
jsonarena_end(void)
{
	active = 0;
	used = 0;
}
