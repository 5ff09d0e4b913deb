/*
 * privsep.c: see privsep.h for the two steps and why there are two.
 *
 * The seccomp filter lists what the running daemon does and nothing else:
 * it serves HTTP on sockets it already holds, writes SQLite files, talks
 * to Redis, the app (TCP, TLS, unix sockets) and the resolver, starts
 * threads, and re-reads its config and secret files on SIGHUP.  Everything
 * else (execve, fork, ptrace, bpf, listen, mount, setuid, keyctl, ...)
 * fails with EPERM, or kills the process under STREAMGATE_SECCOMP_KILL=1,
 * which the tests set so that a call missing from the list shows at once.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/capability.h>
#include <linux/netlink.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"

#define CAPBIT(c)	(1ULL << (c))

/* What setup does between the two steps, when it becomes a user. */
#define SETUP_CAPS	(CAPBIT(CAP_CHOWN) | CAPBIT(CAP_DAC_OVERRIDE) | \
			 CAPBIT(CAP_DAC_READ_SEARCH) | CAPBIT(CAP_FOWNER) | \
			 CAPBIT(CAP_SETUID) | CAPBIT(CAP_SETGID))

int
privsep_caps_limit(uint64_t keep, uint64_t bounding)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	uint64_t p;
	int cap, rc = 0, r;

	/* the bounding set first: dropping from it takes CAP_SETPCAP,
	 * which the capset below may take away */
	for (cap = 0; bounding != PRIVSEP_BOUNDING_ANY && cap < 64; cap++) {
		if (bounding & CAPBIT(cap))
			continue;
		if ((r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) == -1)
			break;			/* past the last capability */
		if (r == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1)
			rc = -1;
	}
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) == -1)
		return -1;
	p = (d[0].permitted | (uint64_t)d[1].permitted << 32) & keep;
	d[0].permitted = d[0].effective = (uint32_t)p;
	d[1].permitted = d[1].effective = (uint32_t)(p >> 32);
	d[0].inheritable = d[1].inheritable = 0;
	if (syscall(SYS_capset, &h, d) == -1)
		return -1;
	return rc;
}

int
privsep_seccomp_kill(void)
{
	const char *v = getenv("STREAMGATE_SECCOMP_KILL");

	return v != NULL && strcmp(v, "1") == 0;
}

/* The lowest port anyone may bind in this network namespace. */
static int
unprivileged_port_start(void)
{
	FILE *fp = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start",
	    "re");
	int port = 1024;

	if (fp != NULL) {
		if (fscanf(fp, "%d", &port) != 1)
			port = 1024;
		fclose(fp);
	}
	return port;
}

static int
listen_port(const struct config_listen *l)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&l->addr;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&l->addr;

	return ntohs(l->addr.ss_family == AF_INET6 ? s6->sin6_port :
	    s4->sin_port);
}

/* Whether a listener (or metrics) still needs CAP_NET_BIND_SERVICE. */
static int
low_port_wanted(const struct config *cfg)
{
	int start = unprivileged_port_start();
	size_t i;

	for (i = 0; i < cfg->nlisten; i++)
		if (listen_port(&cfg->listen[i]) < start)
			return 1;
	return cfg->has_metrics && listen_port(&cfg->metrics) < start;
}

/*
 * "user" in the config, else "streamgate".  A user named that does not
 * exist is refused whoever starts the daemon: it is wrong on this host.
 * Started as root, a missing "streamgate" is refused too: the daemon would
 * stay uid 0, the owner of every root file it can open, and nobody asked
 * for that; "user": "root" (or --user root) says so on purpose.
 */
