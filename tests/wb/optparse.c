/*
 * optparse.c - white-box test of option parsing (lib/options.c):
 * hsvr_options_parse called directly with argv vectors, the accepted ones
 * in this process (the struct hsvr_config and the serv_* variables it
 * fills are checked field by field), the refused ones in a child (which
 * exits: the status and its first line on stderr are checked).
 * tests/options.c tries the command line end-to-end on a running server;
 * this is its complement: every option's field, the limits of each number
 * (the bound accepted, one past it refused), the options that go
 * together or exclude each other, and the application's options that the
 * library refuses (exit 70).
 *
 * Shown to fail: with number()'s "v > max" test removed, the "one past the
 * upper bound" checks fail; with the --reuseport/--accept-thread exclusion
 * removed, that check fails; with "*tcp_given = 1" removed from -p, "-l
 * with -p" is accepted and its check fails; with -n's default left at 1
 * (online_cpus() not counting), "defaults" fails on a machine of 2 CPUs
 * or more.
 */
#include "hsvr-int.h"
#include "wb.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the application's options ---- */

static char got[64];
static int flag_set;

static int
set_word(const char *arg)
{
	if (strcmp(arg, "bad") == 0)
		return -1;
	(void)snprintf(got, sizeof got, "%s", arg);
	return 0;
}

static int
set_flag(const char *arg)
{
	if (arg != NULL)
		return -1;
	flag_set++;
	return 0;
}

static int
refuse_flag(const char *arg)
{
	(void)arg;
	return -1;
}

static const struct serv_option good_app[] = {
	{ "word", 'W', "WORD", "a word", set_word },
	{ "flag", 0, NULL, "a flag", set_flag },
	{ "never", 0, NULL, NULL, refuse_flag },
	{ NULL, 0, NULL, NULL, NULL }
};

static const struct serv_option *app = good_app;

const struct serv_option *
serv_options(void)
{
	return app;
}

/* ---- running the parser ---- */

#define MAXARGS 80

static struct hsvr_config cfg;
static char store[MAXARGS][256];
static char *argv_[MAXARGS + 1];

/* argv from the NULL-terminated list; argc. */
static int
make_argv(const char *prog, const char *const *args)
{
	int n = 0;

	(void)snprintf(store[0], sizeof store[0], "%s", prog);
	argv_[n++] = store[0];
	for (; *args != NULL && n < MAXARGS; args++, n++) {
		(void)snprintf(store[n], sizeof store[n], "%s", *args);
		argv_[n] = store[n];
	}
	argv_[n] = NULL;
	return n;
}

static void
parse(const char *prog, const char *const *args)
{
	int argc = make_argv(prog, args);

	hsvr_options_defaults(&cfg);
	optind = 0;             /* glibc: start afresh */
	hsvr_options_parse(&cfg, argc, argv_);
}

/*
 * Parse in a child: its exit status (-1 if it returned, i.e. accepted the
 * line) and the first line it wrote on stderr into first.
 */
