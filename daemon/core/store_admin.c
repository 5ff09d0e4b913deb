/*
 * store_admin.c: the control tool's store (store_admin.h), by the URI's
 * scheme.  Only SQLite has this side: a Redis store is shared by a fleet
 * and read with redis-cli, so this says where its events are.  Nothing
 * here names a backend's writer, so the control tool links neither the
 * writer threads nor hiredis.
 */
#include <string.h>

#include "log.h"
#include "store_admin.h"
#include "store_sqlite_admin.h"

enum store_admin_status
store_admin_open(struct store_admin **ap, const char *uri,
    enum store_admin_mode mode, char *err, size_t errlen)
{
	*ap = NULL;
	if (strncmp(uri, "redis://", 8) == 0) {
		/* the URI is not repeated: it may carry a password */
		log_errbuf(err, errlen, "a redis:// store cannot be read here "
		    "(only sqlite:PATH): with Redis the events are in the "
		    "stream <prefix>:events (default streamgate:events); read "
		    "it with redis-cli XRANGE, and our consumer group with "
		    "XPENDING");
		return STORE_ADMIN_UNSUPPORTED;
	}
	if (strncmp(uri, "sqlite:", 7) != 0 || uri[7] == '\0') {
		log_errbuf(err, errlen, "'%s' is not sqlite:PATH (only the "
		    "SQLite store can be read)", uri);
		return STORE_ADMIN_UNSUPPORTED;
	}
	return store_sqlite_admin_open(ap, uri, mode, err, errlen);
}
