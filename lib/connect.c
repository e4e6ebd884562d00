/*
 * connect.c - S_connect and S_connect_error: the application's outbound
 * sessions, opened on the calling worker (session.c makes them).
 */
#include "hsvr-int.h"

#include <errno.h>

SESSION *
S_connect(const char *host, uint16_t port, int flags, void *usr)
{
	struct hsvr_worker *w = hsvr_self;
	struct hsvr_conn *c;

	if (host == NULL || *host == '\0' || port == 0 ||
	    (flags & ~(S_CONNECT_TLS | S_CONNECT_NOVERIFY)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	if (w == NULL) {
		errno = EPERM;
		return NULL;
	}
	if (w->stopping_now) {
		/* Its sessions are being closed: one more would be too. */
		errno = ESHUTDOWN;
		return NULL;
	}
	if ((c = hsvr_session_connect(w, host, port, flags, usr)) == NULL)
		return NULL;
	return &c->pub;
}

const char *
S_connect_error(SESSION *s)
{
	struct hsvr_conn *c = CONN(s);

	if (s == NULL || s->hsvr_self_ != s || c->ob == NULL || c->accepted ||
	    c->ob->why[0] == '\0')
		return NULL;
	return c->ob->why;
}