static int
refused(const char *const *args, char *first, size_t cap, int *usage)
{
	char buf[16384];
	int p[2], status;
	pid_t pid;

	if (pipe(p) != 0 || (pid = fork()) < 0)
		wb_bail("pipe, fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		dup2(p[1], STDOUT_FILENO);
		parse("/opt/bin/wbsrv", args);
		exit(255);      /* accepted */
	}
	close(p[1]);
	(void)wb_read_all(p[0], buf, sizeof buf);
	if (waitpid(pid, &status, 0) != pid)
		wb_bail("waitpid: %s", strerror(errno));
	(void)snprintf(first, cap, "%.*s", (int)strcspn(buf, "\n"), buf);
	*usage = strstr(buf, "\nusage: wbsrv [options]\n") != NULL;
	if (!WIFEXITED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status) == 255 ? -1 : WEXITSTATUS(status);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
accepted(void)
{
	char unixpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int online = ncpu < 1 ? 1 : ncpu > HSVR_MAX_THREADS ?
	    HSVR_MAX_THREADS : (int)ncpu;

	parse("/usr/local/sbin/mysrv", ARGS("-x"));
	wb_ok(strcmp(cfg.progname, "mysrv") == 0 && cfg.port == 1966 &&
	    cfg.max_conn == 1000 && cfg.backlog == 1024 && cfg.timeout == 60 &&
	    cfg.drain_timeout == 30 && cfg.handshake_timeout == 10 &&
	    cfg.threads == online &&
	    cfg.interface == NULL && cfg.unix_path == NULL &&
	    cfg.foreground == 1 && cfg.report_fd == -1 &&
	    strcmp(cfg.name, "server") == 0,
	    "defaults (-n: the online CPUs, %d); the program's name is "
	    "argv[0]'s last component", online);

	parse("plain", ARGS("--port", "8080", "--interface=127.0.0.1",
	    "--max-connections", "5", "--threads", "256", "--backlog",
	    "65535", "--timeout", "0", "--max-per-ip", "0",
	    "--write-timeout", "7", "--drain-timeout", "86400", "--user",
	    "uu", "--group", "gg", "--root", "/rr", "--config", "ff",
	    "--chroot", "/cc", "--foreground", "--terminate", "--pidfile",
	    "/pp", "--accept-thread"));
	wb_ok(strcmp(cfg.progname, "plain") == 0 && cfg.port == 8080 &&
	    strcmp(cfg.interface, "127.0.0.1") == 0 && cfg.max_conn == 5 &&
	    cfg.threads == 256 && cfg.backlog == 65535 && cfg.timeout == 0 &&
	    cfg.max_per_ip == 0 && cfg.write_timeout == 7 &&
	    cfg.drain_timeout == 86400 && strcmp(cfg.user, "uu") == 0 &&
	    strcmp(cfg.group, "gg") == 0 && cfg.group_given &&
	    strcmp(cfg.root_dir, "/rr") == 0 &&
	    strcmp(cfg.config_file, "ff") == 0 &&
	    strcmp(cfg.chroot_dir, "/cc") == 0 && cfg.foreground &&
	    cfg.terminate && strcmp(cfg.pidfile, "/pp") == 0 &&
	    cfg.accept_thread && !cfg.reuseport,
	    "every long option with its value (upper bounds included) sets "
	    "its field");
	wb_ok(strcmp(serv_port, "8080") == 0 &&
	    strcmp(serv_interface, "127.0.0.1") == 0 &&
	    strcmp(serv_user, "uu") == 0 && strcmp(serv_group, "gg") == 0 &&
	    strcmp(serv_root_dir, "/rr") == 0 &&
	    strcmp(serv_config_file, "ff") == 0,
	    "and the serv_* variables the application reads");

	parse("s", ARGS("-p", "1", "-i", "::1", "-m", "1", "-n", "1", "-q",
	    "1", "-T", "2147483", "-u", "u2", "-g", "g2", "-r", "r2", "-f",
	    "f2", "-x", "-t", "-c", "cert.pem", "-k", "key.pem"));
	wb_ok(cfg.port == 1 && strcmp(cfg.interface, "::1") == 0 &&
	    cfg.max_conn == 1 && cfg.threads == 1 && cfg.backlog == 1 &&
	    cfg.timeout == INT_MAX / 1000 && strcmp(cfg.user, "u2") == 0 &&
	    strcmp(cfg.group, "g2") == 0 && strcmp(cfg.root_dir, "r2") == 0 &&
	    strcmp(cfg.config_file, "f2") == 0 && cfg.foreground &&
	    cfg.terminate && strcmp(cfg.tls_cert, "cert.pem") == 0 &&
	    strcmp(cfg.tls_key, "key.pem") == 0,
	    "every short option (lower bounds, -T's upper) sets its field");

	parse("s", ARGS("-ckey.pem", "-kkey.pem", "--tls-min", "1.3",
	    "--tls-ciphers", "C12", "--tls-ciphersuites", "C13",
	    "--tls-groups", "X25519", "--tls-ocsp", "o.der",
	    "--tls-no-tickets", "--tls-max-handshakes", "1073741823",
	    "--tls-ca", "ca.pem", "--tls-handshake-timeout", "3600",
	    "--tls-keep-buffers", "--reuseport", "-m1073741823",
	    "--max-per-ip=1073741823", "--write-timeout=2147483"));
	wb_ok(cfg.tls_min13 == 1 && strcmp(cfg.tls_ciphers, "C12") == 0 &&
	    strcmp(cfg.tls_ciphersuites, "C13") == 0 &&
	    strcmp(cfg.tls_groups, "X25519") == 0 &&
	    strcmp(cfg.tls_ocsp, "o.der") == 0 && cfg.tls_no_tickets &&
	    cfg.max_handshakes == INT_MAX / 2 &&
	    strcmp(cfg.tls_ca, "ca.pem") == 0 &&
	    cfg.handshake_timeout == 3600 && cfg.tls_keep_buffers &&
	    cfg.reuseport && !cfg.accept_thread &&
	    cfg.max_conn == INT_MAX / 2 && cfg.max_per_ip == INT_MAX / 2 &&
	    cfg.write_timeout == INT_MAX / 1000,
	    "the TLS options with a certificate, --reuseport, the upper "
	    "bounds of -m, --max-per-ip, --write-timeout, "
	    "--tls-max-handshakes, --tls-handshake-timeout");
	parse("s", ARGS("-c", "c", "-k", "k", "--tls-min", "1.2",
	    "--tls-handshake-timeout", "1", "--tls-max-handshakes", "1",
	    "--drain-timeout", "0", "--write-timeout", "0"));
	wb_ok(cfg.tls_min13 == 0 && cfg.handshake_timeout == 1 &&
	    cfg.max_handshakes == 1 && cfg.drain_timeout == 0 &&
	    cfg.write_timeout == 0, "--tls-min 1.2 and the lower bounds of "
	    "the TLS and drain numbers");

	(void)snprintf(unixpath, sizeof unixpath, "/%0*d",
	    (int)sizeof unixpath - 2, 0);
	parse("s", ARGS("-l", unixpath));
	wb_ok(cfg.unix_path != NULL && strcmp(cfg.unix_path, unixpath) == 0 &&
	    strlen(cfg.unix_path) == sizeof unixpath - 1,
	    "-l with the longest path that fits sun_path");

#ifdef HAVE_SECCOMP
	parse("s", ARGS("--seccomp"));
	wb_ok(cfg.seccomp == 1, "--seccomp sets its field");
#endif

	got[0] = '\0';
	flag_set = 0;
	parse("s", ARGS("--word", "one", "--flag", "-W", "two", "-p", "9"));
	wb_ok(strcmp(got, "two") == 0 && flag_set == 1 && cfg.port == 9,
	    "the application's options, by long name and by letter, go to "
	    "its set(), the library's still parsed");
}

struct bad {
	const char *args[8];    /* NULL-terminated */
	int status;
	const char *says;       /* the first line of stderr contains it */
};

static void
refusals(void)
{
	static char longpath[200];
	const struct bad cases[] = {
		{ { "-p", "0" }, 64, "--port: '0' (1 to 65535)" },
		{ { "-p", "65536" }, 64, "--port: '65536' (1 to 65535)" },
		{ { "-p", "" }, 64, "--port: ''" },
		{ { "-p", "99999999999999999999999" }, 64,
		    "--port: '99999999999999999999999'" },
		{ { "-m", "0" }, 64, "--max-connections: '0'" },
		{ { "-m", "1073741824" }, 64, "--max-connections: '1073741824'" },
		{ { "-n", "0x10" }, 64, "--threads: '0x10'" },
		{ { "-q", "0" }, 64, "--backlog: '0'" },
		{ { "-q", "65536" }, 64, "--backlog: '65536'" },
		{ { "-T", "-1" }, 64, "--timeout: '-1'" },
		{ { "-T", "2147484" }, 64, "--timeout: '2147484'" },
		{ { "--max-per-ip", "-1" }, 64, "--max-per-ip: '-1'" },
		{ { "--write-timeout", "2147484" }, 64,
		    "--write-timeout: '2147484'" },
		{ { "--drain-timeout", "86401" }, 64,
		    "--drain-timeout: '86401' (0 to 86400)" },
		{ { "-c", "c", "-k", "k", "--tls-handshake-timeout", "0" }, 64,
		    "--tls-handshake-timeout: '0' (1 to 3600)" },
		{ { "-c", "c", "-k", "k", "--tls-handshake-timeout", "3601" },
		    64, "--tls-handshake-timeout: '3601'" },
		{ { "-c", "c", "-k", "k", "--tls-max-handshakes", "0" }, 64,
		    "--tls-max-handshakes: '0'" },
		{ { "-i", "" }, 64, "--interface: ''" },
		{ { "-l", "" }, 64, "--unix: '' (empty or too long)" },
		{ { "-l", longpath }, 64, "(empty or too long)" },
		{ { "--pidfile", "" }, 64, "--pidfile: ''" },
		{ { "--chroot", "relative" }, 64,
		    "--chroot: 'relative' (an absolute path)" },
		{ { "--tls-min", "1.1" }, 64, "--tls-min: '1.1' (1.2 or 1.3)" },
		{ { "--port" }, 64, "option '-p' needs an argument" },
		{ { "--pidfile" }, 64, "option '--pidfile' needs an argument" },
		{ { "-x", "-m" }, 64, "option '-m' needs an argument" },
		{ { "--t" }, 64, "unknown option '--t'" },
		{ { "-c", "c" }, 64, "--tls-cert and --tls-key go together" },
		{ { "-k", "k" }, 64, "--tls-cert and --tls-key go together" },
		{ { "--tls-ca", "ca" }, 64, "--tls-ca and --tls-ciphers need" },
		{ { "--tls-ciphers", "x" }, 64, "--tls-ca and --tls-ciphers need" },
		{ { "--tls-groups", "x" }, 64, "--tls-no-tickets and "
		    "--tls-max-handshakes need --tls-cert" },
		{ { "--tls-ciphersuites", "x" }, 64, "need --tls-cert" },
		{ { "--tls-ocsp", "x" }, 64, "need --tls-cert" },
		{ { "--tls-no-tickets" }, 64, "need --tls-cert" },
		{ { "--tls-max-handshakes", "2" }, 64, "need --tls-cert" },
		{ { "--reuseport", "--accept-thread" }, 64,
		    "--reuseport and --accept-thread exclude each other" },
		{ { "-p", "5000", "-l", "/x.sock" }, 64,
		    "--unix cannot be combined with --port or --interface" },
		{ { "-l", "/x.sock", "-i", "::1" }, 64,
		    "--unix cannot be combined" },
		{ { "--never" }, 64, "invalid argument for --never: ''" },
		{ { "--word", "bad" }, 64, "invalid argument for --word: 'bad'" },
	};
	char first[1024], want[300];
	size_t i;
	int status, usage;

	memset(longpath, 'a', sizeof longpath - 1);
	longpath[0] = '/';
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		status = refused(cases[i].args, first, sizeof first, &usage);
		(void)snprintf(want, sizeof want, "%s", cases[i].says);
		wb_ok(status == cases[i].status &&
		    strncmp(first, "wbsrv: ", 7) == 0 &&
		    strstr(first, want) != NULL && usage,
		    "%.24s %.24s ...: exit %d, \"%s\" then the usage "
		    "(got %d: \"%.90s\")",
		    cases[i].args[0], cases[i].args[1] ? cases[i].args[1] : "",
		    cases[i].status, want, status, first);
	}
}