int
privsep_plan(const struct config *cfg, int root, struct privsep *ps,
    char *err, size_t errlen)
{
	const char *name = cfg->user[0] ? cfg->user : PRIVSEP_DEFAULT_USER;
	struct passwd *pw;

	memset(ps, 0, sizeof(ps[0]));
	ps->kill = privsep_seccomp_kill();
	ps->root = root;
	snprintf(ps->user, sizeof(ps->user), "%s", name);
	if ((pw = getpwnam(name)) == NULL) {
		if (cfg->user[0])
			log_errbuf(err, errlen, "user: no user '%s' on this "
			    "host", name);
		else if (root)
			log_errbuf(err, errlen, "user: no user '%s' on this "
			    "host, and streamgated does not run as root unless "
			    "told: create it (useradd --system "
			    "--no-create-home --shell /usr/sbin/nologin %s), "
			    "name another with \"user\" or --user, or give "
			    "\"user\": \"root\" (--user root) to run as root "
			    "without capabilities", name, name);
		else
			return 0;	/* not root: nobody to become */
		return -1;
	}
	if (root && pw->pw_uid != 0) {
		ps->uid = pw->pw_uid;
		ps->gid = pw->pw_gid;
		ps->switch_user = 1;
	}
	return 0;
}

void
privsep_init(const struct config *cfg, struct privsep *ps)
{
	struct passwd *pw;
	uint64_t keep = 0;
	int sb;

	/* secrets must never reach a core file */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("%s: PR_SET_DUMPABLE", __func__);
	if (ps->root && !ps->switch_user)
		log_warnx("user '%s' is uid 0: running as root without any "
		    "capability", ps->user);
	else if (!ps->root && cfg->user[0] &&
	    ((pw = getpwnam(cfg->user)) == NULL || pw->pw_uid != getuid()))
		log_warnx("user '%s': not started as root: running as uid %u",
		    cfg->user, (unsigned int)getuid());
	if (ps->switch_user)
		keep |= SETUP_CAPS;
	if (low_port_wanted(cfg))
		keep |= CAPBIT(CAP_NET_BIND_SERVICE);
	/* the uid change must empty every thread's sets: no keep-caps,
	 * no setuid fixup turned off */
	sb = ps->switch_user ? prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) : 0;
	if (sb > 0 && prctl(PR_SET_SECUREBITS, 0, 0, 0, 0) == -1)
		fatal("%s: cannot clear securebits %#x", __func__, sb);
	/* a user without CAP_SETPCAP cannot touch the bounding set; it
	 * matters little once no_new_privs is set, and it is said */
	if (privsep_caps_limit(keep, 0) == -1 && ps->root)
		log_warnx("%s: cannot clear the capability bounding set (no "
		    "CAP_SETPCAP); the daemon still ends with no capability",
		    __func__);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("%s: PR_SET_NO_NEW_PRIVS", __func__);
}

/* The SQLite files of base in dir, and nothing else, are in dir. */
static int
dir_only_store(const char *dir, const char *base)
{
	static const char *sfx[] = { "", "-wal", "-shm", "-journal" };
	size_t blen = strlen(base), i;
	struct dirent *de;
	DIR *dp;
	int only = 1;

	if ((dp = opendir(dir)) == NULL)
		return 0;
	while (only && (de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		only = 0;
		for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
			if (strncmp(de->d_name, base, blen) == 0 &&
			    strcmp(de->d_name + blen, sfx[i]) == 0)
				only = 1;
	}
	closedir(dp);
	return only;
}

/* Whether uid/gid may create and remove files in dir. */
static int
dir_writable(const char *dir, uid_t uid, gid_t gid)
{
	struct stat st;

	if (stat(dir, &st) == -1)
		return 0;
	if (st.st_uid == uid)
		return (st.st_mode & S_IWUSR) != 0;
	if (st.st_gid == gid)
		return (st.st_mode & S_IWGRP) != 0;
	return (st.st_mode & S_IWOTH) != 0;
}

/*
 * SQLite opens the database, -wal and -shm as the user from now on, and
 * removes -wal/-shm at its last close: give it those files, and their
 * directory when it holds nothing else (never a shared one like /var or
 * a home directory).  lchown: a symbolic link is not followed anywhere.
 */
static void
store_give(const char *uri, uid_t uid, gid_t gid, const char *user)
{
	static const char *sfx[] = { "", "-wal", "-shm", "-journal" };
	char path[CONFIG_PATH_LEN + 16], d[CONFIG_PATH_LEN], b[CONFIG_PATH_LEN];
	const char *dir, *base;
	size_t i;

	if (strncmp(uri, "sqlite:", 7) != 0)
		return;
	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", uri + 7, sfx[i]);
		if (lchown(path, uid, gid) == -1 && errno != ENOENT)
			log_warn("%s: chown %s", __func__, path);
	}
	snprintf(d, sizeof(d), "%s", uri + 7);
	snprintf(b, sizeof(b), "%s", uri + 7);
	dir = dirname(d);
	base = basename(b);
	if (dir_only_store(dir, base)) {
		if (lchown(dir, uid, gid) == -1)
			log_warn("%s: chown %s", __func__, dir);
	} else if (!dir_writable(dir, uid, gid))
		log_warnx("store: %s holds other files, so it stays its "
		    "owner's, and %s cannot create or remove %s-wal/-shm "
		    "there: give the store a directory of its own", dir,
		    user, base);
}

