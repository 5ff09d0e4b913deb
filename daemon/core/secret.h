/*
 * secret.h: API secrets, read from files and kept out of core dumps.
 * A secret file holds the secret on its first line (surrounding whitespace
 * trimmed); a file readable or writable by group or others is refused, as is
 * an empty secret.  Secrets live in pages marked MADV_DONTDUMP and
 * MADV_WIPEONFORK and locked when possible, and are wiped with
 * explicit_bzero before release (on reload, once the old configuration's
 * grace is over, and at exit).
 */
#ifndef SG_SECRET_H
#define SG_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define SECRET_MAX	1024	/* bytes of one secret */

struct secret {
	uint8_t	*bytes;		/* in a protected page; not NUL-terminated */
	size_t	 len;
};

/* 0, or -1 with err = "PATH: reason" (never the secret itself). */
int	secret_load(const char *path, struct secret *s, char *err, size_t errlen);
/* A secret from memory (tests, `streamgate sign`). */
int	secret_from(const void *bytes, size_t len, struct secret *s);
void	secret_free(struct secret *s);
/* Tests: called by secret_free with the secret's pages, wiped and not
 * yet unmapped (NULL: none, as in the daemon). */
void	secret_set_free_hook(void (*hook)(const uint8_t *, size_t));

#endif
