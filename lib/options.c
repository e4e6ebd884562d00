/*
 * options.c - the command line of servers built on the library's main():
 * defaults, getopt_long parsing with the application's own options, usage.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

const char *serv_config_file;
const char *serv_root_dir;
const char *serv_interface = "";
const char *serv_port = "1966";
const char *serv_user = "nobody";
const char *serv_group = "nobody";

/* Long-only options get codes above every character. */
enum {
	OPT_HELP = 0x100,
	OPT_VERSION,
	OPT_TLS_MIN,
	OPT_TLS_CIPHERS,
	OPT_TLS_CA,
	OPT_TLS_HANDSHAKE,
	OPT_TLS_KEEP,
	OPT_TLS_CIPHERSUITES,
	OPT_TLS_GROUPS,
	OPT_TLS_OCSP,
	OPT_TLS_NO_TICKETS,
	OPT_TLS_MAX_HANDSHAKES,
	OPT_PIDFILE,
	OPT_DRAIN_TIMEOUT,
	OPT_MAX_PER_IP,
	OPT_WRITE_TIMEOUT,
	OPT_REUSEPORT,
	OPT_ACCEPT_THREAD,
	OPT_SECCOMP,
	OPT_CHROOT,
	OPT_LISTEN_FD,
	/* PROXY protocol */
	OPT_PROXY_PROTOCOL,
	OPT_PROXY_FROM,
	OPT_PROXY_TIMEOUT,
	OPT_METRICS,
	OPT_APP         /* OPT_APP + i: the application's option i */
};

struct lib_option {
	const char *name;
	int key;
	const char *arg;
	const char *help;
};

static const struct lib_option lib_options[] = {
	{ "port", 'p', "PORT", "TCP port to listen on (default 1966)" },
	{ "interface", 'i', "ADDR", "listen on ADDR only (default: every IPv4 and IPv6 address)" },
	{ "unix", 'l', "PATH", "listen on a UNIX-domain socket instead of TCP" },
	{ "max-connections", 'm', "N", "at most N connections at once (default 1000)" },
	{ "threads", 'n', "N", "N worker threads (default: online CPUs)" },
	{ "backlog", 'q', "N", "listen queue length (default 1024)" },
	{ "listen-fd", OPT_LISTEN_FD, "N", "serve on the listening socket inherited as descriptor N instead of -p/-i/-l (repeatable)" },
	{ "reuseport", OPT_REUSEPORT, NULL, "a listening socket per worker thread (SO_REUSEPORT) instead of one they share" },
	{ "accept-thread", OPT_ACCEPT_THREAD, NULL, "one thread accepts and deals connections to the workers in turn" },
	{ "timeout", 'T', "SEC", "idle timeout in seconds, 0 for none (default 60)" },
	{ "max-per-ip", OPT_MAX_PER_IP, "N", "at most N connections from one IPv4 address or IPv6 /64, lingering closes included (default: no limit)" },
	{ "write-timeout", OPT_WRITE_TIMEOUT, "SEC", "close a session whose output made no progress for SEC seconds (default: never)" },
	/* PROXY protocol */
	{ "proxy-protocol", OPT_PROXY_PROTOCOL, NULL, "every connection starts with a PROXY protocol header (v1 or v2) naming the client" },
	{ "proxy-from", OPT_PROXY_FROM, "LIST", "addresses allowed to send it, comma-separated CIDRs (default 127.0.0.0/8,::1)" },
	{ "proxy-timeout", OPT_PROXY_TIMEOUT, "SEC", "close a connection whose header has not come in SEC seconds (default 5)" },
	{ "metrics", OPT_METRICS, "ADDR:PORT", "serve GET /metrics (Prometheus) on ADDR:PORT, [IPV6]:PORT or unix:PATH" },
	{ "user", 'u', "USER", "run as USER when started as root (default nobody)" },
	{ "group", 'g', "GROUP", "run as GROUP when started as root (default: USER's group)" },
	{ "root", 'r', "DIR", "change to DIR before serv_init()" },
	{ "config", 'f', "FILE", "configuration file for the application" },
	{ "chroot", OPT_CHROOT, "DIR", "the serving process runs chrooted to DIR (root-owned; needs root)" },
	{ "seccomp", OPT_SECCOMP, NULL, "the serving process may make only the system calls of its allowlist" },
	{ "foreground", 'x', NULL, "stay in the foreground, log to stderr too" },
	{ "terminate", 't', NULL, "exit at once on SIGTERM, without draining" },
	{ "pidfile", OPT_PIDFILE, "PATH", "pidfile (default /var/run/NAME.pid as root)" },
	{ "drain-timeout", OPT_DRAIN_TIMEOUT, "SEC", "on SIGTERM, close what is left after SEC seconds (default 30)" },
	{ "tls-cert", 'c', "FILE", "serve TLS with this PEM certificate chain" },
	{ "tls-key", 'k', "FILE", "unencrypted PEM private key of --tls-cert" },
	{ "tls-min", OPT_TLS_MIN, "VER", "lowest TLS version: 1.2 (default) or 1.3" },
	{ "tls-ciphers", OPT_TLS_CIPHERS, "LIST", "TLS 1.2 ciphers, OpenSSL list (default: ECDHE with AES-GCM or ChaCha20-Poly1305)" },
	{ "tls-ciphersuites", OPT_TLS_CIPHERSUITES, "LIST", "TLS 1.3 suites (default: TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256)" },
	{ "tls-groups", OPT_TLS_GROUPS, "LIST", "key exchange groups (default: [X25519MLKEM768:]X25519:P-256:P-384)" },
	{ "tls-ocsp", OPT_TLS_OCSP, "FILE", "staple this DER OCSP response of --tls-cert (re-read on SIGHUP)" },
	{ "tls-no-tickets", OPT_TLS_NO_TICKETS, NULL, "no session tickets (resumption by the session cache only)" },
	{ "tls-max-handshakes", OPT_TLS_MAX_HANDSHAKES, "N", "at most N TLS handshakes at once, the oldest closed beyond (default: half of -m)" },
	{ "tls-ca", OPT_TLS_CA, "FILE", "require client certificates signed by these CAs" },
	{ "tls-handshake-timeout", OPT_TLS_HANDSHAKE, "SEC", "TLS handshake time limit (default 10)" },
	{ "tls-keep-buffers", OPT_TLS_KEEP, NULL, "keep TLS buffers of idle connections (more memory, fewer allocations)" },
	{ "help", OPT_HELP, NULL, "show this help and exit" },
	{ "version", OPT_VERSION, NULL, "show the version and exit" },
	{ NULL, 0, NULL, NULL }
};

