/*
 * proxy.c - the PROXY protocol header (haproxy's doc/proxy-protocol.txt,
 * versions 1 and 2) parsed byte by byte as it arrives, taking no byte
 * that follows it; and the --proxy-from list of addresses allowed to
 * send one.
 */
#include "hsvr-int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V1_PREFIX "PROXY "
#define V2_FIXED 16             /* signature, version/command, family, length */
#define PP2_TYPE_CRC32C 0x04

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* CRC-32C (Castagnoli), reflected, one byte at a time: headers are short. */
static uint32_t
crc32c_byte(uint32_t crc, unsigned char b)
{
	int k;

	crc ^= b;
	for (k = 0; k < 8; k++)
		crc = (crc & 1u) != 0 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	return crc;
}

void
hsvr_proxy_init(struct hsvr_proxy *p)
{
	memset(p, 0, sizeof *p);
	p->crc = 0xffffffffu;
}

/* How many bytes may still belong to the header (peek at most these). */
size_t
hsvr_proxy_want(const struct hsvr_proxy *p)
{
	if (p->state != HSVR_PROXY_MORE)
		return 0;
	if (p->version == 2 && p->have >= V2_FIXED)
		return p->total - p->have;
	return HSVR_PROXY_V1_MAX - p->have;
}

static int
bad(struct hsvr_proxy *p, const char *why)
{
	p->state = HSVR_PROXY_BAD;
	p->why = why;
	return -1;
}

/* A port of v1: 0 to 65535 in decimal, no sign, no leading zero. */
static int
v1_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/*
 * The whole v1 line is in p->buf, CRLF at its end: "PROXY UNKNOWN" and
 * anything up to the CRLF, or "PROXY TCP4|TCP6 SRC DST SPORT DPORT", one
 * space between fields.
 */
static int
v1_line(struct hsvr_proxy *p)
{
	char line[HSVR_PROXY_V1_MAX + 1], *f[5], *at;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&p->addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&p->addr;
	struct in6_addr dst;
	uint16_t sport, dport;
	int i, af;

	memcpy(line, p->buf, p->have - 2);
	line[p->have - 2] = '\0';
	if (memchr(line, '\0', p->have - 2) != NULL)
		return bad(p, "v1: a NUL byte in the line");
	at = line + strlen(V1_PREFIX);
	if (strncmp(at, "UNKNOWN", 7) == 0 && (at[7] == '\0' || at[7] == ' ')) {
		p->local = 1;   /* the rest is ignored, as the spec says */
		return 1;
	}
	for (i = 0; i < 5; i++) {
		f[i] = at;
		at = strchr(at, ' ');
		if ((at == NULL) != (i == 4))
			return bad(p, "v1: not five fields after PROXY");
		if (at != NULL)
			*at++ = '\0';
	}
	if (strcmp(f[0], "TCP4") == 0)
		af = AF_INET;
	else if (strcmp(f[0], "TCP6") == 0)
		af = AF_INET6;
	else
		return bad(p, "v1: protocol neither TCP4, TCP6 nor UNKNOWN");
	memset(&p->addr, 0, sizeof p->addr);
	if (af == AF_INET ? inet_pton(AF_INET, f[1], &s4->sin_addr) != 1 ||
	    inet_pton(AF_INET, f[2], &dst) != 1 :
	    inet_pton(AF_INET6, f[1], &s6->sin6_addr) != 1 ||
	    inet_pton(AF_INET6, f[2], &dst) != 1)
		return bad(p, "v1: an address not of its protocol");
	if (v1_port(f[3], &sport) != 0 || v1_port(f[4], &dport) != 0)
		return bad(p, "v1: a port not 0 to 65535 without leading zeros");
	p->addr.ss_family = (sa_family_t)af;
	if (af == AF_INET)
		s4->sin_port = htons(sport);
	else
		s6->sin6_port = htons(sport);
	return 1;
}