/* Application options the library refuses to run with: exit 70. */
static void
malformed(void)
{
	static const struct serv_option no_set[] = {
		{ "x", 0, NULL, NULL, NULL }, { NULL, 0, NULL, NULL, NULL } };
	static const struct serv_option no_name[] = {
		{ "", 0, NULL, NULL, set_flag }, { NULL, 0, NULL, NULL, NULL } };
	static const struct serv_option taken[] = {
		{ "myport", 'p', "P", NULL, set_word },
		{ NULL, 0, NULL, NULL, NULL } };
	static const struct serv_option colon[] = {
		{ "colon", ':', NULL, NULL, set_flag },
		{ NULL, 0, NULL, NULL, NULL } };
	static const struct serv_option query[] = {
		{ "query", '?', NULL, NULL, set_flag },
		{ NULL, 0, NULL, NULL, NULL } };
	static const struct serv_option space[] = {
		{ "space", ' ', NULL, NULL, set_flag },
		{ NULL, 0, NULL, NULL, NULL } };
	static const struct serv_option del[] = {
		{ "del", 0x7f, NULL, NULL, set_flag },
		{ NULL, 0, NULL, NULL, NULL } };
	static const struct serv_option twice[] = {
		{ "one", 'Y', NULL, NULL, set_flag },
		{ "two", 'Y', NULL, NULL, set_flag },
		{ NULL, 0, NULL, NULL, NULL } };
	const struct { const struct serv_option *o; const char *what; } m[] = {
		{ no_set, "no set()" }, { no_name, "an empty name" },
		{ taken, "the library's letter -p" }, { colon, "letter ':'" },
		{ query, "letter '?'" }, { space, "letter ' '" },
		{ del, "letter 0x7f" }, { twice, "a letter used twice" },
	};
	char first[1024];
	size_t i;
	int status, usage;

	for (i = 0; i < sizeof m / sizeof m[0]; i++) {
		app = m[i].o;
		status = refused(ARGS("-x"), first, sizeof first, &usage);
		wb_ok(status == HSVR_EX_SOFTWARE &&
		    strstr(first, "is malformed or its letter") != NULL,
		    "an application option with %s: exit 70, \"%s\"",
		    m[i].what, first);
	}
	app = NULL;
	status = refused(ARGS("-W", "x"), first, sizeof first, &usage);
	wb_ok(status == 64 && strstr(first, "unknown option '-W'") != NULL,
	    "without serv_options(), an application letter is unknown");
	app = good_app;
}

int
main(void)
{
	wb_watchdog(120);
	hsvr_log_stderr(0);
	accepted();
	refusals();
	malformed();
	return wb_done();
}