static const struct serv_option *app_options;

void
hsvr_options_defaults(struct hsvr_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->progname = "hsvr";
	(void)snprintf(cfg->name, sizeof cfg->name, "server");
	cfg->port = 1966;
	cfg->max_conn = 1000;
	/* 0: the online CPUs, counted by the parse only without -n. */
	cfg->threads = 0;
	cfg->backlog = 1024;
	cfg->timeout = 60;
	cfg->drain_timeout = 30;
	cfg->handshake_timeout = 10;
	cfg->report_fd = -1;
	cfg->ready_fd = -1;
	cfg->metrics_fd = -1;
	cfg->user = serv_user;
	cfg->group = serv_group;
	/* PROXY protocol */
	cfg->proxy_timeout = 5;
	(void)hsvr_proxy_from_parse(&cfg->proxy_from, "127.0.0.0/8,::1",
	    NULL, 0);
}

static void
print_option(FILE *fp, int key, const char *name, const char *arg,
    const char *help)
{
	char left[64];
	int n;

	if (key > 0 && key < 0x100)
		n = snprintf(left, sizeof left, "  -%c, --%s%s%s", key, name,
		    arg ? " " : "", arg ? arg : "");
	else
		n = snprintf(left, sizeof left, "      --%s%s%s", name,
		    arg ? " " : "", arg ? arg : "");
	fprintf(fp, "%s%*s%s\n", left, n < 30 ? 30 - n : 1, "", help);
}

static void
usage(const struct hsvr_config *cfg, FILE *fp)
{
	const struct lib_option *o;
	const struct serv_option *a;

	fprintf(fp, "usage: %s [options]\n", cfg->progname);
	for (o = lib_options; o->name != NULL; o++)
		print_option(fp, o->key, o->name, o->arg, o->help);
	if (app_options == NULL || app_options[0].name == NULL)
		return;
	fprintf(fp, "options of %s:\n", cfg->progname);
	for (a = app_options; a->name != NULL; a++)
		print_option(fp, a->key, a->name, a->arg,
		    a->help ? a->help : "");
}

static void __attribute__((noreturn, format(printf, 2, 3)))
bad_usage(const struct hsvr_config *cfg, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cfg->progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(cfg, stderr);
	exit(HSVR_EX_USAGE);
}

/* A whole decimal number within [min, max], or bad_usage. */
static long
number(const struct hsvr_config *cfg, const char *opt, const char *s,
    long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		bad_usage(cfg, "invalid argument for --%s: '%s' (%ld to %ld)",
		    opt, s, min, max);
	return v;
}

