/*
 * privsep.h: streamgated gives up root once it is set up.
 *
 * Linux keeps credentials per thread, and glibc runs only the set*id calls
 * (setresuid, setresgid, setgroups) in every thread; capset and the
 * PR_CAPBSET/PR_CAP_AMBIENT/no_new_privs prctls touch the calling thread
 * alone.  The store's writer thread starts inside store_open(), before
 * the listeners are bound, so the drop comes in two steps:
 *
 *   privsep_init()  before any thread exists: clear the bounding,
 *                   inheritable and ambient sets, set no_new_privs and
 *                   PR_SET_DUMPABLE 0, and narrow the permitted set to
 *                   what the rest of setup needs (binding a low port,
 *                   reading files and opening the store as the user owns
 *                   them, chown, setuid).  Every thread created later
 *                   inherits exactly that.
 *   privsep_drop()  once the listeners, store and keys are open and before
 *                   any worker serves: give the SQLite store to the user,
 *                   setgroups/setresgid/setresuid (glibc broadcasts them;
 *                   the kernel empties every thread's permitted, effective
 *                   and ambient sets when all three uids leave 0), clear
 *                   this thread's capabilities, then load the seccomp
 *                   filter into every thread at once (TSYNC).
 *
 * Who it becomes is decided first, with no side effect (privsep_plan, also
 * what --check-config checks): started as root with no user to become, the
 * daemon refuses to start unless "user" is "root"; then it stays uid 0
 * without capabilities, and a thread started before the drop (the store's
 * writer) keeps CAP_NET_BIND_SERVICE if a listener needed it.
 */
#ifndef SG_PRIVSEP_H
#define SG_PRIVSEP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <seccomp.h>

#include "config.h"

#define PRIVSEP_DEFAULT_USER	"streamgate"

struct privsep {
	int	root;		/* started as uid 0 */
	int	switch_user;	/* 1: become uid/gid below */
	uid_t	uid;
	gid_t	gid;
	char	user[64];
	int	kill;		/* seccomp: kill instead of EPERM */
};

/*
 * Who to become (ps), as started by root or not: getpwnam, nothing else.
 * 0, or -1 with err naming the key "user": a named user that does not
 * exist, or, for root, no "streamgate" user and no "user" at all.
 */
int	privsep_plan(const struct config *cfg, int root, struct privsep *ps,
	    char *err, size_t errlen);
/* The first step, with ps from privsep_plan. */
void	privsep_init(const struct config *cfg, struct privsep *ps);
void	privsep_drop(const struct privsep *ps, const char *store);

/* STREAMGATE_SECCOMP_KILL=1: a call outside a filter kills the process
 * (tests); otherwise it fails with EPERM and the daemon goes on. */
int	privsep_seccomp_kill(void);
/* The daemon's filter, on every thread of the caller.  0 or -1. */
int	privsep_seccomp(int kill);
/*
 * Load a filter (this thread; every thread with tsync): calls[] allowed
 * with any arguments, args() adds the rules with argument checks.  The
 * default action as privsep_seccomp's; another ABI is killed.  0 or -1.
 */
int	privsep_filter_load(int kill, int tsync, const int *calls,
	    size_t ncalls, int (*args)(scmp_filter_ctx));

/*
 * The calling thread keeps only the capabilities in keep (a mask of
 * 1 << CAP_*) in its permitted and effective sets, none inheritable or
 * ambient.  The bounding set keeps those in bounding (PRIVSEP_BOUNDING_ANY:
 * left alone); dropping from it takes CAP_SETPCAP, and without it the
 * bounding set is left and -1 returned, the rest still done.
 */
#define PRIVSEP_BOUNDING_ANY	(~0ULL)
int	privsep_caps_limit(uint64_t keep, uint64_t bounding);

#endif
