/*
 * hooks.c - calls into the application: the serv_* hooks it may define
 * (weak references, NULL when absent) or S_start's single CALLBACK_T.
 */
#include "hsvr-int.h"

#pragma weak serv_init
#pragma weak serv_exit
#pragma weak serv_worker_init
#pragma weak serv_on_accept
#pragma weak serv_on_read
#pragma weak serv_on_timeout
#pragma weak serv_on_sendable
#pragma weak serv_on_term
#pragma weak serv_options
#pragma weak serv_on_drain
#pragma weak serv_on_reload

static CALLBACK_T callback;
static void (*hook[TYP_SENDABLE + 1])(SESSION *);

/* Choose who receives events: cb, or the serv_on_* hooks when cb is NULL. */
void
hsvr_hooks_bind(CALLBACK_T cb)
{
	callback = cb;
	hook[TYP_ACCEPT] = serv_on_accept;
	hook[TYP_READ] = serv_on_read;
	hook[TYP_TERM] = serv_on_term;
	hook[TYP_TIMEOUT] = serv_on_timeout;
	hook[TYP_SENDABLE] = serv_on_sendable;
}

void
hsvr_hooks_deliver(struct hsvr_conn *c, CTYPE type)
{
	if (callback != NULL)
		callback(type, &c->pub);
	else if (hook[type] != NULL)
		hook[type](&c->pub);
}

/* Without a timeout handler an idle session is closed by the library. */
int
hsvr_hooks_has_timeout(void)
{
	return callback != NULL || hook[TYP_TIMEOUT] != NULL;
}

int
hsvr_hooks_has_read(void)
{
	return serv_on_read != NULL;
}

int
hsvr_hooks_init(void)
{
	if (serv_init == NULL)
		return 0;
	serv_init();
	return 1;
}

void
hsvr_hooks_exit(void)
{
	if (serv_exit != NULL)
		serv_exit();
}

void
hsvr_hooks_worker_init(int worker)
{
	if (callback == NULL && serv_worker_init != NULL)
		serv_worker_init(worker);
}

const struct serv_option *
hsvr_hooks_options(void)
{
	return serv_options != NULL ? serv_options() : NULL;
}

/*
 * Graceful stop: the application's serv_on_drain.  1 if it ran, 0 if
 * there is none (the caller closes the session as S_close would).
 */
int
hsvr_hooks_drain(struct hsvr_conn *c)
{
	if (callback == NULL && serv_on_drain != NULL) {
		serv_on_drain(&c->pub);
		return 1;
	}
	return 0;
}

void
hsvr_hooks_reload(void)
{
	if (serv_on_reload != NULL)
		serv_on_reload();
}