/* One byte of a v1 header: -1 bad, 0 more, 1 done. */
static int
v1_byte(struct hsvr_proxy *p, unsigned char b)
{
	p->buf[p->have++] = b;
	if (p->have <= strlen(V1_PREFIX)) {
		if (b != (unsigned char)V1_PREFIX[p->have - 1])
			return bad(p, "neither a v1 nor a v2 signature");
		return 0;
	}
	if (p->buf[p->have - 2] == '\r')    /* have > strlen(V1_PREFIX) */
		return b == '\n' ? v1_line(p) : bad(p, "v1: CR without LF");
	if (b == '\n')
		return bad(p, "v1: LF without CR");
	if (p->have >= HSVR_PROXY_V1_MAX)
		return bad(p, "v1: no CRLF within 107 bytes");
	return 0;
}

/* The bytes the address block of a v2 family takes. */
static size_t
v2_addr_len(unsigned char fam)
{
	switch (fam >> 4) {
	case 1: return 12;
	case 2: return 36;
	case 3: return 216;
	default: return 0;
	}
}

/* The v2 header is complete: check the CRC, take the source address. */
static int
v2_end(struct hsvr_proxy *p)
{
	const unsigned char *a = p->buf + V2_FIXED;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&p->addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&p->addr;
	uint16_t port;

	if (p->tlv_got != 0 || p->tlv_left != 0)
		return bad(p, "v2: a TLV runs past the header's length");
	if (p->crc_seen && (p->crc ^ 0xffffffffu) != p->crc_want)
		return bad(p, "v2: CRC32C mismatch");
	memset(&p->addr, 0, sizeof p->addr);
	/* LOCAL, AF_UNSPEC and AF_UNIX: the connection's own peer stands. */
	if ((p->buf[12] & 0x0f) == 0 || (p->buf[13] >> 4) == 0 ||
	    (p->buf[13] >> 4) == 3) {
		p->local = 1;
		return 1;
	}
	if ((p->buf[13] >> 4) == 1) {
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		memcpy(&port, a + 8, 2);
		s4->sin_port = port;    /* network order already */
	} else {
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		memcpy(&port, a + 32, 2);
		s6->sin6_port = port;
	}
	return 1;
}

/* A TLV's header (type, 2 bytes of length) is complete. */
static int
v2_tlv_start(struct hsvr_proxy *p)
{
	p->tlv_left = (size_t)p->tlv_hdr[1] << 8 | p->tlv_hdr[2];
	p->tlv_got = 0;
	if (p->tlv_left > p->total - p->have)
		return bad(p, "v2: a TLV runs past the header's length");
	p->in_crc = p->tlv_hdr[0] == PP2_TYPE_CRC32C;
	if (p->in_crc && (p->tlv_left != 4 || p->crc_seen))
		return bad(p, "v2: a CRC32C TLV not of 4 bytes, or twice");
	if (p->in_crc)
		p->crc_seen = 1;
	return 0;
}

/* One byte of a v2 header: -1 bad, 0 more, 1 done. */
static int
v2_byte(struct hsvr_proxy *p, unsigned char b)
{
	size_t at = p->have++;
	unsigned char fold = b;

	if (at < V2_FIXED + HSVR_PROXY_V2_ADDR_MAX)
		p->buf[at] = b;
	if (at < sizeof v2_sig) {
		if (b != v2_sig[at])
			return bad(p, "neither a v1 nor a v2 signature");
	} else if (at == 12) {
		if ((b >> 4) != 2 || (b & 0x0f) > 1)
			return bad(p, "v2: version not 2, or command not "
			    "LOCAL or PROXY");
	} else if (at == 13) {
		/* UNSPEC, or INET, INET6, UNIX over STREAM or DGRAM */
		if (b != 0x00 && ((b >> 4) < 1 || (b >> 4) > 3 ||
		    (b & 0x0f) < 1 || (b & 0x0f) > 2))
			return bad(p, "v2: unknown address family or protocol");
	} else if (at == 15) {
		p->total = V2_FIXED + ((size_t)p->buf[14] << 8 | b);
		if (p->total - V2_FIXED < v2_addr_len(p->buf[13]))
			return bad(p, "v2: length shorter than the addresses");
	} else if (at >= V2_FIXED + v2_addr_len(p->buf[13])) {
		/* TLVs: skipped, the CRC32C's value counted as zeros */
		if (p->tlv_left > 0) {
			p->tlv_left--;
			if (p->in_crc) {
				p->crc_want = p->crc_want << 8 | b;
				fold = 0;
			}
		} else {
			p->tlv_hdr[p->tlv_got++] = b;
			if (p->tlv_got == 3 && v2_tlv_start(p) != 0)
				return -1;
		}
	}
	p->crc = crc32c_byte(p->crc, fold);
	if (at >= 15 && p->have == p->total)
		return v2_end(p);
	return 0;
}