/* Build the getopt tables from the library's and the application's options. */
static struct option *
build_tables(const struct hsvr_config *cfg, char *shortopts, size_t cap)
{
	const struct lib_option *o;
	const struct serv_option *a;
	struct option *lo;
	size_t n = 0, i = 0, len = 0;

	for (a = app_options; a != NULL && a->name != NULL; a++)
		n++;
	lo = calloc(n + sizeof lib_options / sizeof lib_options[0],
	    sizeof *lo);
	if (lo == NULL) {
		fprintf(stderr, "%s: out of memory\n", cfg->progname);
		exit(HSVR_EX_OSERR);
	}
	shortopts[len++] = ':';
	for (o = lib_options; o->name != NULL; o++, i++) {
		lo[i] = (struct option){ o->name, o->arg ? required_argument :
		    no_argument, NULL, o->key };
		if (o->key < 0x100) {
			shortopts[len++] = (char)o->key;
			if (o->arg)
				shortopts[len++] = ':';
		}
	}
	/* Terminated all along: the letter check below reads it as a string. */
	shortopts[len] = '\0';
	for (n = 0, a = app_options; a != NULL && a->name != NULL; a++, n++) {
		if (a->set == NULL || a->name[0] == '\0' ||
		    (a->key != 0 && (a->key < 0x21 || a->key > 0x7e ||
		    strchr(shortopts, a->key) != NULL || a->key == ':' ||
		    a->key == '?'))) {
			fprintf(stderr, "%s: application option '%s' is "
			    "malformed or its letter '%c' is taken\n",
			    cfg->progname, a->name, a->key ? a->key : ' ');
			exit(HSVR_EX_SOFTWARE);
		}
		lo[i++] = (struct option){ a->name, a->arg ? required_argument :
		    no_argument, NULL, OPT_APP + (int)n };
		if (a->key != 0 && len + 3 < cap) {
			shortopts[len++] = (char)a->key;
			if (a->arg)
				shortopts[len++] = ':';
			shortopts[len] = '\0';
		}
	}
	return lo;
}

static int
app_index_of_key(int key)
{
	const struct serv_option *a;
	int n = 0;

	for (a = app_options; a != NULL && a->name != NULL; a++, n++)
		if (a->key == key)
			return n;
	return -1;
}

