/*
 * test_privsep.c: the seccomp filters built by privsep.c (the daemon's)
 * and sysstats.c (the helper's), each loaded in a forked child that then
 * tries what the filter must allow and what it must refuse: EPERM in the
 * production mode, death by SIGSYS in the kill mode the tests run under.
 * And, as root, the helper's capability set.  And who the daemon becomes
 * (privsep_plan): a named user that does not exist is refused, and so is
 * a root start with no user to become unless "user" is "root".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/netlink.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "privsep.h"
#include "sysstats.h"

/* Each check in a child sets one bit of its exit status when it fails. */
static int child_fails, child_bit;

static void
expect(int ok)
{
	if (!ok)
		child_fails |= 1 << child_bit;
	child_bit++;
}

static int
refused(long rc)
{
	int e = errno;

	return rc == -1 && e == EPERM;
}

static int
sock_ok(int family, int type, int proto)
{
	int fd = socket(family, type, proto);

	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

static int thread_ran;

static void *
thread_main(void *arg)
{
	thread_ran = 1;
	return arg;
}

/* Run fn in a child; its exit status (or -signal). */
static int
in_child(void (*fn)(void))
{
	pid_t pid;
	int st;

	fflush(NULL);
	if ((pid = fork()) == 0) {
		child_fails = child_bit = 0;
		fn();
		/* not _exit: ASan's wrapper makes calls the filters refuse */
		syscall(SYS_exit_group, child_fails);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
}

static void
daemon_allows_and_refuses(void)
{
	char *argv[] = { "true", NULL };
	union bpf_attr attr;
	pthread_t t;
	void *p;

	if (privsep_seccomp(0) != 0)
		_exit(99);
	/* what the daemon does */
	expect(sock_ok(AF_INET, SOCK_STREAM, 0));
	expect(sock_ok(AF_INET6, SOCK_DGRAM, 0));
	expect(sock_ok(AF_UNIX, SOCK_STREAM, 0));
	expect(sock_ok(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
	expect(pthread_create(&t, NULL, thread_main, NULL) == 0 &&
	    pthread_join(t, NULL) == 0 && thread_ran);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	expect(p != MAP_FAILED);
	/* what it never does */
	expect(refused(mprotect(p, 4096, PROT_READ | PROT_EXEC)));
	expect(mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0) == MAP_FAILED && errno == EPERM);
	expect(refused(execve("/bin/true", argv, NULL)));
	expect(refused(ptrace(PTRACE_TRACEME, 0, NULL, NULL)));
	expect(refused(fork()));
	expect(refused(setuid(0)));
	expect(refused(listen(0, 1)));
	expect(!sock_ok(AF_PACKET, SOCK_RAW, 0) && errno == EPERM);
	expect(!sock_ok(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER) &&
	    errno == EPERM);
	memset(&attr, 0, sizeof(attr));
	expect(refused(syscall(SYS_bpf, BPF_MAP_LOOKUP_ELEM, &attr,
	    sizeof(attr))));
	expect(syscall(SYS_clone3, NULL, 0) == -1 && errno == ENOSYS);
	expect(refused(syscall(SYS_kill, 1, 0)));
}

static void
test_daemon_filter(void **state)
{
	(void)state;
	assert_int_equal(in_child(daemon_allows_and_refuses), 0);
}

/*
 * What the daemon does once it serves, under the kill mode: resolving a
 * name (getaddrinfo sorts several answers with rtnetlink and UDP
 * connects), SQLite-like file work, threads.  Any call missing from the
 * list ends the child with SIGSYS.
 */
static void
daemon_runs_in_kill_mode(void)
{
	struct addrinfo hints, *res = NULL;
	char path[] = "/tmp/test_privsep.XXXXXX", buf[8];
	pthread_t t;
	int fd;

	if (privsep_seccomp(1) != 0)
		syscall(SYS_exit_group, 99);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	expect(getaddrinfo("localhost", "443", &hints, &res) == 0);
	if (res != NULL)
		freeaddrinfo(res);
	expect((fd = mkstemp(path)) >= 0);
	expect(pwrite(fd, "journal", 7, 0) == 7 && fdatasync(fd) == 0 &&
	    pread(fd, buf, 7, 0) == 7 && ftruncate(fd, 0) == 0);
	expect(fcntl(fd, F_SETLK, &(struct flock){ .l_type = F_WRLCK }) == 0);
	close(fd);
	expect(unlink(path) == 0);
	expect(pthread_create(&t, NULL, thread_main, NULL) == 0 &&
	    pthread_join(t, NULL) == 0 && thread_ran);
}

static void
test_daemon_filter_runs(void **state)
{
	(void)state;
	assert_int_equal(in_child(daemon_runs_in_kill_mode), 0);
}

static int said[2];

/* An allowed call first (the filter works), then a forbidden one. */
static void
daemon_kill_mode(void)
{
	char *argv[] = { "true", NULL };

	if (privsep_seccomp(1) != 0)
		_exit(99);
	if (write(said[1], "ok", 2) != 2)
		_exit(98);
	execve("/bin/true", argv, NULL);
	_exit(97);
}

static void
test_daemon_filter_kills(void **state)
{
	char buf[4] = "";

	(void)state;
	assert_int_equal(pipe(said), 0);
	assert_int_equal(in_child(daemon_kill_mode), -SIGSYS);
	close(said[1]);
	assert_int_equal(read(said[0], buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "ok", 2);
	close(said[0]);
}

static void
helper_allows_and_refuses(void)
{
	char *argv[] = { "true", NULL };
	union bpf_attr attr;

	if (sysstats_seccomp(0) != 0)
		_exit(99);
	expect(sock_ok(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER));
	expect(sock_ok(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
	/* the helper opens no file and talks to nobody but the kernel */
	expect(refused(open("/etc/hostname", O_RDONLY)));
	expect(!sock_ok(AF_INET, SOCK_STREAM, 0) && errno == EPERM);
	expect(!sock_ok(AF_UNIX, SOCK_STREAM, 0) && errno == EPERM);
	expect(refused(connect(0, NULL, 0)));
	memset(&attr, 0, sizeof(attr));
	/* reads maps, never loads, creates or changes anything */
	expect(refused(syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr))));
	expect(refused(syscall(SYS_bpf, BPF_MAP_UPDATE_ELEM, &attr,
	    sizeof(attr))));
	expect(refused(syscall(SYS_bpf, BPF_PROG_GET_FD_BY_ID, &attr,
	    sizeof(attr))));
	expect(syscall(SYS_bpf, BPF_MAP_LOOKUP_ELEM, &attr,
	    sizeof(attr)) == -1 && errno != EPERM);	/* EBADF: allowed */
	expect(refused(execve("/bin/true", argv, NULL)));
	expect(refused(syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0)));
	expect(refused(setuid(1)));
}

static void
test_helper_filter(void **state)
{
	(void)state;
	assert_int_equal(in_child(helper_allows_and_refuses), 0);
}

static void
helper_kill_mode(void)
{
	if (sysstats_seccomp(1) != 0)
		_exit(99);
	if (write(said[1], "ok", 2) != 2)
		_exit(98);
	(void)open("/etc/hostname", O_RDONLY);
	_exit(97);
}

static void
test_helper_filter_kills(void **state)
{
	char buf[4] = "";

	(void)state;
	assert_int_equal(pipe(said), 0);
	assert_int_equal(in_child(helper_kill_mode), -SIGSYS);
	close(said[1]);
	assert_int_equal(read(said[0], buf, sizeof(buf)), 2);
	close(said[0]);
}

/* "CapEff:\t0000000000001000" from /proc/self/status. */
static uint64_t
status_caps(const char *field)
{
	char line[256];
	unsigned long long v = ~0ULL;
	size_t n = strlen(field);
	FILE *fp = fopen("/proc/self/status", "r");

	if (fp == NULL)
		return ~0ULL;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16);
	fclose(fp);
	return v;
}

static void
helper_caps(void)
{
	const uint64_t na = 1ULL << CAP_NET_ADMIN;

	expect(privsep_caps_limit(na, na) == 0);
	expect(status_caps("CapEff") == na);
	expect(status_caps("CapPrm") == na);
	expect(status_caps("CapBnd") == na);
	expect(status_caps("CapInh") == 0);
	expect(status_caps("CapAmb") == 0);
	expect(privsep_caps_limit(0, PRIVSEP_BOUNDING_ANY) == 0);
	expect(status_caps("CapEff") == 0 && status_caps("CapPrm") == 0);
	expect(status_caps("CapBnd") == na);	/* left alone */
}

static void
test_caps_limit(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(in_child(helper_caps), 0);
}

/* A config that names user ("" none). */
static void
plan_cfg(struct config *cfg, const char *user)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->user, sizeof(cfg->user), "%s", user);
}

