/*
 * store_names.c: the names of kinds and states, as every backend stores
 * them and as the control tool shows them (store.h).  Apart from store.c
 * so that a program that only names them (`streamgate`) links no backend.
 */
#include <string.h>

#include "store.h"

static const char *const kind_names[STORE_NKINDS] = {
	[STORE_PUSH] = "push",
	[STORE_BEFORE_MESSAGE_SEND] = "before_message_send",
	[STORE_CUSTOM_COMMAND] = "custom_command",
};

static const char *const state_names[STORE_NSTATES] = {
	[STORE_KEPT] = "kept",
	[STORE_PENDING] = "pending",
	[STORE_DELIVERED] = "delivered",
	[STORE_DEAD] = "dead",
};

const char *
store_kind_name(enum store_kind k)
{
	if ((unsigned)k < STORE_NKINDS)
		return kind_names[k];
	return "push";
}

const char *
store_state_name(enum store_state st)
{
	if ((unsigned)st < STORE_NSTATES)
		return state_names[st];
	return "kept";
}

/* The index of name in names[n], or -1 (NULL is no name). */
static int
name_index(const char *const *names, int n, const char *name)
{
	int i;

	for (i = 0; name != NULL && i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

int
store_kind_parse(const char *name, enum store_kind *k)
{
	int i;

	if ((i = name_index(kind_names, STORE_NKINDS, name)) < 0)
		return -1;
	*k = (enum store_kind)i;
	return 0;
}

int
store_state_parse(const char *name, enum store_state *st)
{
	int i;

	if ((i = name_index(state_names, STORE_NSTATES, name)) < 0)
		return -1;
	*st = (enum store_state)i;
	return 0;
}