static void
apply(struct hsvr_config *cfg, int key, const char *arg, int *tcp_given,
    int *proxy_given)
{
	switch (key) {
	case 'p':
		cfg->port = (uint16_t)number(cfg, "port", arg, 1, 65535);
		serv_port = arg;
		*tcp_given = 1;
		break;
	case 'i':
		if (*arg == '\0')
			bad_usage(cfg, "invalid argument for --interface: ''");
		cfg->interface = serv_interface = arg;
		*tcp_given = 1;
		break;
	case 'l':
		if (*arg == '\0' || strlen(arg) >=
		    sizeof(((struct sockaddr_un *)0)->sun_path))
			bad_usage(cfg, "invalid argument for --unix: '%s' "
			    "(empty or too long)", arg);
		cfg->unix_path = arg;
		break;
	case 'm':
		cfg->max_conn = (int)number(cfg, "max-connections", arg, 1,
		    INT_MAX / 2);
		break;
	case 'n':
		cfg->threads = (int)number(cfg, "threads", arg, 1,
		    HSVR_MAX_THREADS);
		break;
	case 'q':
		cfg->backlog = (int)number(cfg, "backlog", arg, 1, 65535);
		break;
	case 'T':
		cfg->timeout = (int)number(cfg, "timeout", arg, 0,
		    INT_MAX / 1000);
		break;
	case 'u':
		cfg->user = serv_user = arg;
		break;
	case 'g':
		cfg->group = serv_group = arg;
		cfg->group_given = 1;
		break;
	case 'r':
		cfg->root_dir = serv_root_dir = arg;
		break;
	case 'f':
		cfg->config_file = serv_config_file = arg;
		break;
	case 'x':
		cfg->foreground = 1;
		break;
	case 't':
		cfg->terminate = 1;
		break;
	case OPT_PIDFILE:
		if (*arg == '\0')
			bad_usage(cfg, "invalid argument for --pidfile: ''");
		cfg->pidfile = arg;
		break;
	case OPT_MAX_PER_IP:
		cfg->max_per_ip = (int)number(cfg, "max-per-ip", arg, 0,
		    INT_MAX / 2);
		break;
	case OPT_LISTEN_FD:
		if (cfg->n_listen_fds >= HSVR_MAX_LISTEN_FDS)
			bad_usage(cfg, "at most %d listening sockets may be "
			    "inherited", HSVR_MAX_LISTEN_FDS);
		cfg->listen_fds[cfg->n_listen_fds++] = (int)number(cfg,
		    "listen-fd", arg, 0, INT_MAX);
		break;
	case OPT_REUSEPORT:
		cfg->reuseport = 1;
		break;
	case OPT_ACCEPT_THREAD:
		cfg->accept_thread = 1;
		break;
	case OPT_SECCOMP:
#ifndef HAVE_SECCOMP
		fprintf(stderr, "%s: --seccomp: this build of hsvr has no "
		    "seccomp support (libseccomp)\n", cfg->progname);
		exit(HSVR_EX_USAGE);
#endif
		cfg->seccomp = 1;
		break;
	case OPT_CHROOT:
		if (arg[0] != '/')
			bad_usage(cfg, "invalid argument for --chroot: '%s' "
			    "(an absolute path)", arg);
		cfg->chroot_dir = arg;
		break;
	case OPT_WRITE_TIMEOUT:
		cfg->write_timeout = (int)number(cfg, "write-timeout", arg, 0,
		    INT_MAX / 1000);
		break;
	case OPT_DRAIN_TIMEOUT:
		cfg->drain_timeout = (int)number(cfg, "drain-timeout", arg, 0,
		    86400);
		break;
	case 'c':
		cfg->tls_cert = arg;
		break;
	case 'k':
		cfg->tls_key = arg;
		break;
	case OPT_TLS_MIN:
		if (strcmp(arg, "1.2") != 0 && strcmp(arg, "1.3") != 0)
			bad_usage(cfg, "invalid argument for --tls-min: '%s' "
			    "(1.2 or 1.3)", arg);
		cfg->tls_min13 = strcmp(arg, "1.3") == 0;
		break;
	case OPT_TLS_CIPHERS:
		cfg->tls_ciphers = arg;
		break;
	case OPT_TLS_CA:
		cfg->tls_ca = arg;
		break;
	case OPT_TLS_HANDSHAKE:
		cfg->handshake_timeout = (int)number(cfg,
		    "tls-handshake-timeout", arg, 1, 3600);
		break;
	case OPT_TLS_KEEP:
		cfg->tls_keep_buffers = 1;
		break;
	case OPT_TLS_CIPHERSUITES:
		cfg->tls_ciphersuites = arg;
		break;
	case OPT_TLS_GROUPS:
		cfg->tls_groups = arg;
		break;
	case OPT_TLS_OCSP:
		cfg->tls_ocsp = arg;
		break;
	case OPT_TLS_NO_TICKETS:
		cfg->tls_no_tickets = 1;
		break;
	/* PROXY protocol */
	case OPT_PROXY_PROTOCOL:
		cfg->proxy_protocol = 1;
		break;
	case OPT_PROXY_FROM: {
		char why[128];

		if (hsvr_proxy_from_parse(&cfg->proxy_from, arg, why,
		    sizeof why) != 0)
			bad_usage(cfg, "invalid argument for --proxy-from: "
			    "'%s' (%s)", arg, why);
		*proxy_given = 1;
		break;
	}
	case OPT_PROXY_TIMEOUT:
		cfg->proxy_timeout = (int)number(cfg, "proxy-timeout", arg, 1,
		    3600);
		*proxy_given = 1;
		break;
	case OPT_METRICS: {
		char why[128];

		if (hsvr_listen_metrics_parse(arg, why, sizeof why) != 0)
			bad_usage(cfg, "invalid argument for --metrics: '%s' "
			    "(%s)", arg, why);
		break;
	}
	case OPT_TLS_MAX_HANDSHAKES:
		cfg->max_handshakes = (int)number(cfg, "tls-max-handshakes",
		    arg, 1, INT_MAX / 2);
		break;
	}
}

/*
 * -n's default.  Counted only when -n is not given: sysconf reads
 * /sys/devices/system/cpu/online, three system calls at every start.
 */
static int
online_cpus(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	return ncpu < 1 ? 1 : ncpu > HSVR_MAX_THREADS ? HSVR_MAX_THREADS :
	    (int)ncpu;
}