static void
test_plan(void **state)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct privsep ps;
	struct passwd *pw;
	char err[512], none[64];

	(void)state;
	assert_non_null(cfg);
	snprintf(none, sizeof(none), "sg-nouser-%d", (int)getpid());
	assert_null(getpwnam(none));

	/* a named user that does not exist: refused, root or not */
	plan_cfg(cfg, none);
	assert_int_equal(privsep_plan(cfg, 1, &ps, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "user: no user 'sg-nouser-"));
	assert_int_equal(privsep_plan(cfg, 0, &ps, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "user: no user 'sg-nouser-"));

	/* "root", said: stays uid 0 (no switch), root start or not */
	plan_cfg(cfg, "root");
	assert_int_equal(privsep_plan(cfg, 1, &ps, err, sizeof(err)), 0);
	assert_int_equal(ps.switch_user, 0);
	assert_int_equal(ps.root, 1);
	assert_string_equal(ps.user, "root");

	/* no user at all: as root, only when the default user exists */
	plan_cfg(cfg, "");
	if ((pw = getpwnam(PRIVSEP_DEFAULT_USER)) == NULL) {
		assert_int_equal(privsep_plan(cfg, 1, &ps, err, sizeof(err)),
		    -1);
		assert_non_null(strstr(err, "user: no user '"
		    PRIVSEP_DEFAULT_USER "'"));
		assert_non_null(strstr(err, "useradd --system"));
		assert_non_null(strstr(err, "\"user\": \"root\""));
	} else {
		assert_int_equal(privsep_plan(cfg, 1, &ps, err, sizeof(err)),
		    0);
		assert_int_equal(ps.switch_user, pw->pw_uid != 0);
	}
	/* not root: nobody to become, nothing refused */
	assert_int_equal(privsep_plan(cfg, 0, &ps, err, sizeof(err)), 0);
	assert_int_equal(ps.switch_user, 0);

	/* a real user other than root: switched to, as root only */
	if ((pw = getpwnam("nobody")) != NULL && pw->pw_uid != 0) {
		plan_cfg(cfg, "nobody");
		assert_int_equal(privsep_plan(cfg, 1, &ps, err, sizeof(err)),
		    0);
		assert_int_equal(ps.switch_user, 1);
		assert_int_equal(ps.uid, pw->pw_uid);
		assert_int_equal(privsep_plan(cfg, 0, &ps, err, sizeof(err)),
		    0);
		assert_int_equal(ps.switch_user, 0);
	}
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_daemon_filter),
		cmocka_unit_test(test_daemon_filter_runs),
		cmocka_unit_test(test_daemon_filter_kills),
		cmocka_unit_test(test_helper_filter),
		cmocka_unit_test(test_helper_filter_kills),
		cmocka_unit_test(test_caps_limit),
		cmocka_unit_test(test_plan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
