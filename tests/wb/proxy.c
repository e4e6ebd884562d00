/*
 * proxy.c - white-box test of the PROXY protocol header parser and the
 * --proxy-from list (lib/proxy.c), without sockets.
 *
 * Every vector is fed whole, byte by byte, and split in two at every byte,
 * each time followed by application bytes ("GET /\r\n") in the same
 * feed: a valid header ends DONE with the address it names (or "keep the
 * real peer" for v1 UNKNOWN, v2 LOCAL, AF_UNSPEC and AF_UNIX), having taken
 * exactly its own bytes and none of what follows; an invalid one ends BAD,
 * never DONE, whatever the split.  The feeding follows the session's way
 * (peek at most hsvr_proxy_want bytes, take what feed used), and want is
 * at least 1 while the header goes on.  Each rule of the spec has a valid and
 * an invalid vector: v1 within 107 bytes ending in CRLF, single spaces,
 * ports 0-65535 without leading zeros, addresses of the protocol; v2
 * signature, version 2, command LOCAL or PROXY, the defined families,
 * length covering the addresses, TLVs inside the length, CRC32C checked
 * (computed here by a table, not lib/'s bitwise loop, and checked against
 * the standard check value).  --proxy-from: lists parsed or refused, and
 * addresses matched by prefix, IPv4 and IPv6.
 *
 * Shown to fail: with v1_port()'s leading-zero test removed, the "port
 * 080" vector is accepted; with v2_end()'s CRC comparison removed, the
 * "CRC32C wrong" vector is accepted; with hsvr_proxy_feed() consuming all
 * it is given, the "took only the header" checks fail.
 */
#include "hsvr-int.h"
#include "wb.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static const char tail[] = "GET /\r\n";

struct expect {
	int ok;                 /* DONE, else BAD */
	int local;              /* DONE: the real peer stands */
	const char *host;       /* DONE, !local: the client's address */
	unsigned short port;
};

/* Feed v (then tail) in pieces cut at the cuts; 1 if it went as e says. */
static int
run_split(const unsigned char *v, size_t n, const struct expect *e,
    const size_t *cuts, int ncuts, char *why, size_t whylen)
{
	unsigned char all[70000];
	struct hsvr_proxy p;
	size_t at = 0, end, used, want, got;
	int i;
	char host[INET6_ADDRSTRLEN];
	uint8_t key[16];
	unsigned short port;

	memcpy(all, v, n);
	memcpy(all + n, tail, sizeof tail - 1);
	hsvr_proxy_init(&p);
	for (i = 0; i <= ncuts && p.state == HSVR_PROXY_MORE; i++) {
		end = i < ncuts ? cuts[i] : n + sizeof tail - 1;
		/* As the session does: peek at most want bytes, again and
		 * again while the header goes on and bytes are there. */
		while (at < end && p.state == HSVR_PROXY_MORE) {
			want = hsvr_proxy_want(&p);
			if (want < 1) {
				(void)snprintf(why, whylen, "want %zu at %zu",
				    want, at);
				return 0;
			}
			got = end - at > want ? want : end - at;
			used = hsvr_proxy_feed(&p, all + at, got);
			if (p.state == HSVR_PROXY_MORE && used != got) {
				(void)snprintf(why, whylen, "took %zu of %zu, "
				    "not done", used, got);
				return 0;
			}
			at += used;
		}
	}
	if (!e->ok) {
		if (p.state != HSVR_PROXY_BAD)
			(void)snprintf(why, whylen, "state %d, not BAD",
			    p.state);
		return p.state == HSVR_PROXY_BAD && p.why != NULL;
	}
	if (p.state != HSVR_PROXY_DONE) {
		(void)snprintf(why, whylen, "state %d (%s)", p.state,
		    p.why ? p.why : "-");
		return 0;
	}
	if (at != n || p.have != n) {
		(void)snprintf(why, whylen, "took %zu bytes, the header has "
		    "%zu", at, n);
		return 0;
	}
	if (e->local != p.local) {
		(void)snprintf(why, whylen, "local %d", p.local);
		return 0;
	}
	if (e->local)
		return 1;
	if (hsvr_search_key((struct sockaddr *)&p.addr, key, host,
	    sizeof host, &port) != 0 || strcmp(host, e->host) != 0 ||
	    port != e->port) {
		(void)snprintf(why, whylen, "client %s port %hu", host, port);
		return 0;
	}
	return 1;
}

