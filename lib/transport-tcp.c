/*
 * transport-tcp.c - the plain stream transports, TCP and UNIX-domain:
 * the socket is read and written directly, queued output with writev.
 */
#include "hsvr-int.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

static int
tcp_setup(struct hsvr_conn *c)
{
	int on = 1;

	/* Replies of several segments must not wait for a delayed ACK. */
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	return 0;
}

static int
unix_setup(struct hsvr_conn *c)
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

const struct hsvr_transport hsvr_transport_tcp = {
	"tcp", tcp_setup, stream_read, stream_write, stream_flush, stream_close,
	NULL, NULL
};

const struct hsvr_transport hsvr_transport_unix = {
	"unix", unix_setup, stream_read, stream_write, stream_flush,
	stream_close, NULL, NULL
};