void
hsvr_options_parse(struct hsvr_config *cfg, int argc, char **argv)
{
	char shortopts[256];
	struct option *lo;
	const char *slash;
	int key, tcp_given = 0, proxy_given = 0, idx;

	if (argc > 0 && argv[0] != NULL) {
		slash = strrchr(argv[0], '/');
		cfg->progname = slash ? slash + 1 : argv[0];
		hsvr_log_name(cfg->progname);
	}
	app_options = hsvr_hooks_options();
	lo = build_tables(cfg, shortopts, sizeof shortopts);
	opterr = 0;
	while ((key = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		if (key == '?') {
			if (optopt > 0 && optopt < 0x100)
				bad_usage(cfg, "unknown option '-%c'", optopt);
			bad_usage(cfg, "unknown option '%s'", argv[optind - 1]);
		}
		if (key == ':') {
			if (optopt > 0 && optopt < 0x100)
				bad_usage(cfg, "option '-%c' needs an argument",
				    optopt);
			bad_usage(cfg, "option '%s' needs an argument",
			    argv[optind - 1]);
		}
		if (key == OPT_HELP) {
			usage(cfg, stdout);
			exit(0);
		}
		if (key == OPT_VERSION) {
			printf("%s (hsvr %s)\n", cfg->progname, HSVR_VERSION);
			exit(0);
		}
		idx = key >= OPT_APP ? key - OPT_APP : key < 0x100 ?
		    app_index_of_key(key) : -1;
		if (idx >= 0) {
			if (app_options[idx].set(optarg) != 0)
				bad_usage(cfg, "invalid argument for --%s: '%s'",
				    app_options[idx].name,
				    optarg ? optarg : "");
			continue;
		}
		/* Start-up kept only the descriptors it saw spelt out. */
		if (key == OPT_LISTEN_FD && strncmp(argv[optind - 1],
		    "--listen-fd=", 12) != 0 && (optind < 2 ||
		    strcmp(argv[optind - 2], "--listen-fd") != 0))
			bad_usage(cfg, "write --listen-fd in full");
		apply(cfg, key, optarg, &tcp_given, &proxy_given);
	}
	free(lo);
	if (cfg->threads == 0)
		cfg->threads = online_cpus();
	if (optind < argc)
		bad_usage(cfg, "unexpected argument '%s'", argv[optind]);
	if (cfg->unix_path != NULL && tcp_given)
		bad_usage(cfg, "--unix cannot be combined with --port or "
		    "--interface");
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
		bad_usage(cfg, "--tls-cert and --tls-key go together");
	if (cfg->tls_cert == NULL && (cfg->tls_ca || cfg->tls_ciphers))
		bad_usage(cfg, "--tls-ca and --tls-ciphers need --tls-cert");
	if (cfg->tls_cert == NULL && (cfg->tls_ciphersuites ||
	    cfg->tls_groups || cfg->tls_ocsp || cfg->tls_no_tickets ||
	    cfg->max_handshakes))
		bad_usage(cfg, "--tls-ciphersuites, --tls-groups, --tls-ocsp, "
		    "--tls-no-tickets and --tls-max-handshakes need --tls-cert");
	if (cfg->n_listen_fds > cfg->listen_activated &&
	    (cfg->unix_path != NULL || tcp_given))
		bad_usage(cfg, "--listen-fd cannot be combined with --port, "
		    "--interface or --unix");
	if (cfg->n_listen_fds > 0 && cfg->reuseport)
		bad_usage(cfg, "--reuseport needs sockets of its own: an "
		    "inherited one (--listen-fd, LISTEN_FDS) is shared by "
		    "the workers");
	/* PROXY protocol */
	if (proxy_given && !cfg->proxy_protocol)
		bad_usage(cfg, "--proxy-from and --proxy-timeout need "
		    "--proxy-protocol");
	if (cfg->reuseport && cfg->accept_thread)
		bad_usage(cfg, "--reuseport and --accept-thread exclude each "
		    "other");
}

/*
 * Before anything is parsed (and before start-up closes what it did not
 * open): the descriptors --listen-fd N or --listen-fd=N name, up to "--".
 * An abbreviated option is refused by the parse.
 */
int
hsvr_options_listen_fds(int argc, char **argv, int *fds, int max)
{
	const char *v;
	char *end;
	long fd;
	int i, n = 0;

	for (i = 1; i < argc && argv[i] != NULL && n < max; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--listen-fd") == 0 && i + 1 < argc)
			v = argv[++i];
		else if (strncmp(argv[i], "--listen-fd=", 12) == 0)
			v = argv[i] + 12;
		else
			continue;
		errno = 0;
		fd = strtol(v, &end, 10);
		if (*v != '\0' && *end == '\0' && errno == 0 &&
		    fd > STDERR_FILENO && fd <= INT_MAX)
			fds[n++] = (int)fd;
	}
	return n;
}