/*
 * Feed n bytes that arrived after the p->have already taken.  Returns how
 * many belong to the header (all of them, or up to its end): the caller
 * takes exactly those from the socket.  p->state then says whether the
 * header is complete (HSVR_PROXY_DONE), bad (HSVR_PROXY_BAD, p->why), or
 * needs more.
 */
size_t
hsvr_proxy_feed(struct hsvr_proxy *p, const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n && p->state == HSVR_PROXY_MORE; i++) {
		if (p->version == 0)
			p->version = b[i] == 'P' ? 1 : 2;
		/* A bad byte set the state already. */
		if ((p->version == 1 ? v1_byte(p, b[i]) :
		    v2_byte(p, b[i])) > 0)
			p->state = HSVR_PROXY_DONE;
	}
	return i;
}

/* ------------------------------------------------------- --proxy-from */

static int
cidr_one(const char *s, struct hsvr_proxy_cidr *c)
{
	char addr[INET6_ADDRSTRLEN + 8], *slash, *end;
	long bits, max;
	size_t len = strlen(s);

	if (len == 0 || len >= sizeof addr)
		return -1;
	memcpy(addr, s, len + 1);
	memset(c, 0, sizeof *c);
	slash = strchr(addr, '/');
	if (slash != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, addr, c->addr + 12) == 1) {
		c->addr[10] = c->addr[11] = 0xff;  /* IPv4-mapped, as keys */
		max = 32;
	} else if (inet_pton(AF_INET6, addr, c->addr) == 1) {
		max = 128;
	} else {
		return -1;
	}
	bits = max;
	if (slash != NULL) {
		if (*slash < '0' || *slash > '9' ||
		    (slash[0] == '0' && slash[1] != '\0'))
			return -1;
		bits = strtol(slash, &end, 10);
		if (*end != '\0' || bits > max)
			return -1;
	}
	c->bits = (int)(128 - max + bits);
	return 0;
}

/*
 * Parse a comma-separated list of addresses with an optional /bits into
 * from: 0, or -1 with a reason in err.
 */
int
hsvr_proxy_from_parse(struct hsvr_proxy_from *from, const char *list,
    char *err, size_t errlen)
{
	char item[INET6_ADDRSTRLEN + 8];
	const char *at = list, *comma;
	size_t len;

	from->n = 0;
	for (;;) {
		comma = strchr(at, ',');
		len = comma != NULL ? (size_t)(comma - at) : strlen(at);
		if (from->n == HSVR_PROXY_FROM_MAX) {
			(void)snprintf(err, errlen, "more than %d entries",
			    HSVR_PROXY_FROM_MAX);
			return -1;
		}
		if (len == 0 || len >= sizeof item) {
			(void)snprintf(err, errlen, "an empty or too long "
			    "entry");
			return -1;
		}
		memcpy(item, at, len);
		item[len] = '\0';
		if (cidr_one(item, &from->c[from->n]) != 0) {
			(void)snprintf(err, errlen, "'%s' is no IPv4 or IPv6 "
			    "address with an optional /bits", item);
			return -1;
		}
		from->n++;
		if (comma == NULL)
			return 0;
		at = comma + 1;
	}
}

/* 1 if key (an address as search.c makes it) is in from's list. */
int
hsvr_proxy_from_match(const struct hsvr_proxy_from *from,
    const uint8_t key[16])
{
	const struct hsvr_proxy_cidr *c;
	int i, whole, rest;

	for (i = 0; i < from->n; i++) {
		c = &from->c[i];
		whole = c->bits / 8;
		rest = c->bits % 8;
		if (memcmp(c->addr, key, (size_t)whole) != 0)
			continue;
		if (rest == 0 || ((c->addr[whole] ^ key[whole]) &
		    (0xff << (8 - rest)) & 0xff) == 0)
			return 1;
	}
	return 0;
}