/* Whole, byte by byte, and cut in two at every byte. */
static void
check(const char *name, const unsigned char *v, size_t n,
    const struct expect *e)
{
	static size_t cuts[70000];
	char why[200] = "";
	size_t k;
	int good = 1;

	if (!run_split(v, n, e, NULL, 0, why, sizeof why)) {
		good = 0;
		goto out;
	}
	for (k = 0; k < n + 1 && k < sizeof cuts / sizeof cuts[0]; k++)
		cuts[k] = k + 1;
	if (!run_split(v, n, e, cuts, (int)k, why, sizeof why)) {
		good = 0;
		(void)strncat(why, " (byte by byte)", sizeof why - strlen(why) - 1);
		goto out;
	}
	for (k = 1; k < n; k++)
		if (!run_split(v, n, e, &k, 1, why, sizeof why)) {
			good = 0;
			(void)snprintf(why + strlen(why),
			    sizeof why - strlen(why), " (cut at %zu)", k);
			goto out;
		}
out:
	wb_ok(good, "%s: %s%s%s", name, e->ok ? (e->local ? "valid, real peer"
	    : "valid") : "refused", good ? "" : ": ", why);
}

static void
v1(const char *name, const char *line, int ok, int local, const char *host,
    unsigned short port)
{
	struct expect e = { ok, local, host, port };

	check(name, (const unsigned char *)line, strlen(line), &e);
}

/* ---- v2 vectors, built here ---- */

static uint32_t crc_table[256];

