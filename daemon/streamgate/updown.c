/*
 * updown.c: streamgate up and down (their flags: main.c's table).
 *
 * up runs what `filter attach`, `nft apply` and starting streamgated do, in
 * that order, after every flag and the daemon's configuration have been
 * checked: a usage error changes nothing.  When a step fails, the steps
 * before it are taken back, but only what up itself added: a filter or a
 * table that was there before stays (with what this up wrote into it).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "filter.h"
#include "log.h"
#include "nft.h"
#include "nft_nl.h"
#include "probe.h"
#include "rundir.h"
#include "spec.h"
#include "updown.h"

#define START_WAIT_MS	5000	/* up: until /healthz answers */
#define STOP_WAIT_MS	10000	/* down: after SIGTERM */
#define POLL_MS		100

extern char **environ;

/* How the daemon is started and reached. */
struct daemon_plan {
	int			systemd;	/* else spawned by us */
	char			bin[PATH_MAX];
	char			config[PATH_MAX];
	char			run_dir[PATH_MAX];
	char			pid_file[PATH_MAX + 32];
	char			log[PATH_MAX + 32];
	int			run_fd;		/* the run directory, checked */
	int			log_fd;		/* the log, opened safely */
	struct config_listen	health;
	char			health_path[256];
};

/* What up changed, to take back when a later step fails. */
struct undo {
	int	filter;	/* attached to a device that had none */
	int	pins;	/* no pins before: remove any a failure leaves */
	int	table;		/* made a table that was not there */
};

static void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
path_search(const char *name, char *buf, size_t len)
{
	const char *p = getenv("PATH"), *end;

	if (p == NULL)
		p = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin";
	for (;; p = end + 1) {
		end = strchrnul(p, ':');
		if (end > p) {
			snprintf(buf, len, "%.*s/%s", (int)(end - p), p, name);
			if (access(buf, X_OK) == 0)
				return 0;
		}
		if (*end == '\0')
			return -1;
	}
}

/* Run argv (PATH searched), wait: its exit status, or -1. */
static int
cmd_run(char *const argv[])
{
	pid_t pid;
	int st, err;

	if ((err = posix_spawnp(&pid, argv[0], NULL, NULL, argv,
	    environ)) != 0) {
		errno = err;
		log_warn("%s", argv[0]);
		return -1;
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
systemctl(const char *verb)
{
	char *argv[] = { "systemctl", (char *)verb, "--quiet", UPDOWN_UNIT,
	    NULL };

	return cmd_run(argv);
}

/*
 * systemd runs the daemon when it is the init, the unit is installed, and
 * this process is in PID 1's network namespace: a unit starts there, so
 * from another namespace (a test, a container) the daemon would listen
 * where our filter is not.
 */
static int
systemd_usable(void)
{
	static const char *dirs[] = { "/etc/systemd/system",
	    "/run/systemd/system", "/usr/local/lib/systemd/system",
	    "/usr/lib/systemd/system", "/lib/systemd/system" };
	char path[PATH_MAX];
	struct stat a, b;
	size_t i;

	if (access("/run/systemd/system", F_OK) != 0)
		return 0;
	if (stat("/proc/1/ns/net", &a) != 0 ||
	    stat("/proc/self/ns/net", &b) != 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino)
		return 0;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], UPDOWN_UNIT);
		if (access(path, F_OK) == 0)
			return 1;
	}
	return 0;
}

/* Say so when a listener is on a port the filter leaves open to all. */
static void
listen_ports_check(const struct config *c, const struct filter_spec *fs)
{
	const struct sockaddr_storage *ss;
	uint16_t port;
	size_t i;

	if (fs->mode != SG_MODE_PORTS)
		return;
	for (i = 0; i < c->nlisten; i++) {
		ss = &c->listen[i].addr;
		port = ntohs(ss->ss_family == AF_INET6 ?
		    ((const struct sockaddr_in6 *)ss)->sin6_port :
		    ((const struct sockaddr_in *)ss)->sin_port);
		if (!(fs->ports[port >> 6] & (1ULL << (port & 63))))
			log_warnx("up: note: streamgated listens on %s, a port "
			    "--ports does not protect: anyone reaches it",
			    c->listen[i].text);
	}
}

