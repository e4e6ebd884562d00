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
		TLINE_VIOLATION("cannot make a pattern file: %s", strerror(errno));
		abort();
	}
	(void)unlink(path);
	for (off = 0; off < n; off += k) {
		k = n - off < (1u << 20) ? n - off : (1u << 20);
		pat_fill(buf, off, k);
		if (write(fd, buf, k) != (ssize_t)k) {
			TLINE_VIOLATION("cannot write a pattern file");
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
			TLINE_VIOLATION("tzc_send: %zu bytes at %llu pass the "
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
		TLINE_VIOLATION("ZSHRINK: ftruncate: %s", strerror(errno));
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
		TLINE_VIOLATION("ZPATH %s: %s", path, strerror(errno));
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
	TLINE_VIOLATION("ZBAD: release of a refused S_send_file (%s)",
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
			TLINE_VIOLATION("ZBAD: S_send_file with %s returned %d",
			    cases[i].what, rc);
			ok = 0;
		}
	}
	if ((rc = S_send_ref(s, NULL, 1, never, "NULL data")) != S_ERR_PARAM) {
		TLINE_VIOLATION("ZBAD: S_send_ref of NULL returned %d", rc);
		ok = 0;
	}
	if ((rc = S_send_ref(NULL, "x", 1, never, "NULL session")) !=
	    S_ERR_PARAM) {
		TLINE_VIOLATION("ZBAD: S_send_ref to NULL returned %d", rc);
		ok = 0;
	}
	close(p[0]);
	close(p[1]);
	close(dir);
	close(file);
	return ok;
}

/* ---- ZCHAIN: the next piece sent from the previous one's release ---- */

struct tzc_chain {
	SESSION *s;
	int how;
	size_t total, piece, window;
	uint64_t off;           /* the next byte to hand over */
	size_t inflight;        /* pieces kept, not released yet */
	size_t pieces, minus4, sendables;
	int congested;          /* -4: waiting for TYP_SENDABLE */
	int closed;             /* S_close called */
	int failed;             /* an S_send_* said neither 0 nor -4 */
	int maxdepth;           /* releases running inside one another */
};

struct cpiece {
	struct tzc_chain *ch;
	unsigned char data[];
};

static _Thread_local int chain_depth;

static void chain_pump(struct tzc_chain *ch);

static void
chain_released(void *arg)
{
	struct cpiece *p = arg;
	struct tzc_chain *ch = p->ch;

	atomic_fetch_add(&released, 1);
	if (++chain_depth > ch->maxdepth)
		ch->maxdepth = chain_depth;
	free(p);
	if (ch->inflight == 0)
		TLINE_VIOLATION("ZCHAIN id=%u: a release with no piece out",
		    ch->s->id);
	else
		ch->inflight--;
	chain_pump(ch);         /* the streaming pattern: send from here */
	chain_depth--;
}

/*
 * The next pieces, while fewer than window are out.  The offset moves
 * before the call: its release (and so this function) may run before
 * the call returns.
 */
static void
chain_pump(struct tzc_chain *ch)
{
	struct cpiece *p;
	uint64_t off;
	size_t n;
	int rc;

	while (!ch->closed && !ch->congested && !ch->failed &&
	    ch->inflight < ch->window && ch->off < ch->total) {
		off = ch->off;
		n = ch->total - off < ch->piece ? (size_t)(ch->total - off) :
		    ch->piece;
		if ((p = malloc(sizeof *p + (ch->how == TZC_REF ? n : 0))) ==
		    NULL)
			abort();
		p->ch = ch;
		ch->off += n;
		ch->inflight++;
		if (ch->how == TZC_REF) {
			pat_fill(p->data, off, n);
			rc = S_send_ref(ch->s, p->data, n, chain_released, p);
		} else {
			rc = S_send_file(ch->s, shared_file(), (off_t)off, n,
			    chain_released, p);
		}
		if (rc == S_OK) {
			atomic_fetch_add(&kept, 1);
			ch->pieces++;
			continue;
		}
		/* Not kept: nothing of it ran, nothing moved meanwhile. */
		free(p);
		ch->off -= n;
		ch->inflight--;
		if (rc == S_ERR_CONGESTED) {
			ch->minus4++;
			ch->congested = 1;
		} else {
			TLINE_VIOLATION("ZCHAIN id=%u: S_send_* returned %d at %llu",
			    ch->s->id, rc, (unsigned long long)off);
			ch->failed = 1;
		}
	}
	if (ch->off == ch->total && !ch->closed && !ch->failed) {
		ch->closed = 1;
		S_close(ch->s);
	}
}

struct tzc_chain *
tzc_chain_start(SESSION *s, int how, size_t total, size_t piece,
    size_t window)
{
	struct tzc_chain *ch;

	if ((how != TZC_REF && how != TZC_FILE) || piece == 0 ||
	    window == 0 || (how == TZC_FILE && total > TZC_FILE_MAX)) {
		TLINE_VIOLATION("ZCHAIN id=%u: bad arguments", s->id);
		return NULL;
	}
	if ((ch = calloc(1, sizeof *ch)) == NULL)
		abort();
	ch->s = s;
	ch->how = how;
	ch->total = total;
	ch->piece = piece;
	ch->window = window;
	chain_pump(ch);
	return ch;
}

int
tzc_chain_congested(const struct tzc_chain *ch)
{
	return ch->congested;
}

void
tzc_chain_sendable(struct tzc_chain *ch)
{
	if (ch->closed)
		TLINE_VIOLATION("ZCHAIN id=%u: TYP_SENDABLE after S_close",
		    ch->s->id);
	ch->sendables++;
	ch->congested = 0;
	chain_pump(ch);
}

void
tzc_chain_end(SESSION *s, struct tzc_chain *ch)
{
	if (ch->inflight != 0)
		TLINE_VIOLATION("ZCHAIN id=%u: TYP_TERM with %zu pieces not "
		    "released", s->id, ch->inflight);
	tline_say("ZCHAIN id=%u total=%zu sent=%llu pieces=%zu minus4=%zu "
	    "sendables=%zu maxdepth=%d closed=%d txoctet=%zu", s->id,
	    ch->total, (unsigned long long)ch->off, ch->pieces, ch->minus4,
	    ch->sendables, ch->maxdepth, ch->closed, s->txoctet);
	free(ch);
}
