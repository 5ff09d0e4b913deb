/*
 * jsonfile.c: reading and parsing the hand-written JSON files.
 *
 * cJSON keeps no positions and hands strings back NUL-terminated, so the
 * raw text is scanned here for what cJSON cannot report: where an error
 * is, and NULs that would cut a string short.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jsonfile.h"
#include "log.h"

static int
read_all(const char *path, size_t max, char **buf, size_t *len)
{
	size_t cap = 0, n = 0, r;
	char *p = NULL, *np;
	FILE *fp;
	int saved;

	/* Grown as it fills, not sized by stat: pipes work too. */
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	for (;;) {
		if (n == cap) {
			cap = cap == 0 ? 65536 : cap * 2;
			if (cap > max + 1)
				cap = max + 1;
			if ((np = realloc(p, cap)) == NULL)
				goto fail;
			p = np;
		}
		r = fread(p + n, 1, cap - n, fp);
		n += r;
		if (n > max) {
			errno = EFBIG;
			goto fail;
		}
		if (r == 0)
			break;
	}
	if (ferror(fp))
		goto fail;
	fclose(fp);
	*buf = p;
	*len = n;
	return 0;
 fail:
	saved = errno;
	free(p);
	fclose(fp);
	errno = saved;
	return -1;
}

int
jsonfile_read(const char *path, size_t max, char **buf, size_t *len,
    char *err, size_t errlen)
{
	if (read_all(path, max, buf, len) == 0)
		return 0;
	if (errno != EFBIG)
		log_errbuf(err, errlen, "%s: %s", path, strerror(errno));
	else if (max % (1u << 20) == 0)
		log_errbuf(err, errlen, "%s: larger than %zu MiB", path,
		    max >> 20);
	else
		log_errbuf(err, errlen, "%s: larger than %zu KiB", path,
		    max >> 10);
	return -1;
}

size_t
jsonfile_line(const char *text, size_t off)
{
	size_t i, line = 1;

	for (i = 0; i < off; i++)
		if (text[i] == '\n')
			line++;
	return line;
}

/* Whitespace as cJSON skips it: every byte up to and including ' '. */
size_t
jsonfile_skip_ws(const char *text, size_t len, size_t off)
{
	while (off < len && (unsigned char)text[off] <= ' ')
		off++;
	return off;
}

/* Non-printable bytes become '?': input cannot write escape sequences. */
const char *
jsonfile_quote(char dst[JSONFILE_QUOTE_LEN], const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && i < JSONFILE_QUOTE_MAX; i++)
		dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (i < len) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
	return dst;
}

/*
 * A NUL byte or "\u0000" would silently cut "1.2.3.4\u0000junk" down to a
 * valid-looking prefix.  Returns the offset of the first one, or len.
 */
static size_t
nul_offset(const char *s, size_t len)
{
	size_t i;
	int instr = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\0')
			return i;
		if (!instr)
			instr = s[i] == '"';
		else if (s[i] == '"')
			instr = 0;
		else if (s[i] == '\\') {
			if (len - i >= 6 && memcmp(s + i, "\\u0000", 6) == 0)
				return i;
			i++;	/* the escaped byte cannot end the string */
		}
	}
	return len;
}

/*
 * cJSON up to 1.7.17 may read a byte past the end of an unterminated
 * string; parsing a NUL-padded copy keeps that inside our buffer whatever
 * the caller passed.
 */
enum jsonfile_result
jsonfile_parse(const char *text, size_t len, cJSON **root, size_t *off)
{
	const char *end = NULL;
	char *copy;

	*root = NULL;
	if ((*off = nul_offset(text, len)) < len)
		return JSONFILE_NUL;
	if ((*off = jsonfile_skip_ws(text, len, 0)) == len)
		return JSONFILE_EMPTY;
	if ((copy = calloc(1, len + 4)) == NULL)
		return JSONFILE_NOMEM;
	memcpy(copy, text, len);
	*root = cJSON_ParseWithLengthOpts(copy, len, &end, 0);
	*off = end != NULL && end >= copy ? (size_t)(end - copy) : 0;
	free(copy);
	if (*off > len)
		*off = len;
	if (*root == NULL)
		return JSONFILE_SYNTAX;
	if ((*off = jsonfile_skip_ws(text, len, *off)) < len) {
		cJSON_Delete(*root);
		*root = NULL;
		return JSONFILE_TRAILING;
	}
	return JSONFILE_OK;
}

cJSON *
jsonfile_parse_err(const char *text, size_t len, char *err, size_t errlen)
{
	static const char *why[] = {
		[JSONFILE_NUL] = "NUL byte in input",
		[JSONFILE_EMPTY] = "empty input",
		[JSONFILE_SYNTAX] = "JSON syntax error",
		[JSONFILE_TRAILING] = "JSON syntax error: trailing data after "
		    "the JSON value",
	};
	enum jsonfile_result r;
	cJSON *root;
	size_t off;

	if ((r = jsonfile_parse(text, len, &root, &off)) == JSONFILE_OK)
		return root;
	if (r == JSONFILE_NOMEM)
		log_errbuf(err, errlen, "out of memory");
	else if (r == JSONFILE_EMPTY)
		log_errbuf(err, errlen, "line 1: %s", why[r]);
	else
		log_errbuf(err, errlen, "line %zu: %s", jsonfile_line(text,
		    off), r == JSONFILE_NUL && text[off] != '\0' ?
		    "\\u0000 in a string" : why[r]);
	return NULL;
}

int
jsonfile_load(const char *path, size_t max, jsonfile_parser parse, void *arg,
    char *err, size_t errlen)
{
	char why[1024];
	size_t len;
	char *buf;
	int rc;

	if (jsonfile_read(path, max, &buf, &len, err, errlen) == -1)
		return -1;
	rc = parse(buf, len, arg, why, sizeof(why));
	free(buf);
	if (rc == -1)
		log_errbuf(err, errlen, "%s: %s", path, why);
	return rc;
}
