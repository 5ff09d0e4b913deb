/* test_secret.c: secret_load on files in a temporary directory; the
 * secret's pages: out of core dumps, zero in a child, wiped on free. */
#include <sys/stat.h>
#include <sys/wait.h>

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

/* The VmFlags of the mapping that holds p, from /proc/self/smaps. */
static int
vm_flags(const void *p, char *flags, size_t len)
{
	char line[512], perms[8];
	unsigned long lo, hi;
	uintptr_t a = (uintptr_t)p;
	int in = 0, found = 0;
	FILE *fp = fopen("/proc/self/smaps", "r");

	if (fp == NULL)
		return -1;
	while (!found && fgets(line, sizeof(line), fp) != NULL) {
		/* a mapping's first line: "lo-hi perms offset dev inode" */
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3)
			in = a >= lo && a < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, len, "%s", line + 8);
			found = 1;
		}
	}
	fclose(fp);
	return found ? 0 : -1;
}

static void
test_pages(void **state)
{
	struct secret s;
	char flags[512];

	(void)state;
	assert_int_equal(secret_from(SECRET_TEXT, strlen(SECRET_TEXT), &s), 0);
	assert_int_equal((uintptr_t)s.bytes % (uintptr_t)sysconf(_SC_PAGESIZE),
	    0);
	assert_int_equal(vm_flags(s.bytes, flags, sizeof(flags)), 0);
	/* dd: left out of core dumps; wf: zero in a forked child */
	if (strstr(flags, " dd") == NULL || strstr(flags, " wf") == NULL)
		fail_msg("VmFlags of the secret's page: %s", flags);
	secret_free(&s);
}

static void
test_fork_sees_zeros(void **state)
{
	struct secret s;
	size_t i, nonzero = 0;
	pid_t pid;
	int st;

	(void)state;
	assert_int_equal(secret_from(SECRET_TEXT, strlen(SECRET_TEXT), &s), 0);
	if ((pid = fork()) == 0) {
		for (i = 0; i < s.len; i++)
			nonzero += s.bytes[i] != 0;
		_exit(nonzero == 0 ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* ours is intact */
	assert_memory_equal(s.bytes, SECRET_TEXT, s.len);
	secret_free(&s);
}

static size_t hook_calls, hook_nonzero;

static void
free_hook(const uint8_t *p, size_t len)
{
	size_t i;

	hook_calls++;
	for (i = 0; i < len; i++)
		hook_nonzero += p[i] != 0;
}

/* Every secret_free (reload, exit) wipes the page before unmapping it. */
static void
test_wiped_on_free(void **state)
{
	struct dir *d = *state;
	struct secret s;
	char err[512];

	hook_calls = hook_nonzero = 0;
	secret_set_free_hook(free_hook);
	assert_int_equal(secret_load(file_puts(d, SECRET_TEXT "\n", 0600), &s,
	    err, sizeof(err)), 0);
	assert_memory_equal(s.bytes, SECRET_TEXT, s.len);
	secret_free(&s);
	secret_free(&s);		/* twice: nothing the second time */
	secret_set_free_hook(NULL);
	assert_int_equal(hook_calls, 1);
	assert_int_equal(hook_nonzero, 0);
	assert_null(s.bytes);
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
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_fork_sees_zeros),
		cmocka_unit_test_setup_teardown(test_wiped_on_free, dir_setup,
		    dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
