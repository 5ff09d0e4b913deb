/*
 * store_sqlite_schema.h: the SQLite store's tables (store_sqlite_schema.c).
 * Not for users of the store: they include store.h or store_admin.h.
 * The daemon's backend (store_sqlite.c) has them created or upgraded when
 * it opens the store; the control tool's side (store_sqlite_admin.c)
 * reads their version before it trusts a column.
 */
#ifndef SG_STORE_SQLITE_SCHEMA_H
#define SG_STORE_SQLITE_SCHEMA_H

#include <stddef.h>

#include <sqlite3.h>

/* The user_version of a store made or upgraded here. */
#define STORE_SQLITE_SCHEMA	5

/* PRAGMA user_version into *v: SQLITE_OK, or SQLite's error. */
int	store_sqlite_user_version(sqlite3 *db, int *v);
/* Create the schema, or upgrade an older one, on the writer's connection
 * (WAL already set): 0, or -1 with err naming path. */
int	store_sqlite_schema_init(sqlite3 *db, const char *path, char *err,
	    size_t errlen);

#endif
