/*
 * privdrop.c - who the serving process runs as: -u/-g resolved at start-up,
 * root given up for good (groups, then group, then user) and checked,
 * inside the sandbox of sandbox.c.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

/* Resolve -u/-g when started as root; 0, or -1 after a message. */
int
hsvr_privdrop_resolve(struct hsvr_config *cfg)
{
	struct passwd *pw;
	struct group *gr;

	cfg->drop = geteuid() == 0;
	if (!cfg->drop)
		return hsvr_sandbox_check(cfg);
	/*
	 * The non-reentrant lookups are safe: main() calls this before
	 * serv_init(), while the process has one thread.
	 */
	errno = 0;
	/* cppcheck-suppress getpwnamCalled ; one thread yet, see above */
	if ((pw = getpwnam(cfg->user)) == NULL) {
		hsvr_warnx("unknown user '%s'", cfg->user);
		return -1;
	}
	cfg->uid = pw->pw_uid;
	cfg->gid = pw->pw_gid;
	if (cfg->group_given) {
		/* cppcheck-suppress getgrnamCalled ; one thread yet */
		if ((gr = getgrnam(cfg->group)) == NULL) {
			hsvr_warnx("unknown group '%s'", cfg->group);
			return -1;
		}
		cfg->gid = gr->gr_gid;
	} else {
		/* cppcheck-suppress getgrgidCalled ; one thread yet */
		gr = getgrgid(cfg->gid);
		/* Only shown (the gid is what counts): a cut name will do. */
		if (gr != NULL) {
			(void)snprintf(cfg->group_name, sizeof cfg->group_name,
			    "%s", gr->gr_name);
			cfg->group = serv_group = cfg->group_name;
		}
	}
	if (cfg->uid == 0 || cfg->gid == 0) {
		hsvr_warnx("refusing to serve as root: choose another user and "
		    "group with -u and -g");
		return -1;
	}
	return hsvr_sandbox_check(cfg);
}

static int
change_ids(const struct hsvr_config *cfg)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (setgroups(1, &cfg->gid) != 0 ||
	    setresgid(cfg->gid, cfg->gid, cfg->gid) != 0 ||
	    setresuid(cfg->uid, cfg->uid, cfg->uid) != 0) {
		hsvr_warn("cannot drop privileges to %s:%s", cfg->user,
		    cfg->group);
		return -1;
	}
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
	    ru == 0 || eu == 0 || su == 0 || rg == 0 || eg == 0 || sg == 0 ||
	    ru != cfg->uid || eu != cfg->uid || su != cfg->uid ||
	    rg != cfg->gid || eg != cfg->gid || sg != cfg->gid) {
		hsvr_warnx("privilege drop to %s:%s did not take", cfg->user,
		    cfg->group);
		return -1;
	}
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0) {
		hsvr_warnx("root could be regained after dropping to %s:%s",
		    cfg->user, cfg->group);
		return -1;
	}
	return 0;
}

/*
 * The serving process gives up what it may not keep: chroot and bounding
 * set while still root, then the ids, then no_new_privs and every
 * capability (also when not started as root: a program given file
 * capabilities serves without them).  0, or -1 after a log line.
 */
int
hsvr_privdrop_drop(const struct hsvr_config *cfg)
{
	if (hsvr_sandbox_enter(cfg) != 0 ||
	    (cfg->drop && change_ids(cfg) != 0))
		return -1;
	return hsvr_sandbox_lock(cfg);
}
