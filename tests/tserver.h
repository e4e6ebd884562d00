/*
 * tserver.h - the test servers' event handlers, shared by the S_start
 * server (srv-lowlevel.c) and the inversion-of-control servers (srv-ioc.c).
 *
 * Each handler checks what the library promises about the event (which
 * thread, which order, the SESSION fields) and prints a "VIOLATION ..." line
 * on stdout when a promise is broken; the tests fail on any such line.  It
 * also prints one line per event ("ACCEPT id=..", "TERM id=..", ...) that the
 * tests read, and answers line commands on the socket (see tserver.c).
 */
#ifndef HSVR_TEST_TSERVER_H
#define HSVR_TEST_TSERVER_H

#include "hsvr.h"
#include "tline.h"

/* 1 in the IoC servers: serv_worker_init numbers the worker threads. */
extern int ts_ioc;
/* IoC --greeting: sent as "HELLO <text>" to each new connection. */
extern const char *ts_greeting;

/* The thread that runs S_start / serv_init. */
void ts_mark_main(void);
void ts_worker_init(int worker);

void ts_accept(SESSION *s);
void ts_read(SESSION *s);
void ts_term(SESSION *s);
/* A TYP_TIMEOUT; the session is left open. */
void ts_timeout(SESSION *s);
void ts_sendable(SESSION *s);

#endif /* HSVR_TEST_TSERVER_H */