/*
 * The daemon's configuration, checked as streamgated checks it (file,
 * keys, secret files), before anything is touched: a bad one is a usage
 * error naming --config.  The first listener is where up asks /healthz.
 */
static void
daemon_config(const struct probe_where *w, const struct filter_spec *fs,
    struct daemon_plan *d)
{
	struct probe_where must = *w;
	struct config *c;
	char err[1024];

	must.config_given = 1;	/* up starts a daemon: it needs its config */
	if (probe_config(&must, &c, err, sizeof(err)) != 0)
		cli_usage_error("--config: %s", err);
	if (c->nkeys == 0)
		cli_usage_error("--config: %s: keys: no API key", w->config);
	if (config_load_secrets(c, err, sizeof(err)) != 0)
		cli_usage_error("--config: %s: %s", w->config, err);
	listen_ports_check(c, fs);
	probe_target(&c->listen[0], &d->health);
	snprintf(d->health_path, sizeof(d->health_path), "%s",
	    c->route_health);
	probe_config_free(c);
	/* the daemon may run from another directory (systemd): one name */
	if (realpath(w->config, d->config) == NULL)
		cli_usage_error("--config: %s: %s", w->config,
		    strerror(errno));
}

/*
 * The run directory and the log, opened now so that a directory someone
 * else controls is refused before any step runs (a usage error naming
 * it); the pid file is written in it later, the log handed to the daemon.
 */
static void
daemon_files(const struct cli_args *a, struct daemon_plan *d)
{
	char err[PATH_MAX + 128], dir[PATH_MAX + 32], *slash;
	int log_dir;

	if ((d->run_fd = rundir_open(d->run_dir, 1, 0, err,
	    sizeof(err))) == -1)
		cli_usage_error("%s%s", cli_has(a, CF_RUN_DIR) ? "--run-dir: " :
		    "run directory ", err);
	snprintf(dir, sizeof(dir), "%s", d->log);
	slash = strrchr(dir, '/');
	*slash = '\0';
	log_dir = strcmp(dir, d->run_dir) == 0 ? d->run_fd :
	    rundir_open(dir, 0, 1, err, sizeof(err));	/* /var/log: shared */
	if (log_dir == -1 || (d->log_fd = rundir_open_log(log_dir, slash + 1,
	    err, sizeof(err))) == -1)
		cli_usage_error("log %s: %s", d->log, err);
	if (log_dir != d->run_fd)
		close(log_dir);
}

static void
daemon_files_close(struct daemon_plan *d)
{
	if (d->run_fd != -1)
		close(d->run_fd);
	if (d->log_fd != -1)
		close(d->log_fd);
	d->run_fd = d->log_fd = -1;
}

/* Everything the daemon step needs, found before any step runs. */
static int
daemon_prepare(const struct cli_args *a, const struct filter_spec *fs,
    struct daemon_plan *d)
{
	struct probe_where w;

	memset(d, 0, sizeof(*d));
	probe_where(a, &w);
	daemon_config(&w, fs, d);
	snprintf(d->run_dir, sizeof(d->run_dir), "%s", w.run_dir);
	snprintf(d->pid_file, sizeof(d->pid_file), "%s", w.pid_file);
	/* the system's run directory is a tmpfs: the log goes elsewhere */
	if (strcmp(w.run_dir, PROBE_RUN_DIR) == 0)
		snprintf(d->log, sizeof(d->log), "%s", UPDOWN_LOG);
	else
		snprintf(d->log, sizeof(d->log), "%s/streamgated.log",
		    w.run_dir);
	d->run_fd = d->log_fd = -1;
	if ((d->systemd = systemd_usable()))
		return 0;
	daemon_files(a, d);
	if (cli_exe_sibling("streamgated", X_OK, d->bin, sizeof(d->bin)) != 0 &&
	    path_search("streamgated", d->bin, sizeof(d->bin)) != 0) {
		log_warnx("up: no streamgated beside this binary or in PATH "
		    "(install it, or pass --no-daemon)");
		return -1;
	}
	return 0;
}

