/*
 * srv-ioc-min.c - the smallest IoC server: serv_on_read only (the one
 * required hook), echoing what it receives.  Every other hook is absent, so
 * the library must do without them, and close idle connections itself.
 */
#include "hsvr.h"

void
serv_on_read(SESSION *s)
{
	S_send(s, s->buff, s->blen);
}