static void
crc_table_init(void)
{
	uint32_t c;
	unsigned i, k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t
crc32c(const unsigned char *b, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n-- > 0)
		c = crc_table[(c ^ *b++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

struct v2 {
	unsigned char b[70000];
	size_t n;
};

static void
v2_start(struct v2 *h, unsigned char ver_cmd, unsigned char fam)
{
	static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00,
	    0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

	memcpy(h->b, sig, 12);
	h->b[12] = ver_cmd;
	h->b[13] = fam;
	h->n = 16;
}

static void
v2_put(struct v2 *h, const void *p, size_t n)
{
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void
v2_ip4(struct v2 *h, const char *src, const char *dst, uint16_t sp,
    uint16_t dp)
{
	struct in_addr a;

	inet_pton(AF_INET, src, &a);
	v2_put(h, &a, 4);
	inet_pton(AF_INET, dst, &a);
	v2_put(h, &a, 4);
	sp = htons(sp), dp = htons(dp);
	v2_put(h, &sp, 2);
	v2_put(h, &dp, 2);
}

static void
v2_tlv(struct v2 *h, unsigned char type, size_t len, unsigned char fill)
{
	unsigned char t[3] = { type, (unsigned char)(len >> 8),
	    (unsigned char)len };

	v2_put(h, t, 3);
	memset(h->b + h->n, fill, len);
	h->n += len;
}

/* The length field: what follows the 16 bytes, plus adjust. */
static void
v2_len(struct v2 *h, int adjust)
{
	size_t len = (size_t)((long)h->n - 16 + adjust);

	h->b[14] = (unsigned char)(len >> 8);
	h->b[15] = (unsigned char)len;
}

/* A CRC32C TLV at its end, right (or off by one), the length set. */
static void
v2_crc(struct v2 *h, int wrong)
{
	size_t at;
	uint32_t c;

	v2_tlv(h, 0x04, 4, 0);
	at = h->n - 4;
	v2_len(h, 0);
	c = crc32c(h->b, h->n) + (wrong ? 1u : 0u);
	h->b[at] = (unsigned char)(c >> 24);
	h->b[at + 1] = (unsigned char)(c >> 16);
	h->b[at + 2] = (unsigned char)(c >> 8);
	h->b[at + 3] = (unsigned char)c;
}

static void
v2_check(const char *name, const struct v2 *h, int ok, int local,
    const char *host, unsigned short port)
{
	struct expect e = { ok, local, host, port };

	check(name, h->b, h->n, &e);
}

/* v1 lines refused (and what is not a header at all). */
static const struct {
	const char *name, *line;
} bad_v1[] = {
	{ "v1 LF without CR",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n" },
	{ "v1 CR without LF",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx\r\n" },
	{ "v1 two spaces",
	    "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n" },
	{ "v1 space at the end",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n" },
	{ "v1 a field missing",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n" },
	{ "v1 a field too many",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n" },
	{ "v1 port 080",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n" },
	{ "v1 port 65536",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n" },
	{ "v1 port +1",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n" },
	{ "v1 port empty",
	    "PROXY TCP4 1.2.3.4 5.6.7.8  2\r\n" },
	{ "v1 TCP4 with IPv6",
	    "PROXY TCP4 ::1 5.6.7.8 1 2\r\n" },
	{ "v1 TCP6 with IPv4",
	    "PROXY TCP6 1.2.3.4 ::1 1 2\r\n" },
	{ "v1 IPv4 leading zero",
	    "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n" },
	{ "v1 TCP5",
	    "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n" },
	{ "v1 UNKNOWNX",
	    "PROXY UNKNOWNX\r\n" },
	{ "v1 lower case",
	    "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n" },
	{ "v1 PROXY without space",
	    "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n" },
	{ "no header: a request",
	    "GET / HTTP/1.0\r\n" },
};

static void
test_v1(void)
{
	char line[300];
	size_t i;

	v1("v1 TCP4", "PROXY TCP4 192.0.2.7 127.0.0.1 56324 443\r\n", 1, 0,
	    "192.0.2.7", 56324);
	v1("v1 TCP6", "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n", 1, 0,
	    "2001:db8::1", 65535);
	v1("v1 port 0", "PROXY TCP4 10.1.2.3 10.0.0.1 0 80\r\n", 1, 0,
	    "10.1.2.3", 0);
	v1("v1 UNKNOWN", "PROXY UNKNOWN\r\n", 1, 1, NULL, 0);
	v1("v1 UNKNOWN with fields", "PROXY UNKNOWN ffff::1 ::2 1 2\r\n", 1,
	    1, NULL, 0);
	/* 107 bytes exactly, CRLF included: the longest valid line */
	(void)snprintf(line, sizeof line, "PROXY UNKNOWN %.*s\r\n", 91,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	wb_ok(strlen(line) == 107, "the longest line has 107 bytes");
	v1("v1 107 bytes", line, 1, 1, NULL, 0);
	(void)snprintf(line, sizeof line, "PROXY UNKNOWN %.*s\r\n", 92,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	v1("v1 108 bytes", line, 0, 0, NULL, 0);
	v1("v1 TCP6 at full length",
	    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", 1, 0,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	for (i = 0; i < sizeof bad_v1 / sizeof bad_v1[0]; i++)
		v1(bad_v1[i].name, bad_v1[i].line, 0, 0, NULL, 0);
	check("v1 NUL in the line", (const unsigned char *)
	    "PROXY UNKNOWN \0x\r\n", 18, &(struct expect){ 0, 0, NULL, 0 });
}

/* v2 headers refused for their first 16 bytes (sig_flip: byte 6 of it). */
static const struct {
	unsigned char ver_cmd, fam, sig_flip;
	const char *name;
} bad_head[] = {
	{ 0x21, 0x21, 0, "v2 TCP6 with 12 bytes" },
	{ 0x11, 0x11, 0, "v2 version 1" },
	{ 0x31, 0x11, 0, "v2 version 3" },
	{ 0x22, 0x11, 0, "v2 command 2" },
	{ 0x21, 0x41, 0, "v2 family 4" },
	{ 0x21, 0x13, 0, "v2 protocol 3" },
	{ 0x21, 0x10, 0, "v2 INET with protocol UNSPEC" },
	{ 0x21, 0x11, 0x20, "v2 signature wrong" },
};

static void
test_v2(void)
{
	struct v2 h;
	unsigned char a6[36] = { 0 };
	unsigned short p;
	size_t i;

	v2_start(&h, 0x21, 0x11);
	v2_ip4(&h, "198.51.100.9", "127.0.0.1", 40000, 443);
	v2_len(&h, 0);
	v2_check("v2 PROXY TCP4", &h, 1, 0, "198.51.100.9", 40000);

	v2_start(&h, 0x21, 0x21);
	inet_pton(AF_INET6, "2001:db8::5", a6);
	inet_pton(AF_INET6, "::1", a6 + 16);
	p = htons(1234);
	memcpy(a6 + 32, &p, 2);
	v2_put(&h, a6, 36);
	v2_len(&h, 0);
	v2_check("v2 PROXY TCP6", &h, 1, 0, "2001:db8::5", 1234);

	v2_start(&h, 0x21, 0x12);
	v2_ip4(&h, "198.51.100.10", "127.0.0.1", 5, 6);
	v2_len(&h, 0);
	v2_check("v2 PROXY UDP4", &h, 1, 0, "198.51.100.10", 5);

	v2_start(&h, 0x20, 0x00);
	v2_len(&h, 0);
	v2_check("v2 LOCAL", &h, 1, 1, NULL, 0);

	v2_start(&h, 0x20, 0x11);
	v2_ip4(&h, "198.51.100.9", "127.0.0.1", 1, 2);
	v2_len(&h, 0);
	v2_check("v2 LOCAL with addresses", &h, 1, 1, NULL, 0);

	v2_start(&h, 0x21, 0x00);
	v2_len(&h, 0);
	v2_check("v2 PROXY UNSPEC", &h, 1, 1, NULL, 0);

	v2_start(&h, 0x21, 0x31);
	memset(h.b + h.n, 'u', 216);
	h.n += 216;
	v2_len(&h, 0);
	v2_check("v2 PROXY UNIX", &h, 1, 1, NULL, 0);

	v2_start(&h, 0x21, 0x11);
	v2_ip4(&h, "203.0.113.1", "127.0.0.1", 7, 8);
	v2_tlv(&h, 0x01, 2, 'h');       /* ALPN */
	v2_tlv(&h, 0x04 ^ 0x01, 0, 0);  /* an empty TLV of type 5 */
	v2_tlv(&h, 0x20, 300, 0xaa);    /* SSL, skipped whole */
	v2_len(&h, 0);
	v2_check("v2 TLVs skipped", &h, 1, 0, "203.0.113.1", 7);

	v2_start(&h, 0x21, 0x11);
	v2_ip4(&h, "203.0.113.1", "127.0.0.1", 7, 8);
	v2_tlv(&h, 0x03, 65535 - 12 - 3, 0x55);
	v2_len(&h, 0);
	v2_check("v2 the longest header", &h, 1, 0, "203.0.113.1", 7);

	v2_start(&h, 0x21, 0x11);
	v2_ip4(&h, "203.0.113.2", "127.0.0.1", 9, 8);
	v2_tlv(&h, 0x01, 2, 'h');
	v2_crc(&h, 0);
	v2_check("v2 CRC32C right", &h, 1, 0, "203.0.113.2", 9);

	v2_start(&h, 0x21, 0x11);
	v2_ip4(&h, "203.0.113.2", "127.0.0.1", 9, 8);
	v2_tlv(&h, 0x01, 2, 'h');
	v2_crc(&h, 1);
	v2_check("v2 CRC32C wrong", &h, 0, 0, NULL, 0);

	v2_start(&h, 0x21, 0x11);
	v2_ip4(&h, "203.0.113.2", "127.0.0.1", 9, 8);
	v2_tlv(&h, 0x04, 3, 0);
	v2_len(&h, 0);
	v2_check("v2 CRC32C of 3 bytes", &h, 0, 0, NULL, 0);

	v2_start(&h, 0x21, 0x11);
	v2_ip4(&h, "203.0.113.2", "127.0.0.1", 9, 8);
	v2_crc(&h, 0);
	v2_tlv(&h, 0x04, 4, 0);
	v2_len(&h, 0);
	v2_check("v2 two CRC32C", &h, 0, 0, NULL, 0);

	v2_start(&h, 0x21, 0x11);
	v2_ip4(&h, "203.0.113.3", "127.0.0.1", 1, 2);
	v2_tlv(&h, 0x01, 10, 'x');
	v2_len(&h, -1);
	v2_check("v2 TLV past the length", &h, 0, 0, NULL, 0);

	v2_start(&h, 0x21, 0x11);
	v2_ip4(&h, "203.0.113.3", "127.0.0.1", 1, 2);
	v2_put(&h, "\x01\x00", 2);
	v2_len(&h, 0);
	v2_check("v2 TLV header cut by the length", &h, 0, 0, NULL, 0);

	v2_start(&h, 0x21, 0x11);
	v2_ip4(&h, "203.0.113.3", "127.0.0.1", 1, 2);
	h.n--;
	v2_len(&h, 0);
	v2_check("v2 length short of the addresses", &h, 0, 0, NULL, 0);

	/* An IPv4 address block behind a wrong version, command or family. */
	for (i = 0; i < sizeof bad_head / sizeof bad_head[0]; i++) {
		v2_start(&h, bad_head[i].ver_cmd, bad_head[i].fam);
		v2_ip4(&h, "203.0.113.3", "127.0.0.1", 1, 2);
		v2_len(&h, 0);
		h.b[6] ^= bad_head[i].sig_flip;
		v2_check(bad_head[i].name, &h, 0, 0, NULL, 0);
	}
}

static int
key_of(const char *ip, uint8_t key[16])
{
	struct sockaddr_storage ss;
	char host[INET6_ADDRSTRLEN];
	unsigned short port;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, ip,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	return hsvr_search_key((struct sockaddr *)&ss, key, host, sizeof host,
	    &port);
}

static void
from(const char *list, const char *ip, int want)
{
	struct hsvr_proxy_from f;
	char err[200];
	uint8_t key[16];

	if (hsvr_proxy_from_parse(&f, list, err, sizeof err) != 0 ||
	    key_of(ip, key) != 0) {
		wb_ok(0, "--proxy-from %s: refused: %s", list, err);
		return;
	}
	wb_ok(hsvr_proxy_from_match(&f, key) == want, "--proxy-from %s: %s %s",
	    list, ip, want ? "allowed" : "not allowed");
}

static void
from_bad(const char *list)
{
	struct hsvr_proxy_from f;
	char err[200] = "";

	wb_ok(hsvr_proxy_from_parse(&f, list, err, sizeof err) != 0 &&
	    err[0] != '\0', "--proxy-from '%s' refused (%s)", list, err);
}

static void
test_from(void)
{
	char many[1000];
	size_t at;
	int i;

	from("127.0.0.0/8,::1", "127.0.0.1", 1);
	from("127.0.0.0/8,::1", "127.255.3.4", 1);
	from("127.0.0.0/8,::1", "::1", 1);
	from("127.0.0.0/8,::1", "128.0.0.1", 0);
	from("127.0.0.0/8,::1", "::2", 0);
	from("127.0.0.2/32", "127.0.0.2", 1);
	from("127.0.0.2/32", "127.0.0.1", 0);
	from("127.0.0.2", "127.0.0.2", 1);
	from("10.0.0.0/9", "10.127.255.255", 1);
	from("10.0.0.0/9", "10.128.0.0", 0);
	from("0.0.0.0/0", "203.0.113.9", 1);
	from("0.0.0.0/0", "2001:db8::1", 0);
	from("2001:db8::/33", "2001:db8:7fff::1", 1);
	from("2001:db8::/33", "2001:db8:8000::1", 0);
	from("::/0", "2001:db8::1", 1);
	from("::ffff:10.0.0.0/104", "10.9.8.7", 1);
	from_bad("");
	from_bad(",");
	from_bad("127.0.0.1,");
	from_bad("127.0.0.1/33");
	from_bad("::1/129");
	from_bad("127.0.0.1/");
	from_bad("127.0.0.0/08");
	from_bad("127.0.0.0/-8");
	from_bad("localhost");
	from_bad("127.0.0.1 ");
	for (i = 0, at = 0; i < HSVR_PROXY_FROM_MAX + 1; i++)
		at += (size_t)snprintf(many + at, sizeof many - at, "%s10.0.0.%d",
		    i ? "," : "", i);
	from_bad(many);
	many[strlen(many) - strlen(",10.0.0.32")] = '\0';
	from(many, "10.0.0.31", 1);     /* 32 entries: the most */
}

int
main(void)
{
	static const unsigned char check_value[] = "123456789";

	crc_table_init();
	wb_ok(crc32c(check_value, 9) == 0xe3069283u,
	    "the test's CRC32C gives the standard check value");
	test_v1();
	test_v2();
	test_from();
	printf("1..%d\n", wb_n);
	return wb_failed ? 1 : 0;
}
