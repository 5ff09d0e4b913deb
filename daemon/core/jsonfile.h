/*
 * jsonfile.h: what the hand-written JSON files (the region table, the
 * daemon's config) share: reading the file, refusing what cJSON would
 * silently get wrong, line numbers for errors, and quoting input safely.
 */
#ifndef SG_JSONFILE_H
#define SG_JSONFILE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define JSONFILE_QUOTE_MAX	48	/* input echoed in an error */
#define JSONFILE_QUOTE_LEN	(JSONFILE_QUOTE_MAX + 4)	/* "...", NUL */

/* Why jsonfile_parse refused the text; *off says where. */
enum jsonfile_result {
	JSONFILE_OK = 0,
	JSONFILE_NUL,		/* a NUL byte, or "\u0000" in a string */
	JSONFILE_EMPTY,		/* nothing but whitespace; *off is len */
	JSONFILE_NOMEM,
	JSONFILE_SYNTAX,	/* cJSON stopped at *off */
	JSONFILE_TRAILING,	/* more than whitespace after the value */
};

/*
 * The whole file (or pipe) into a malloc'd *buf, not NUL-terminated.
 * -1 on error, with err = "PATH: reason" ("PATH: larger than 4 MiB" past
 * max bytes, max a whole number of KiB).
 */
int	jsonfile_read(const char *path, size_t max, char **buf, size_t *len,
	    char *err, size_t errlen);

/* A file's parser: 0, or -1 with why in err. */
typedef int (*jsonfile_parser)(const char *text, size_t len, void *arg,
	    char *err, size_t errlen);
/* The file at path (at most max bytes) through parse: its result; its
 * error says "PATH: why". */
int	jsonfile_load(const char *path, size_t max, jsonfile_parser parse,
	    void *arg, char *err, size_t errlen);

/*
 * Parse len bytes (need not be NUL-terminated) into *root.  On refusal
 * *root is NULL and *off the byte the error is at: text[*off] is '\0' for
 * a NUL byte, '\\' for "\u0000".
 */
enum jsonfile_result jsonfile_parse(const char *text, size_t len,
	    cJSON **root, size_t *off);

/* jsonfile_parse with its refusal in words, "line N: why", into err: the
 * root, or NULL. */
cJSON	*jsonfile_parse_err(const char *text, size_t len, char *err,
	    size_t errlen);

/* 1-based line of text[off]. */
size_t	jsonfile_line(const char *text, size_t off);

/* Offset of the first byte from off on that is not whitespace, or len. */
size_t	jsonfile_skip_ws(const char *text, size_t len, size_t off);

/*
 * Copy untrusted input into dst for an error message: at most
 * JSONFILE_QUOTE_MAX bytes then "...", non-printable bytes as '?'.
 * Returns dst.
 */
const char *jsonfile_quote(char dst[JSONFILE_QUOTE_LEN], const char *s,
	    size_t len);

#endif
