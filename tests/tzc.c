/*
 * tzc.c - zero-copy sends for the test servers: pattern bytes handed over
 * by S_send_ref and S_send_file, and the count of their releases.
 */
#include "tzc.h"
#include "pattern.h"
#include "tserver.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_ulong kept, released, early;
static _Thread_local int in_call;       /* inside an S_send_* of ours */
static _Thread_local int call_early;    /* its release ran inside it */

static pthread_mutex_t file_mu = PTHREAD_MUTEX_INITIALIZER;
static int pattern_fd = -1;

int
tzc_how(const char *word)
{
	if (strcmp(word, "copy") == 0)
		return TZC_COPY;
	if (strcmp(word, "ref") == 0)
		return TZC_REF;
	if (strcmp(word, "file") == 0)
		return TZC_FILE;
	return -1;
}

static void
count_release(void)
{
	atomic_fetch_add(&released, 1);
	if (in_call) {
		atomic_fetch_add(&early, 1);
		call_early = 1;
	}
}

static void
ref_released(void *arg)
{
	free(arg);
	count_release();
}

static void
file_released(void *arg)
{
	(void)arg;
	count_release();
}

/* An unlinked temporary file holding pattern bytes [0, n): its fd. */
static int
make_file(size_t n)
{
	unsigned char *buf;
	char path[512];
	const char *dir = getenv("TMPDIR");
	size_t off, k;
	int fd;

	snprintf(path, sizeof path, "%s/tzc.XXXXXX",
	    dir != NULL && *dir != '\0' ? dir : "/tmp");
	if ((fd = mkstemp(path)) < 0 || (buf = malloc(1 << 20)) == NULL) {
		ts_violation("cannot make a pattern file: %s", strerror(errno));
		abort();
	}
	(void)unlink(path);
	for (off = 0; off < n; off += k) {
		k = n - off < (1u << 20) ? n - off : (1u << 20);
		pat_fill(buf, off, k);
		if (write(fd, buf, k) != (ssize_t)k) {
			ts_violation("cannot write a pattern file");
			abort();
		}
	}
	free(buf);
	return fd;
}

static int
shared_file(void)
{
	pthread_mutex_lock(&file_mu);
	if (pattern_fd < 0)
		pattern_fd = make_file(TZC_FILE_MAX);
	pthread_mutex_unlock(&file_mu);
	return pattern_fd;
}

/* An S_send_* of ours starts (counted() ends it). */
static void
begin_call(void)
{
	in_call = 1;
	call_early = 0;
}

int
tzc_early(void)
{
	return call_early;
}

/* The call in_call brackets, counted if it kept the data. */
static int
counted(int rc)
{
	in_call = 0;
	if (rc == S_OK)
		atomic_fetch_add(&kept, 1);
	return rc;
}

int
tzc_send(SESSION *s, int how, uint64_t off, size_t len)
{
	unsigned char *buf;
	int fd, rc;

	if (how == TZC_FILE) {
		if (off + len > TZC_FILE_MAX) {
			ts_violation("tzc_send: %zu bytes at %llu pass the "
			    "pattern file", len, (unsigned long long)off);
			return S_ERR_PARAM;
		}
		fd = shared_file();
		begin_call();
		return counted(S_send_file(s, fd, (off_t)off, len,
		    file_released, NULL));
	}
	if ((buf = malloc(len ? len : 1)) == NULL)
		abort();
	pat_fill(buf, off, len);
	if (how == TZC_COPY) {
		rc = S_send(s, buf, len);
		free(buf);
		return rc;
	}
	begin_call();
	if ((rc = counted(S_send_ref(s, buf, len, ref_released, buf))) != S_OK)
		free(buf);      /* not kept: never released */
	return rc;
}

void
tzc_counts(char *buf, size_t cap)
{
	snprintf(buf, cap, "kept=%lu released=%lu early=%lu",
	    atomic_load(&kept), atomic_load(&released), atomic_load(&early));
}

/* The release of a file of its own: closes it. */
static void
shrunk_released(void *arg)
{
	close((int)(intptr_t)arg);
	count_release();
}

int
tzc_shrink(SESSION *s, size_t n)
{
	int fd = make_file(n), rc;

	begin_call();
	rc = counted(S_send_file(s, fd, 0, n, shrunk_released,
	    (void *)(intptr_t)fd));
	if (ftruncate(fd, (off_t)(n / 8)) != 0)
		ts_violation("ZSHRINK: ftruncate: %s", strerror(errno));
	if (rc != S_OK)
		close(fd);
	return rc;
}

int
tzc_path(SESSION *s, const char *path)
{
	struct stat st;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(fd, &st) != 0) {
		ts_violation("ZPATH %s: %s", path, strerror(errno));
		return S_ERR_PARAM;
	}
	begin_call();
	rc = counted(S_send_file(s, fd, 0, (size_t)st.st_size,
	    shrunk_released, (void *)(intptr_t)fd));
	if (rc != S_OK)
		close(fd);
	return rc;
}

static void
never(void *arg)
{
	ts_violation("ZBAD: release of a refused S_send_file (%s)",
	    (const char *)arg);
}

int
tzc_bad(SESSION *s)
{
	static const struct {
		const char *what;
		int which;      /* 0 no fd, 1 pipe, 2 directory, 3 file */
		off_t off;
		size_t len;
	} cases[] = {
		{ "fd -1", 0, 0, 10 },
		{ "a pipe", 1, 0, 10 },
		{ "a directory", 2, 0, 10 },
		{ "a negative offset", 3, -1, 10 },
		{ "a range past the end", 3, 90, 11 },
		{ "an offset past the end", 3, 101, 1 },
	};
	int p[2], dir, file, fd, rc, ok = 1;
	size_t i;

	if (pipe(p) != 0 || (dir = open(".", O_RDONLY | O_DIRECTORY)) < 0)
		abort();
	file = make_file(100);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fd = cases[i].which == 0 ? -1 : cases[i].which == 1 ? p[0] :
		    cases[i].which == 2 ? dir : file;
		rc = S_send_file(s, fd, cases[i].off, cases[i].len, never,
		    (void *)(uintptr_t)cases[i].what);
		if (rc != S_ERR_PARAM) {
			ts_violation("ZBAD: S_send_file with %s returned %d",
			    cases[i].what, rc);
			ok = 0;
		}
	}
	if ((rc = S_send_ref(s, NULL, 1, never, "NULL data")) != S_ERR_PARAM) {
		ts_violation("ZBAD: S_send_ref of NULL returned %d", rc);
		ok = 0;
	}
	if ((rc = S_send_ref(NULL, "x", 1, never, "NULL session")) !=
	    S_ERR_PARAM) {
		ts_violation("ZBAD: S_send_ref to NULL returned %d", rc);
		ok = 0;
	}
	close(p[0]);
	close(p[1]);
	close(dir);
	close(file);
	return ok;
}
