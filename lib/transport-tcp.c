/*
 * transport-tcp.c - the plain stream transports, TCP and UNIX-domain:
 * the socket is read and written directly, queued output with writev (and
 * file ranges with sendfile).
 */
#include "hsvr-int.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Nothing to set up: TCP_NODELAY (replies of several segments must not
 * wait for a delayed ACK) is set on the listening socket, and Linux and
 * FreeBSD copy it to every accepted one, which saves a system call per
 * connection.
 */
static int
stream_setup(struct hsvr_conn *c)
{
	(void)c;
	return 0;
}

static ssize_t
stream_read(struct hsvr_conn *c, void *buf, size_t len)
{
	return read(c->fd, buf, len);
}

static ssize_t
stream_write(struct hsvr_conn *c, const void *buf, size_t len)
{
	return send(c->fd, buf, len, MSG_NOSIGNAL);
}

/*
 * More follows at once (a file range, or more of the same callback's
 * output): the bytes wait in the socket for that write and leave in its
 * first segment, not in a small packet of their own (TCP_NODELAY is on).
 * The next write without MSG_MORE, or the close, sends them.
 */
#ifdef MSG_MORE
static ssize_t
tcp_write_more(struct hsvr_conn *c, const void *buf, size_t len)
{
	return send(c->fd, buf, len, MSG_NOSIGNAL | MSG_MORE);
}
#endif

/*
 * A head and a long file range: with TCP_NODELAY, the ACKs that come while
 * sendfile hands the socket its pages one batch at a time send each
 * batch's partial last segment alone (the head's length off the pages'
 * bounds: a 154-byte segment in a 1 MB HTTP reply), a packet more for
 * both ends.  Corked, only whole segments leave until the cork is taken
 * off, or the close or shutdown sends the rest with the FIN.  Linux's
 * TCP_CORK; FreeBSD's TCP_NOPUSH, whose clearing sends the rest too.
 */
#if defined(TCP_CORK)
#define TCP_HOLD TCP_CORK
#elif defined(TCP_NOPUSH)
#define TCP_HOLD TCP_NOPUSH
#endif

#ifdef TCP_HOLD
static int
tcp_cork(struct hsvr_conn *c, int on)
{
	return setsockopt(c->fd, IPPROTO_TCP, TCP_HOLD, &on, sizeof on);
}
#endif

static ssize_t
stream_flush(struct hsvr_conn *c, struct evbuffer *out)
{
	return evbuffer_write(out, c->fd);
}

static void
stream_close(struct hsvr_conn *c)
{
	close(c->fd);
}

static void
stream_shutdown(struct hsvr_conn *c, int closing)
{
	if (!closing)
		(void)shutdown(c->fd, SHUT_WR);
}

const struct hsvr_transport hsvr_transport_tcp = {
	.name = "tcp",
	.setup = stream_setup,
	.read = stream_read,
	.write = stream_write,
	.flush = stream_flush,
	.close = stream_close,
	.shutdown = stream_shutdown,
	.sendfile = 1,
	.lingers = 1,
#ifdef MSG_MORE
	.write_more = tcp_write_more,
#endif
#ifdef TCP_HOLD
	.cork = tcp_cork,
#endif
};

const struct hsvr_transport hsvr_transport_unix = {
	.name = "unix",
	.setup = stream_setup,
	.read = stream_read,
	.write = stream_write,
	.flush = stream_flush,
	.close = stream_close,
	.shutdown = stream_shutdown,
	.sendfile = 1,
	.lingers = 0,
};
