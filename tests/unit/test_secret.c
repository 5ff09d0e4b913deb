/* test_secret.c: secret_load on files in a temporary directory. */
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"

#define SECRET_TEXT	"sk_live_Zq8vN3xR7tW2"

struct dir {
	char	path[64];
	char	file[128];
};

static int
dir_setup(void **state)
{
	struct dir *d;

	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/test_secret.XXXXXX");
	if (mkdtemp(d->path) == NULL)
		return -1;
	snprintf(d->file, sizeof(d->file), "%s/secret", d->path);
	*state = d;
	return 0;
}

static int
dir_teardown(void **state)
{
	struct dir *d = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	if (system(cmd) != 0)
		return -1;
	free(d);
	return 0;
}

/* Write len bytes of text to d->file with mode (exactly, umask aside). */
static const char *
file_put(struct dir *d, const char *text, size_t len, mode_t mode)
{
	int fd;

	(void)unlink(d->file);
	fd = open(d->file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return d->file;
}

static const char *
file_puts(struct dir *d, const char *text, mode_t mode)
{
	return file_put(d, text, strlen(text), mode);
}

static void
load_ok(const char *path, const char *want)
{
	struct secret s;
	char err[512] = "";

	assert_int_equal(secret_load(path, &s, err, sizeof(err)), 0);
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.bytes, want, s.len);
	secret_free(&s);
	assert_null(s.bytes);
	assert_int_equal(s.len, 0);
}

/* Refused with a message holding why and never the secret. */
static void
load_bad(const char *path, const char *why)
{
	struct secret s = { (uint8_t *)"x", 1 };
	char err[512] = "";

	assert_int_equal(secret_load(path, &s, err, sizeof(err)), -1);
	assert_null(s.bytes);
	assert_int_equal(s.len, 0);
	if (strstr(err, why) == NULL)
		fail_msg("'%s' does not say '%s'", err, why);
	if (strncmp(err, path, strlen(path)) != 0)
		fail_msg("'%s' does not start with the path", err);
	assert_null(strstr(err, SECRET_TEXT));
	assert_null(strstr(err, "kkkkkkkk"));
}

static void
test_good(void **state)
{
	struct dir *d = *state;

	load_ok(file_puts(d, SECRET_TEXT, 0600), SECRET_TEXT);
	load_ok(file_puts(d, SECRET_TEXT "\n", 0600), SECRET_TEXT);
	load_ok(file_puts(d, "  " SECRET_TEXT " \t \n", 0400), SECRET_TEXT);
	load_ok(file_puts(d, SECRET_TEXT "\r\n", 0600), SECRET_TEXT);
	load_ok(file_puts(d, "\t" SECRET_TEXT "\r\n\r\n", 0600), SECRET_TEXT);
	/* Inner spaces are the secret's own. */
	load_ok(file_puts(d, " a b \n", 0600), "a b");
}

static void
test_first_line(void **state)
{
	struct dir *d = *state;

	load_ok(file_puts(d, SECRET_TEXT "\nsecond\nthird\n", 0600),
	    SECRET_TEXT);
	load_ok(file_puts(d, SECRET_TEXT "\r\n# comment\n", 0600), SECRET_TEXT);
}

static void
test_mode(void **state)
{
	struct dir *d = *state;
	char want[512];

	file_puts(d, SECRET_TEXT "\n", 0640);
	snprintf(want, sizeof(want), "%s: readable by group or others "
	    "(mode 0640): chmod 600 %s", d->file, d->file);
	load_bad(d->file, want);
	load_bad(file_puts(d, SECRET_TEXT, 0604), "readable by group or "
	    "others (mode 0604): chmod 600");
	load_bad(file_puts(d, SECRET_TEXT, 0644), "(mode 0644)");
	load_bad(file_puts(d, SECRET_TEXT, 0620), "writable by group or "
	    "others (mode 0620)");
	load_bad(file_puts(d, SECRET_TEXT, 0601), "(mode 0601)");
}

static void
test_symlink(void **state)
{
	struct dir *d = *state;
	char link[160];

	file_puts(d, SECRET_TEXT, 0600);
	snprintf(link, sizeof(link), "%s/link", d->path);
	assert_int_equal(symlink(d->file, link), 0);
	load_bad(link, "symbolic link");
}

static void
test_not_regular(void **state)
{
	struct dir *d = *state;
	char sub[160], fifo[160];

	snprintf(sub, sizeof(sub), "%s/sub", d->path);
	assert_int_equal(mkdir(sub, 0700), 0);
	load_bad(sub, "not a regular file");
	/* A FIFO must be refused, not waited on. */
	snprintf(fifo, sizeof(fifo), "%s/fifo", d->path);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	load_bad(fifo, "not a regular file");
	load_bad("/dev/null", "not a regular file");
}

static void
test_missing(void **state)
{
	struct dir *d = *state;
	char none[160];

	snprintf(none, sizeof(none), "%s/none", d->path);
	load_bad(none, "No such file");
}

static void
test_empty(void **state)
{
	struct dir *d = *state;

	load_bad(file_puts(d, "", 0600), "empty secret");
	load_bad(file_puts(d, "\n", 0600), "empty secret");
	load_bad(file_puts(d, " \t\r\n", 0600), "empty secret");
	/* The secret must be on the first line. */
	load_bad(file_puts(d, "\n" SECRET_TEXT "\n", 0600), "empty secret");
}

static void
test_long(void **state)
{
	struct dir *d = *state;
	struct secret s;
	char buf[8192], err[512];

	memset(buf, 'k', sizeof(buf));
	/* SECRET_MAX exactly, bare, padded, and before more lines. */
	assert_int_equal(secret_load(file_put(d, buf, SECRET_MAX, 0600), &s,
	    err, sizeof(err)), 0);
	assert_int_equal(s.len, SECRET_MAX);
	secret_free(&s);
	memset(buf, ' ', 400);
	memset(buf + 400 + SECRET_MAX, ' ', 400);
	buf[400 + SECRET_MAX + 400] = '\n';
	assert_int_equal(secret_load(file_put(d, buf, sizeof(buf), 0600), &s,
	    err, sizeof(err)), 0);
	assert_int_equal(s.len, SECRET_MAX);
	secret_free(&s);

	memset(buf, 'k', sizeof(buf));
	load_bad(file_put(d, buf, SECRET_MAX + 1, 0600),
	    "secret longer than 1024 bytes");
	buf[SECRET_MAX + 1] = '\n';
	load_bad(file_put(d, buf, sizeof(buf), 0600),
	    "secret longer than 1024 bytes");
	memset(buf, 'k', sizeof(buf));
	load_bad(file_put(d, buf, sizeof(buf), 0600),
	    "first line longer than 1024 bytes");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_first_line, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_mode, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_symlink, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_not_regular, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_missing, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_empty, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_long, dir_setup,
		    dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