/* streamgated --config FILE in its own session, stdin from /dev/null,
 * stdout and stderr appended to the log, no descriptor of ours. */
static pid_t
daemon_spawn(const struct daemon_plan *d)
{
	char *argv[] = { "streamgated", "--config", (char *)d->config, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char why[256];
	pid_t pid = -1;
	int err;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, d->log_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if ((err = posix_spawn(&pid, d->bin, &fa, &attr, argv,
	    environ)) != 0) {
		errno = err;
		log_warn("up: start %s", d->bin);
		pid = -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (pid > 0 && rundir_write_pid(d->run_fd, "streamgated.pid", pid, why,
	    sizeof(why)) != 0) {
		log_warnx("up: %s: %s", d->run_dir, why);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	return pid;
}

/* The log's last line, for the message that says why the start failed. */
static void
log_tail(int fd, char *buf, size_t len)
{
	ssize_t n;
	off_t size;
	char *p;

	buf[0] = '\0';
	size = lseek(fd, 0, SEEK_END);
	n = pread(fd, buf, len - 1, size > (off_t)len - 1 ?
	    size - (off_t)len + 1 : 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if ((p = strrchr(buf, '\n')) != NULL)
		memmove(buf, p + 1, strlen(p + 1) + 1);
}

/* Until GET /healthz answers 200; pid > 0: our child, which may exit. */
static int
daemon_wait(const struct daemon_plan *d, pid_t pid)
{
	char err[256], tail[512];
	int waited, st;

	for (waited = 0;; waited += POLL_MS) {
		if (pid > 0 && waitpid(pid, &st, WNOHANG) == pid) {
			log_tail(d->log_fd, tail, sizeof(tail));
			log_warnx("up: streamgated exited (%s %d) before it "
			    "answered: %s (log: %s)", WIFEXITED(st) ? "status" :
			    "signal", WIFEXITED(st) ? WEXITSTATUS(st) :
			    WTERMSIG(st), tail[0] ? tail : "nothing logged",
			    d->log);
			return -1;
		}
		if (probe_get(&d->health, d->health_path, 500, NULL, err,
		    sizeof(err)) == 200)
			return 0;
		if (waited >= START_WAIT_MS)
			break;
		msleep(POLL_MS);
	}
	log_warnx("up: streamgated did not answer GET %s on %s within %d s "
	    "(%s; log: %s)", d->health_path, d->health.text,
	    START_WAIT_MS / 1000, err, d->systemd ? "journalctl -u "
	    UPDOWN_UNIT : d->log);
	return -1;
}

/* Our child that never came up: SIGTERM, then SIGKILL after 2 s. */
static void
daemon_reap(pid_t pid)
{
	int waited;

	kill(pid, SIGTERM);
	for (waited = 0; waited < 2000; waited += POLL_MS) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		msleep(POLL_MS);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int
daemon_start_systemd(const struct daemon_plan *d)
{
	int was_active = systemctl("is-active") == 0;

	if (!was_active && systemctl("start") != 0) {
		log_warnx("up: systemctl start %s failed (journalctl -u %s)",
		    UPDOWN_UNIT, UPDOWN_UNIT);
		return -1;
	}
	if (daemon_wait(d, 0) != 0) {
		if (!was_active)
			(void)systemctl("stop");
		return -1;
	}
	log_info("up: 3/3 streamgated %s by systemd, answering on %s",
	    was_active ? "already running" : "started", d->health.text);
	return 0;
}

/* Step 3.  A daemon that already ran is kept, even when it fails. */
static int
daemon_start(const struct daemon_plan *d)
{
	pid_t pid;

	if (d->systemd)
		return daemon_start_systemd(d);
	if ((pid = probe_pid_read(d->pid_file)) > 0) {
		if (daemon_wait(d, 0) != 0)
			return -1;
		log_info("up: 3/3 streamgated already running (pid %d, %s), "
		    "kept", (int)pid, d->pid_file);
		return 0;
	}
	if ((pid = daemon_spawn(d)) < 0)
		return -1;
	if (daemon_wait(d, pid) != 0) {
		daemon_reap(pid);
		unlink(d->pid_file);
		return -1;
	}
	log_info("up: 3/3 streamgated started (pid %d), answering GET %s on "
	    "%s; pid file %s, log %s", (int)pid, d->health_path,
	    d->health.text, d->pid_file, d->log);
	return 0;
}

/* 1 when dev runs our program (it reads the pinned sg_config). */
static int
filter_on(const char *dev)
{
	struct filter_user u[64];
	struct filter_maps m;
	int i, n, on = 0;

	if (!filter_pins_present() || filter_maps_open(&m) != 0)
		return 0;
	n = filter_users(&m, u, 64);
	for (i = 0; i < n; i++)
		on |= strcmp(u[i].ifname, dev) == 0;
	filter_maps_close(&m);
	return on;
}

/* 1 when the table exists, 0 when not, -1 when nf_tables cannot say. */
static int
table_present(const char *family, const char *table)
{
	struct nft_nl nl;
	int rc;

	if (nft_nl_open(&nl, "nft") != 0)
		return -1;
	if ((rc = nft_nl_table_exists(&nl, nft_family(family), table)) < 0)
		log_warnx("nft: table %s %s: %s", family, table,
		    nft_nl_strerror(errno));
	nft_nl_close(&nl);
	return rc;
}

/* Take back what up did so far, last step first. */
static void
up_undo(const struct undo *u, const char *dev, const struct nft_plan *p)
{
	if (u->table && nft_delete(p->family, p->table) == 0)
		log_info("up: undone: table %s %s deleted", p->family,
		    p->table);
	if (u->filter) {
		if (filter_detach(dev) == 0)
			log_info("up: undone: XDP filter detached from %s",
			    dev);
	} else if (u->pins && filter_pins_present() && filter_maps_unpin() == 0)
		log_info("up: undone: maps unpinned from %s", SG_PIN_DIR);
}

/* The three steps; what each one added is recorded in u. */
static int
up_steps(const struct cli_args *a, const struct spec *sp,
    const struct daemon_plan *d, struct undo *u)
{
	const struct nft_plan *p = &sp->plan;
	const char *dev = a->v[CF_DEV];
	char objbuf[PATH_MAX];
	const char *obj = spec_obj(a, objbuf, sizeof(objbuf));
	int had_table;

	if (filter_env_check() != 0)
		return -1;
	if (if_nametoindex(dev) == 0) {
		log_warnx("up: --dev %s: no such device here (see 'ip link')",
		    dev);
		return -1;
	}
	if ((had_table = table_present(p->family, p->table)) < 0)
		return -1;
	u->pins = !filter_pins_present();
	u->filter = !filter_on(dev);
	if (filter_attach(dev, obj, spec_xdp_generic(a), &sp->nft.f) != 0) {
		u->filter = 0;	/* nothing attached: only stray pins */
		log_warnx("up: step 1/3 failed: XDP filter on %s", dev);
		return -1;
	}
	log_info("up: 1/3 XDP filter on %s", dev);
	u->table = !had_table;
	if (nft_apply(p) != 0) {
		log_warnx("up: step 2/3 failed: nft table %s %s", p->family,
		    p->table);
		return -1;
	}
	log_info("up: 2/3 nft table %s %s, hook %s", p->family, p->table,
	    p->chain);
	if (d != NULL && daemon_start(d) != 0) {
		log_warnx("up: step 3/3 failed: streamgated");
		return -1;
	}
	if (d == NULL)
		log_info("up: 3/3 daemon left alone (--no-daemon)");
	return 0;
}

int
updown_up(const struct cli_args *a)
{
	struct spec sp;
	struct daemon_plan d = { .run_fd = -1, .log_fd = -1 };
	struct undo u = { 0 };
	int no_daemon = cli_has(a, CF_NO_DAEMON), rc = 0;

	spec_build(a, SPEC_FILTER | SPEC_NFT | SPEC_PLAN | SPEC_XDP_DEV, &sp);
	if (!no_daemon && daemon_prepare(a, &sp.nft.f, &d) != 0)
		rc = 1;
	else if (up_steps(a, &sp, no_daemon ? NULL : &d, &u) != 0) {
		up_undo(&u, a->v[CF_DEV], &sp.plan);
		rc = 1;
	} else
		log_info("up: %s is up", a->v[CF_DEV]);
	daemon_files_close(&d);
	spec_free(&sp);
	return rc;
}

/* down, step 1: the daemon our pid file names, else systemd's. */
static int
down_daemon(const struct cli_args *a)
{
	struct probe_where w;
	pid_t pid;
	int waited;

	probe_where(a, &w);
	if ((pid = probe_pid_read(w.pid_file)) < 0) {
		unlink(w.pid_file);
		log_info("down: 1/3 daemon: not running (stale %s removed)",
		    w.pid_file);
		return 0;
	}
	if (pid == 0 && systemd_usable() && systemctl("is-active") == 0) {
		if (systemctl("stop") != 0) {
			log_warnx("down: 1/3 daemon: systemctl stop %s failed",
			    UPDOWN_UNIT);
			return -1;
		}
		log_info("down: 1/3 daemon: stopped (systemd)");
		return 0;
	}
	if (pid == 0) {
		log_info("down: 1/3 daemon: already down (no %s)", w.pid_file);
		return 0;
	}
	if (kill(pid, SIGTERM) != 0 && errno != ESRCH) {
		log_warn("down: 1/3 daemon: kill %d", (int)pid);
		return -1;
	}
	for (waited = 0; waited < STOP_WAIT_MS; waited += POLL_MS) {
		if (!probe_pid_is_daemon(pid)) {
			unlink(w.pid_file);
			log_info("down: 1/3 daemon: stopped (pid %d)",
			    (int)pid);
			return 0;
		}
		msleep(POLL_MS);
	}
	log_warnx("down: 1/3 daemon: pid %d still runs %d s after SIGTERM: "
	    "left running (kill -9 %d ends it)", (int)pid, STOP_WAIT_MS / 1000,
	    (int)pid);
	return -1;
}

/* down, step 2: our table, whichever family (inet or netdev) holds it. */
static int
down_nft(const struct cli_args *a)
{
	static const char *families[] = { "inet", "netdev" };
	struct spec sp;
	int i, had, found = 0, rc = 0;

	spec_build(a, SPEC_NFT, &sp);	/* --table, checked */
	for (i = 0; i < 2 && rc == 0; i++) {
		if ((had = table_present(families[i], sp.nft.table)) < 0)
			rc = -1;
		if (had <= 0)
			continue;
		found = 1;
		if (nft_delete(families[i], sp.nft.table) != 0)
			rc = -1;
		else
			log_info("down: 2/3 nft: table %s %s deleted",
			    families[i], sp.nft.table);
	}
	if (!found && rc == 0)
		log_info("down: 2/3 nft: already down (no table %s)",
		    sp.nft.table);
	spec_free(&sp);
	return rc;
}

/* down, step 3: the program on dev and, when no device uses them, the
 * pins (filter_detach decides that). */
static int
down_filter(const char *dev)
{
	if (filter_env_check() != 0)
		return -1;
	if (if_nametoindex(dev) == 0) {
		if (!filter_pins_present()) {
			log_info("down: 3/3 filter: already down (no device "
			    "%s, no pins)", dev);
			return 0;
		}
		log_warnx("down: 3/3 filter: no device %s here, and maps are "
		    "still pinned in %s", dev, SG_PIN_DIR);
		return -1;
	}
	if (!filter_pins_present() && !filter_on(dev)) {
		log_info("down: 3/3 filter: already down (no streamgate "
		    "program on %s, no pins)", dev);
		return 0;
	}
	if (filter_detach(dev) != 0)
		return -1;
	log_info("down: 3/3 filter: none on %s", dev);
	return 0;
}

int
updown_down(const struct cli_args *a)
{
	int rc = 0;

	if (!cli_has(a, CF_NO_DAEMON) && down_daemon(a) != 0)
		rc = 1;
	if (down_nft(a) != 0)
		rc = 1;
	if (down_filter(a->v[CF_DEV]) != 0)
		rc = 1;
	if (rc == 0)
		log_info("down: %s is down", a->v[CF_DEV]);
	return rc;
}
