/*
 * inbox.h: `streamgate inbox`, the events streamgated stored, read from
 * its SQLite store (the schema is in store.h).  The database is opened
 * read-only and never created: in WAL mode a reader never blocks the
 * daemon's writer, so this is safe while the daemon runs.
 */
#ifndef SG_INBOX_H
#define SG_INBOX_H

#include <stdint.h>
#include <stdio.h>

/* The daemon's default store (config_defaults). */
#define INBOX_STORE_DEFAULT	"sqlite:./var/streamgate.db"
#define INBOX_LIMIT_DEFAULT	100
#define INBOX_LIMIT_MAX		1000000

/* A sequence number: decimal digits, 0 to INT64_MAX.  0 or -1. */
int	inbox_seq_parse(const char *s, int64_t *seq);
/* A --limit: 1 to INBOX_LIMIT_MAX.  0 or -1. */
int	inbox_limit_parse(const char *s, unsigned *limit);

/*
 * The events after since, in seq order, at most limit: an aligned table,
 * or a JSON array.  Returns an exit status: 0 done, 1 the store could not
 * be read, 2 the store is not sqlite:PATH.  Errors are logged, naming
 * --store.
 */
int	inbox_list(FILE *fp, const char *store, int64_t since, unsigned limit,
	    int json);
/*
 * One event: its fields, then the body's exact bytes; or a JSON object
 * with the body as a string (valid UTF-8 without NUL) or as base64.
 * Exit status as above; 1 also when there is no such event.
 */
int	inbox_show(FILE *fp, const char *store, int64_t seq, int json);

#endif