static void
privsep_become(const struct privsep *ps)
{
	if (setgroups(0, NULL) == -1)
		fatal("%s: setgroups", __func__);
	if (setresgid(ps->gid, ps->gid, ps->gid) == -1)
		fatal("%s: setresgid %u", __func__, (unsigned int)ps->gid);
	if (setresuid(ps->uid, ps->uid, ps->uid) == -1)
		fatal("%s: setresuid %u", __func__, (unsigned int)ps->uid);
	/* as OpenBSD daemons do: prove the way back is closed */
	if (setuid(0) != -1 || seteuid(0) != -1)
		fatalx("%s: could become root again", __func__);
}

void
privsep_drop(const struct privsep *ps, const char *store)
{
	if (ps->switch_user) {
		store_give(store, ps->uid, ps->gid, ps->user);
		privsep_become(ps);
	}
	if (privsep_caps_limit(0, PRIVSEP_BOUNDING_ANY) == -1)
		fatal("%s: capset", __func__);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("%s: prctl", __func__);
	if (privsep_seccomp(ps->kill) == -1)
		fatalx("%s: cannot load the seccomp filter", __func__);
	if (ps->switch_user)
		log_info("running as %s (uid %u, gid %u) without capabilities, "
		    "seccomp filter loaded", ps->user, (unsigned int)ps->uid,
		    (unsigned int)ps->gid);
	else
		log_info("running as uid %u without capabilities, seccomp "
		    "filter loaded", (unsigned int)geteuid());
}

/*
 * The calls any of the daemon's threads makes once it serves.  Grouped by
 * who needs them; calls with arguments worth checking are added below.
 */
static const int daemon_calls[] = {
	/* memory, threads, time, signals: glibc, pthreads, the main
	 * thread's sigwait */
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(getrandom), SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigtimedwait), SCMP_SYS(rt_sigaction),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getuid),
	SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(uname),
	/* secrets read on SIGHUP are locked in memory (secret.c) */
	SCMP_SYS(mlock), SCMP_SYS(munlock),
	/* reaping the sysstats helper when it is gone */
	SCMP_SYS(wait4),
	/* descriptors: the event loops, sockets held since setup */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(close), SCMP_SYS(fcntl), SCMP_SYS(epoll_create1),
	SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
	SCMP_SYS(epoll_pwait2), SCMP_SYS(eventfd2), SCMP_SYS(pipe2),
	SCMP_SYS(poll), SCMP_SYS(ppoll),
	/* network: accepting, and the app, Redis and DNS as a client;
	 * bind for getaddrinfo's rtnetlink socket (listen is refused, so
	 * no new listener can come of it) */
	SCMP_SYS(accept4), SCMP_SYS(accept), SCMP_SYS(connect),
	SCMP_SYS(shutdown),
	SCMP_SYS(bind), SCMP_SYS(getsockname), SCMP_SYS(getpeername),
	SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(sendto),
	SCMP_SYS(recvfrom), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmmsg), SCMP_SYS(recvmmsg),
	/* files: SQLite (database, -wal, -shm, temp files), the config,
	 * secret and TLS files on SIGHUP, resolv.conf and the CA bundle */
	SCMP_SYS(openat), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
	SCMP_SYS(statx), SCMP_SYS(lseek), SCMP_SYS(pread64),
	SCMP_SYS(pwrite64), SCMP_SYS(fsync), SCMP_SYS(fdatasync),
	SCMP_SYS(ftruncate), SCMP_SYS(fallocate), SCMP_SYS(unlink),
	SCMP_SYS(unlinkat), SCMP_SYS(access), SCMP_SYS(faccessat),
	SCMP_SYS(faccessat2), SCMP_SYS(getcwd), SCMP_SYS(readlink),
	/* SQLite gives new -wal/-shm files the database's owner when it
	 * runs as uid 0; without CAP_CHOWN that changes nothing */
	SCMP_SYS(fchown),
};

