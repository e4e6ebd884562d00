/*
 * transport.c - which transport a new connection gets: TLS when the server
 * has its material, else plain TCP or a UNIX-domain stream.
 */
#include "hsvr-int.h"

const struct hsvr_transport *
hsvr_transport_for(int is_unix)
{
	if (hsvr_tls_enabled())
		return &hsvr_transport_tls;
	return is_unix ? &hsvr_transport_unix : &hsvr_transport_tcp;
}
