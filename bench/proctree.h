/*
 * proctree.h - CPU time and resident memory of a process and all its
 * descendants, read from /proc (header-only; used by bench/procstat.c and
 * bench/echo-load.c).  A server that forks (nginx's master and workers, a
 * supervisor and its serving process) is measured whole.
 */
#ifndef BENCH_PROCTREE_H
#define BENCH_PROCTREE_H

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define PT_MAX 4096

/* Parent of pid from /proc/pid/stat, or -1. */
static inline pid_t
pt_ppid(pid_t pid)
{
	char path[64], buf[1024], *p;
	FILE *fp;
	long ppid;
	size_t n;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

/* root and every descendant of it, into out; returns how many. */
static inline int
pt_tree(pid_t root, pid_t *out, int max)
{
	static pid_t pids[PT_MAX], parents[PT_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0, count = 0, i, grew;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < PT_MAX) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pids[n] = (pid_t)atol(de->d_name);
		parents[n] = pt_ppid(pids[n]);
		n++;
	}
	closedir(d);
	if (max < 1)
		return 0;
	out[count++] = root;
	do {
		grew = 0;
		for (i = 0; i < n; i++) {
			int j, member = 0, known = 0;

			for (j = 0; j < count; j++) {
				if (out[j] == parents[i])
					member = 1;
				if (out[j] == pids[i])
					known = 1;
			}
			if (member && !known && count < max) {
				out[count++] = pids[i];
				grew = 1;
			}
		}
	} while (grew);
	return count;
}

/* utime + stime of one process (all its threads), in clock ticks; -1. */
static inline long long
pt_ticks_one(pid_t pid)
{
	char path[64], buf[2048], *p;
	FILE *fp;
	unsigned long long ut, st;
	size_t n;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* fields after comm: state(3) ... utime(14) stime(15) */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

/* The "key: N kB" line of /proc/pid/file (status, smaps_rollup); -1. */
static inline long long
pt_field_kb(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	FILE *fp;
	long long kb = -1;

	snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, file);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, fp) != NULL)
		if (strncmp(line, key, klen) == 0) {
			kb = atoll(line + klen);
			break;
		}
	fclose(fp);
	return kb;
}

/* VmRSS of one process in kB; -1. */
static inline long long
pt_rss_one(pid_t pid)
{
	return pt_field_kb(pid, "status", "VmRSS:");
}

/*
 * Memory of pid and its descendants in kB: rss (VmRSS: a page shared by
 * two processes of the tree counts twice), anon (RssAnon: memory the
 * processes wrote, never shared libraries' text) and pss (Pss from
 * smaps_rollup: shared pages divided among the processes sharing them).
 * -1 if pid is gone; anon and pss -1 where the kernel does not say.
 */
static inline int
pt_tree_mem(pid_t root, long long *rss, long long *anon, long long *pss)
{
	static pid_t tree[PT_MAX];
	long long k;
	int i, n = pt_tree(root, tree, PT_MAX);

	*rss = *anon = *pss = 0;
	for (i = 0; i < n; i++) {
		if ((k = pt_rss_one(tree[i])) < 0 && i == 0)
			return -1;
		if (k > 0)
			*rss += k;
		if ((k = pt_field_kb(tree[i], "status", "RssAnon:")) < 0 || *anon < 0)
			*anon = -1;
		else
			*anon += k;
		if ((k = pt_field_kb(tree[i], "smaps_rollup", "Pss:")) < 0 || *pss < 0)
			*pss = -1;
		else
			*pss += k;
	}
	return 0;
}

/*
 * Resident memory of pid and its descendants with every physical page
 * counted once, in kB: a page the processes share (what a supervisor and
 * the serving process it forked share copy-on-write, the libraries' pages
 * both touched) counts once, as it occupies memory once; the sum of VmRSS
 * counts it in each process.  From /proc/PID/pagemap, whose page frame
 * numbers only root may read: -1 otherwise, or if pid is gone.
 */
#define PT_PFN_BITS 55
static inline long long
pt_tree_unique_kb(pid_t root)
{
	static pid_t tree[PT_MAX];
	uint64_t *set = NULL, *grown, pfn, ent[512];
	size_t cap = 0, used = 0, h, k, m;
	unsigned long start, end, page = (unsigned long)sysconf(_SC_PAGESIZE);
	long long kb = -1;
	char path[64], line[512];
	FILE *maps;
	int i, n = pt_tree(root, tree, PT_MAX), fd;
	ssize_t got;
	off_t off;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "/proc/%ld/maps", (long)tree[i]);
		if ((maps = fopen(path, "r")) == NULL)
			continue;
		snprintf(path, sizeof path, "/proc/%ld/pagemap", (long)tree[i]);
		if ((fd = open(path, O_RDONLY)) < 0) {
			fclose(maps);
			continue;
		}
		while (fgets(line, sizeof line, maps) != NULL) {
			if (sscanf(line, "%lx-%lx", &start, &end) != 2)
				continue;
			for (; start < end; start += page * (unsigned long)m) {
				m = (end - start) / page;
				if (m > 512)
					m = 512;
				off = (off_t)(start / page * sizeof ent[0]);
				got = pread(fd, ent, m * sizeof ent[0], off);
				if (got <= 0)
					break;
				m = (size_t)got / sizeof ent[0];
				for (k = 0; k < m; k++) {
					if (!(ent[k] >> 63))
						continue;       /* not present */
					pfn = ent[k] & ((1ULL << PT_PFN_BITS) - 1);
					if (pfn == 0)
						goto out;       /* not root */
					if (2 * (used + 1) > cap) {
						size_t c = cap ? cap * 2 : 1 << 16, j;

						if ((grown = calloc(c, sizeof *grown)) == NULL)
							goto out;
						for (j = 0; j < cap; j++)
							if (set[j] != 0) {
								h = (size_t)(set[j] * 0x9E3779B97F4A7C15ULL) & (c - 1);
								while (grown[h] != 0)
									h = (h + 1) & (c - 1);
								grown[h] = set[j];
							}
						free(set);
						set = grown;
						cap = c;
					}
					h = (size_t)(pfn * 0x9E3779B97F4A7C15ULL) & (cap - 1);
					while (set[h] != 0 && set[h] != pfn)
						h = (h + 1) & (cap - 1);
					if (set[h] == 0) {
						set[h] = pfn;
						used++;
					}
				}
			}
		}
		close(fd);
		fclose(maps);
	}
	kb = (long long)(used * page / 1024);
out:
	free(set);
	return n > 0 ? kb : -1;
}

/* CPU ticks of pid and its descendants; -1 if pid is gone. */
static inline long long
pt_tree_ticks(pid_t root)
{
	static pid_t tree[PT_MAX];
	long long sum = 0, t;
	int i, n = pt_tree(root, tree, PT_MAX);

	for (i = 0; i < n; i++) {
		t = pt_ticks_one(tree[i]);
		if (t < 0 && i == 0)
			return -1;
		if (t > 0)
			sum += t;
	}
	return sum;
}

/* VmRSS of pid and its descendants in kB; -1 if pid is gone. */
static inline long long
pt_tree_rss_kb(pid_t root)
{
	static pid_t tree[PT_MAX];
	long long sum = 0, k;
	int i, n = pt_tree(root, tree, PT_MAX);

	for (i = 0; i < n; i++) {
		k = pt_rss_one(tree[i]);
		if (k < 0 && i == 0)
			return -1;
		if (k > 0)
			sum += k;
	}
	return sum;
}

#endif /* BENCH_PROCTREE_H */