static int
rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned int n,
    const struct scmp_arg_cmp *cmp)
{
	return seccomp_rule_add_array(ctx, action, nr, n, cmp) == 0 ? 0 : -1;
}

/* Calls allowed only with some arguments. */
static int
daemon_calls_args(scmp_filter_ctx ctx)
{
	const struct scmp_arg_cmp noexec = SCMP_A2(SCMP_CMP_MASKED_EQ,
	    PROT_EXEC, 0);
	const struct scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ,
	    CLONE_THREAD, CLONE_THREAD);
	const struct scmp_arg_cmp netlink[2] = {
		SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
		SCMP_A2(SCMP_CMP_EQ, NETLINK_ROUTE),
	};
	static const int family[] = { AF_INET, AF_INET6, AF_UNIX };
	static const unsigned long ioctls[] = { FIONREAD, FIONBIO, TCGETS };
	struct scmp_arg_cmp a;
	size_t i;
	int rc = 0;

	/* no new executable memory: W^X for what a bug could write */
	rc |= rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, &noexec);
	rc |= rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, &noexec);
	/* threads (curl's resolver, the hook thread on reload), never a
	 * process; clone3 hides its flags, so glibc is told it is missing
	 * and falls back to clone */
	rc |= rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, &thread);
	rc |= rule(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL);
	for (i = 0; i < sizeof(family) / sizeof(family[0]); i++) {
		a = SCMP_A0(SCMP_CMP_EQ, family[i]);
		rc |= rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, &a);
	}
	a = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
	rc |= rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, &a);
	/* getaddrinfo asks rtnetlink which address families the host
	 * has; rtnetlink changes nothing without CAP_NET_ADMIN */
	rc |= rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2, netlink);
	/* the resolver sizes a datagram, curl sets non-blocking, stdio
	 * asks whether stderr is a terminal */
	for (i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]); i++) {
		a = SCMP_A1(SCMP_CMP_EQ, ioctls[i]);
		rc |= rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &a);
	}
	/* abort() and raise() signal this process, no other */
	a = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid());
	rc |= rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, &a);
	return rc;
}

int
privsep_filter_load(int kill, int tsync, const int *calls, size_t ncalls,
    int (*args)(scmp_filter_ctx))
{
	scmp_filter_ctx ctx;
	size_t i;
	int rc = 0;

	if ((ctx = seccomp_init(kill ? SCMP_ACT_KILL_PROCESS :
	    SCMP_ACT_ERRNO(EPERM))) == NULL)
		return -1;
	/* tsync: every thread, not only this one; another ABI (i386, x32)
	 * on this x86_64 kernel is never legitimate */
	if ((tsync && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0) ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS) != 0)
		rc = -1;
	for (i = 0; i < ncalls; i++)
		rc |= rule(ctx, SCMP_ACT_ALLOW, calls[i], 0, NULL);
	rc |= args(ctx) != 0 ? -1 : 0;
	if (rc == 0 && seccomp_load(ctx) != 0)
		rc = -1;
	seccomp_release(ctx);
	return rc;
}

int
privsep_seccomp(int kill)
{
	return privsep_filter_load(kill, 1, daemon_calls,
	    sizeof(daemon_calls) / sizeof(daemon_calls[0]), daemon_calls_args);
}
