/*
 * tzc.h - zero-copy sends for the test servers: pattern bytes handed over
 * by S_send_ref and S_send_file, and the count of their releases.
 */
#ifndef HSVR_TEST_TZC_H
#define HSVR_TEST_TZC_H

#include <stddef.h>
#include <stdint.h>

#include "hsvr.h"

enum { TZC_COPY, TZC_REF, TZC_FILE };

/* The pattern file's size: the largest offset tzc_send can send from. */
#define TZC_FILE_MAX ((size_t)16 * 1024 * 1024)

/* "ref" / "file" / "copy" -> TZC_*, or -1. */
int tzc_how(const char *word);
/*
 * One S_send (TZC_COPY), S_send_ref (a malloc'd copy of the pattern bytes
 * [off, off+len), freed by its release) or S_send_ref of the pattern file
 * (TZC_FILE, an unlinked file made on first use): the call's answer.
 */
int tzc_send(SESSION *s, int how, uint64_t off, size_t len);
/* 1 if the release of this thread's last tzc_* call ran before it
 * returned. */
int tzc_early(void);
/* "kept=N released=M early=E": calls that said 0, releases, and releases
 * that ran before their call returned. */
void tzc_counts(char *buf, size_t cap);
/*
 * ZSHRINK: n pattern bytes in a file of their own sent by one S_send_file,
 * then the file cut to n/8 bytes at once; the release closes the file.
 */
int tzc_shrink(SESSION *s, size_t n);
/* ZPATH: the whole file at path in one S_send_file; the release closes it. */
int tzc_path(SESSION *s, const char *path);
/* ZBAD: 1 if every S_send_file with a bad argument said -2 and released
 * nothing, 0 otherwise (VIOLATION lines say which). */
int tzc_bad(SESSION *s);

/*
 * ZCHAIN: total pattern bytes in pieces of piece bytes by S_send_ref
 * (TZC_REF) or S_send_file (TZC_FILE), at most window pieces out at a
 * time; every piece after the first window is sent from the release of
 * an earlier one, and the release that hands over the last byte calls
 * S_close.  -4 waits for TYP_SENDABLE (tzc_chain_sendable).  NULL after a
 * VIOLATION line for bad arguments.
 */
struct tzc_chain;
struct tzc_chain *tzc_chain_start(SESSION *s, int how, size_t total,
    size_t piece, size_t window);
/* 1 while the chain waits for TYP_SENDABLE. */
int tzc_chain_congested(const struct tzc_chain *ch);
void tzc_chain_sendable(struct tzc_chain *ch);
/*
 * At TYP_TERM: "ZCHAIN id=.. total=.. sent=.. pieces=.. minus4=..
 * sendables=.. maxdepth=.. closed=.. txoctet=.." (maxdepth: releases
 * found running inside another release), a VIOLATION if a piece was not
 * released; frees ch.
 */
void tzc_chain_end(SESSION *s, struct tzc_chain *ch);

#endif /* HSVR_TEST_TZC_H */
