/*
 * store_sqlite_admin.h: the SQLite backend of store_admin.h, for
 * store_admin.c, which picks the backend by the URI's scheme.
 */
#ifndef SG_STORE_SQLITE_ADMIN_H
#define SG_STORE_SQLITE_ADMIN_H

#include <stddef.h>

#include "store_admin.h"

/* store_admin_open for "sqlite:PATH" (uri, checked: PATH is not empty). */
enum store_admin_status store_sqlite_admin_open(struct store_admin **ap,
	    const char *uri, enum store_admin_mode mode, char *err,
	    size_t errlen);

#endif
