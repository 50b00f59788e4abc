/*
 * C baseline for `ipvs-maglev bench maglev`: the same two algorithms as src/maglev, written as fast as
 * we can make them in C (native 64-bit SipHash; populate probes a one-byte-per-slot occupied map, not
 * the 4-byte table; per-destination state in one array of small structs, four candidates a probe turn; `mod m` by a multiply with a
 * precomputed reciprocal), to measure the TypeScript against. Why each of these: bench/maglev/RESULTS.md.
 * The TypeScript bench builds this with `cc -O3 -march=native` (the JIT, too, compiles for this CPU)
 * and runs it as:
 *
 *   maglev-bench <populate repetitions> <lookups> [kernel|maglev <size> <backends> [<builds per sample>] | churn]
 *
 * It prints one JSON object per line, in the same shape as the TypeScript lines, with checksums of
 * every table and of the lookup results so the two implementations can be checked for identity.
 * Workloads (must match bench/maglev/bench.ts): backends 10.0.0.1, 10.0.0.2, ... port 8080, weight 1;
 * keys from xorshift32 seeded 0x12345678: maglev = (saddr, sport) per key with daddr 198.51.100.1,
 * dport 80, proto 6 as a 13-byte tuple; kernel = (saddr, sport), looked up with mh-port.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------- hashes ---------- */

static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static uint32_t murmur3_32(const uint8_t *data, size_t len, uint32_t seed) {
	const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
	uint32_t h = seed;
	size_t nblocks = len / 4;
	for (size_t i = 0; i < nblocks; i++) {
		const uint8_t *p = data + 4 * i;
		uint32_t k = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
		k *= c1; k = rotl32(k, 15); k *= c2;
		h ^= k; h = rotl32(h, 13); h = h * 5 + 0xe6546b64;
	}
	const uint8_t *tail = data + nblocks * 4;
	uint32_t k = 0;
	switch (len & 3) {
	case 3: k ^= (uint32_t)tail[2] << 16; /* fall through */
	case 2: k ^= (uint32_t)tail[1] << 8; /* fall through */
	case 1: k ^= tail[0]; k *= c1; k = rotl32(k, 15); k *= c2; h ^= k;
	}
	h ^= (uint32_t)len;
	h ^= h >> 16; h *= 0x85ebca6b; h ^= h >> 13; h *= 0xc2b2ae35; h ^= h >> 16;
	return h;
}

static inline uint64_t rotl64(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }
#define SIPROUND do { \
	v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32); \
	v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32); } while (0)

/* hsiphash(&v, 4, key) on 64-bit Linux: SipHash-1-3, low 32 bits. */
static inline uint32_t hsiphash_u32(uint32_t v, uint64_t k0, uint64_t k1) {
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = ((uint64_t)4 << 56) | v;
	v3 ^= b; SIPROUND; v0 ^= b; v2 ^= 0xff; SIPROUND; SIPROUND; SIPROUND;
	return (uint32_t)(v0 ^ v1 ^ v2 ^ v3);
}

/* Lookups: this many passes over the same keys; the best pass and the median pass are reported
 * (bench.ts does the same), so a pass slowed by another process on the shared cores is visible. */
#define LOOKUP_PASSES 5
/* Untimed builds before the timed ones; must match WARMUP_BUILDS in bench.ts. */
#define WARMUP_BUILDS 8

#define MH_K1 2654435761ULL
#define MH_K2 2654446892ULL
#define OFFSET_SEED 0u
#define SKIP_SEED 0x9e3779b9u
#define FLOW_SEED 0x5bd1e995u

/* ---------- kernel flavour (ip_vs_mh) ---------- */

static const int kernel_sizes[] = {251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071};

/*
 * `x mod d` for 32-bit x by two multiplies instead of a divide (Lemire, Kaser, Kurz, "Faster
 * remainder by direct computation", 2019: exact for every 32-bit x and d). A 32-bit `div` has ~25
 * cycles of latency here, which each lookup waits on between its hash and its table load.
 */
struct fastmod { uint64_t inv; uint32_t d; };
static inline struct fastmod fastmod_for(uint32_t d) { struct fastmod f = {UINT64_C(0xffffffffffffffff) / d + 1, d}; return f; }
static inline uint32_t fastmod_u32(uint32_t x, struct fastmod f) { return (uint32_t)(((unsigned __int128)(f.inv * x) * f.d) >> 64); }

/* (c + skip) mod m for c < m, skip <= m: no divide, and a conditional move rather than a branch. */
static inline uint32_t step(uint32_t c, uint32_t skip, uint32_t m) { c += skip; return c >= m ? c - m : c; }

/*
 * A destination's (backend's) walk: its next candidate slot and its skip, 2, 3 and 4 times skip
 * mod m, its owner (the index it writes into the table) and its turns, in one 28-byte struct.
 * `next` is the slot after the one it took last (not the taken slot itself, which is always
 * occupied: re-probing it cost one probe of the ~12 per slot the populates make at 65537x1000).
 */
struct walk { uint32_t next, s1, s2, s3, s4; int32_t owner, turns; };

static void walk_start(struct walk *w, uint32_t offset, uint32_t skip, uint32_t m) {
	w->next = offset;
	w->s1 = skip;
	w->s2 = step(skip, skip, m);
	w->s3 = step(w->s2, skip, m);
	w->s4 = step(w->s3, skip, m);
}

/*
 * Takes the walk's first free slot: marks it used, leaves the walk after it, returns it. Four
 * candidates a loop turn, the next three computed from the same slot at once: one data-dependent
 * branch per three probes, and a shorter chain of dependent steps. Measured (minimum of 60
 * interleaved builds, -O3 -march=native): 0.83-0.92x the time of one candidate a turn at
 * 65537x1000, the same at 655373x1000; two candidates a turn (what the TS does) 0.9-1.0x.
 */
static inline uint32_t take_next_free(uint8_t *used, struct walk *w, uint32_t m) {
	uint32_t c = w->next;
	while (used[c]) {
		uint32_t c1 = step(c, w->s1, m), c2 = step(c, w->s2, m), c3 = step(c, w->s3, m);
		unsigned taken = used[c1] | used[c2] << 1 | used[c3] << 2;
		if (taken != 7) { c = !(taken & 1) ? c1 : !(taken & 2) ? c2 : c3; break; }
		c = step(c, w->s4, m);
	}
	used[c] = 1;
	w->next = step(c, w->s1, m);
	return c;
}

/*
 * Scratch a build needs besides the table: the occupied map (one byte a slot, 64 KB at M=65537,
 * where the 4-byte table is 256 KB: the probes' random reads stay in L1/L2) and the walks. The
 * bench allocates it once per case, as it does the table, so builds measure the populate alone.
 */
struct scratch { uint8_t *used; struct walk *walks; int32_t *counters; int m, n; };

static int scratch_fit(struct scratch *s, int m, int n) {
	if (s->m < m) { free(s->used); s->used = malloc((size_t)m); s->m = s->used ? m : 0; }
	if (s->n < n) {
		free(s->walks); free(s->counters);
		s->walks = malloc(sizeof(struct walk) * (size_t)n);
		s->counters = malloc(sizeof(int32_t) * (size_t)n);
		s->n = s->walks && s->counters ? n : 0;
	}
	return s->m >= m && s->n >= n;
}

static int gcd(int a, int b) { while (b) { int t = a % b; a = b; b = t; } return a; }

/* dests in order of addition; slots get input indices; the kernel walks the list in reverse. */
static void kernel_build(struct scratch *sc, const uint32_t *addr, const uint16_t *port, const int *lw, int n, int32_t *slots, int m) {
	int bits = 0;
	for (int i = 0; i < 10; i++) if (kernel_sizes[i] == m) bits = (i + 8) / 2;
	int g = 0, mw = 0;
	for (int i = 0; i < n; i++) {
		if (lw[i] > 0) g = g > 0 ? gcd(lw[i], g) : lw[i];
		if (lw[i] > mw) mw = lw[i];
	}
	if (g < 1) { for (int s = 0; s < m; s++) slots[s] = -1; return; }
	int q = mw / g, fls = 0;
	while (q) { fls++; q >>= 1; }
	int shift = fls - bits > 0 ? fls - bits : 0;
	/* The walks in the kernel's list order, destinations without turns left out. */
	struct walk *w = sc->walks;
	int end = 0, single = 1;
	for (int i = n - 1; i >= 0; i--) {
		int t = (lw[i] / g) >> shift;
		t = t ? t : (lw[i] != 0);
		if (t == 0) continue;
		uint32_t v = addr[i] + port[i];
		walk_start(&w[end], hsiphash_u32(v, MH_K1, MH_K1) % (uint32_t)m, hsiphash_u32(v, MH_K2, MH_K2) % (uint32_t)(m - 1) + 1, (uint32_t)m);
		w[end].owner = i;
		w[end].turns = t;
		if (t != 1) single = 0;
		end++;
	}
	uint8_t *used = sc->used;
	memset(used, 0, (size_t)m);
	const uint32_t um = (uint32_t)m;
	uint32_t left = um;
	if (single) {
		for (;;) {
			for (int j = 0; j < end; j++) {
				slots[take_next_free(used, &w[j], um)] = w[j].owner;
				if (--left == 0) return;
			}
		}
	}
	for (;;) {
		for (int j = 0; j < end; j++) {
			for (int k = w[j].turns; k > 0; k--) {
				slots[take_next_free(used, &w[j], um)] = w[j].owner;
				if (--left == 0) return;
			}
		}
	}
}

static inline int kernel_lookup_port(const int32_t *slots, struct fastmod m, uint32_t addr, uint16_t port) {
	return slots[fastmod_u32(hsiphash_u32(addr + port, MH_K1, MH_K1), m)];
}

static inline int maglev_lookup(const int32_t *slots, struct fastmod m, const uint8_t *key) {
	return slots[fastmod_u32(murmur3_32(key, 13, FLOW_SEED), m)];
}

/* ---------- maglev flavour (paper, Katran V2 weights) ---------- */

/* backends sorted by (address, port) already; slots get backend indices. */
static void maglev_build(struct scratch *sc, const uint32_t *addr, const uint16_t *port, const int *w, int n, int32_t *slots, int m) {
	struct walk *wk = sc->walks;
	int32_t *cnt = sc->counters;
	int maxw = 0, equal = 1;
	for (int i = 0; i < n; i++) {
		uint8_t name[6] = {addr[i] >> 24, addr[i] >> 16, addr[i] >> 8, addr[i], port[i] >> 8, port[i]};
		walk_start(&wk[i], murmur3_32(name, 6, OFFSET_SEED) % (uint32_t)m, murmur3_32(name, 6, SKIP_SEED) % (uint32_t)(m - 1) + 1, (uint32_t)m);
		cnt[i] = 0;
		if (w[i] > maxw) maxw = w[i];
		if (w[i] != w[0]) equal = 0;
	}
	uint8_t *used = sc->used;
	memset(used, 0, (size_t)m);
	const uint32_t um = (uint32_t)m;
	uint32_t left = um;
	if (equal) {
		for (;;) {
			for (int i = 0; i < n; i++) {
				slots[take_next_free(used, &wk[i], um)] = i;
				if (--left == 0) return;
			}
		}
	}
	/* Katran's V2 counters run literally: fine for the bench's weights, which are all 1 (the TS
	 * takes the same turns from a heap, O(M log N) whatever the weights; see src/maglev/paper.ts). */
	for (;;) {
		for (int i = 0; i < n; i++) {
			cnt[i] += w[i];
			if (cnt[i] < maxw) continue;
			cnt[i] -= maxw;
			slots[take_next_free(used, &wk[i], um)] = i;
			if (--left == 0) return;
		}
	}
}

/* ---------- measurement helpers ---------- */

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: see bench.ts */
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static uint32_t table_checksum(const int32_t *slots, int m) {
	uint32_t h = 2166136261u;
	for (int s = 0; s < m; s++) { h ^= (uint32_t)(slots[s] + 1); h *= 16777619u; }
	return h;
}

static double max_over_avg(const int32_t *slots, int m, int n) {
	int *c = calloc(n, sizeof(int));
	for (int s = 0; s < m; s++) if (slots[s] >= 0) c[slots[s]]++;
	int mx = 0, parts = 0, filled = 0;
	for (int i = 0; i < n; i++) { if (c[i] > mx) mx = c[i]; if (c[i] > 0) parts++; filled += c[i]; }
	free(c);
	return parts ? mx / ((double)filled / parts) : 0;
}

static uint32_t rng = 0x12345678u;
static inline uint32_t xorshift32(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }

static void make_backends(int n, uint32_t *addr, uint16_t *port, int *w) {
	for (int i = 0; i < n; i++) { addr[i] = 0x0a000001u + (uint32_t)i; port[i] = 8080; w[i] = 1; }
}

/* Builds timed together as one populate sample; bench.ts passes its buildsPerSample(). */
static int builds_per_sample(int m) { return m < 65536 ? 65536 / m : 1; }

/* One bench case's inputs and buffers, made once and reused by every build, as a C caller would. */
struct bench_case { int kernel, m, n; uint32_t *addr; uint16_t *port; int *w; int32_t *slots; struct scratch sc; };

static void case_free(struct bench_case *k) {
	free(k->addr); free(k->port); free(k->w); free(k->slots); free(k->sc.used); free(k->sc.walks); free(k->sc.counters);
	memset(k, 0, sizeof(*k));
}

static int case_init(struct bench_case *k, int kernel, int m, int n) {
	case_free(k);
	k->kernel = kernel; k->m = m; k->n = n;
	k->addr = malloc(sizeof(uint32_t) * (size_t)n);
	k->port = malloc(sizeof(uint16_t) * (size_t)n);
	k->w = malloc(sizeof(int) * (size_t)n);
	k->slots = malloc(sizeof(int32_t) * (size_t)m);
	if (!k->addr || !k->port || !k->w || !k->slots || !scratch_fit(&k->sc, m, n)) { case_free(k); return 0; }
	make_backends(n, k->addr, k->port, k->w);
	return 1;
}

static void case_build(struct bench_case *k) {
	if (k->kernel) kernel_build(&k->sc, k->addr, k->port, k->w, k->n, k->slots, k->m);
	else maglev_build(&k->sc, k->addr, k->port, k->w, k->n, k->slots, k->m);
}

/* `batch` builds timed together, milliseconds per build. */
static double case_sample(struct bench_case *k, int batch) {
	double t0 = now_ms();
	for (int b = 0; b < batch; b++) case_build(k);
	return (now_ms() - t0) / batch;
}

/* One pass of `count` lookups, one key at a time (the shape of the TS lookup calls); returns the sum
 * of the results plus one, wrapping. */
static uint32_t lookup_pass(int kernel, const int32_t *slots, struct fastmod m, const uint8_t *keys, const uint32_t *addrs,
                            const uint16_t *ports, long count) {
	uint32_t s = 0;
	if (kernel) for (long i = 0; i < count; i++) s += (uint32_t)(kernel_lookup_port(slots, m, addrs[i], ports[i]) + 1);
	else for (long i = 0; i < count; i++) s += (uint32_t)(maglev_lookup(slots, m, keys + 13 * i) + 1);
	return s;
}

/*
 * The same lookups in batches of LOOKUP_BATCH: hash the batch, prefetch its slots, then read them,
 * so the batch's table reads overlap instead of each waiting behind its own hash. Reported beside the
 * one-at-a-time rate (it is what a packet path that receives bursts would do; the TS API, and the
 * ratios, are one key a call).
 */
#define LOOKUP_BATCH 16
static uint32_t lookup_pass_batched(int kernel, const int32_t *slots, struct fastmod m, const uint8_t *keys, const uint32_t *addrs,
                                    const uint16_t *ports, long count) {
	uint32_t s = 0, at[LOOKUP_BATCH];
	long i = 0;
	for (; i + LOOKUP_BATCH <= count; i += LOOKUP_BATCH) {
		for (int j = 0; j < LOOKUP_BATCH; j++) {
			uint32_t h = kernel ? hsiphash_u32(addrs[i + j] + ports[i + j], MH_K1, MH_K1) : murmur3_32(keys + 13 * (i + j), 13, FLOW_SEED);
			at[j] = fastmod_u32(h, m);
			__builtin_prefetch(slots + at[j]);
		}
		for (int j = 0; j < LOOKUP_BATCH; j++) s += (uint32_t)(slots[at[j]] + 1);
	}
	return s + lookup_pass(kernel, slots, m, keys + 13 * i, addrs + i, ports + i, count - i);
}

static void bench(const char *flavor, int m, int n, int reps, long lookups, int batch) {
	int kernel = strcmp(flavor, "kernel") == 0;
	struct bench_case k = {0};
	if (!case_init(&k, kernel, m, n)) { fprintf(stderr, "out of memory\n"); exit(1); }
	double *t = malloc(sizeof(double) * reps);
	/* Untimed warm-up builds, as many as bench.ts does (which needs them for V8 to optimise). */
	case_sample(&k, WARMUP_BUILDS * batch);
	for (int r = 0; r < reps; r++) t[r] = case_sample(&k, batch);
	qsort(t, reps, sizeof(double), cmp_double);
	double median = reps % 2 ? t[reps / 2] : (t[reps / 2 - 1] + t[reps / 2]) / 2;

	rng = 0x12345678u;
	uint8_t *keys = NULL;
	uint32_t *ka = NULL;
	uint16_t *kp = NULL;
	if (kernel) {
		ka = malloc(sizeof(uint32_t) * lookups);
		kp = malloc(sizeof(uint16_t) * lookups);
		for (long i = 0; i < lookups; i++) { ka[i] = xorshift32(); kp[i] = (uint16_t)(xorshift32() & 0xffff); }
	} else {
		keys = malloc((size_t)13 * lookups);
		for (long i = 0; i < lookups; i++) {
			uint8_t *key = keys + 13 * i;
			uint32_t s = xorshift32(), sp = xorshift32() & 0xffff;
			key[0] = s >> 24; key[1] = s >> 16; key[2] = s >> 8; key[3] = s;
			key[4] = 198; key[5] = 51; key[6] = 100; key[7] = 1;
			key[8] = sp >> 8; key[9] = sp; key[10] = 0; key[11] = 80; key[12] = 6;
		}
	}
	struct fastmod fm = fastmod_for((uint32_t)m);
	uint32_t sum = 0;
	int sums_agree = 1;
	double pass_secs[LOOKUP_PASSES], batched_secs[LOOKUP_PASSES];
	for (int p = 0; p < LOOKUP_PASSES; p++) {
		double t0 = now_ms();
		uint32_t s = lookup_pass(kernel, k.slots, fm, keys, ka, kp, lookups);
		pass_secs[p] = (now_ms() - t0) / 1e3;
		t0 = now_ms();
		uint32_t sb = lookup_pass_batched(kernel, k.slots, fm, keys, ka, kp, lookups);
		batched_secs[p] = (now_ms() - t0) / 1e3;
		if (p == 0) sum = s;
		sums_agree &= s == sum && sb == sum;
	}
	free(keys); free(ka); free(kp);
	qsort(pass_secs, LOOKUP_PASSES, sizeof(double), cmp_double);
	qsort(batched_secs, LOOKUP_PASSES, sizeof(double), cmp_double);
	printf("{\"impl\":\"c\",\"flavor\":\"%s\",\"tableSize\":%d,\"backends\":%d,\"buildsPerSample\":%d,\"populateSamples\":%d,\"populateMsMedian\":%.4f,\"populateMsMin\":%.4f,"
	       "\"maxOverAvg\":%.6f,\"lookupsPerSec\":%.0f,\"lookupsPerSecMedian\":%.0f,\"batchedLookupsPerSec\":%.0f,\"tableBytes\":%zu,\"tableChecksum\":%u,\"lookupChecksum\":%u}\n",
	       flavor, m, n, batch, reps, median, t[0], max_over_avg(k.slots, m, n), lookups / pass_secs[0], lookups / pass_secs[LOOKUP_PASSES / 2],
	       lookups / batched_secs[0], sizeof(int32_t) * (size_t)m, table_checksum(k.slots, m), sums_agree ? sum : 0);
	fflush(stdout);
	case_free(&k);
	free(t);
}

/*
 * For bench.ts, which loads this file built as a shared library through koffi so that its populate
 * samples and TypeScript's alternate in one process (see bench.ts): `batch` builds of one bench
 * case, timed in this thread's CPU time; returns milliseconds per build, or -1 without memory.
 * Same inputs as bench(); the case's inputs and buffers are kept between calls, as bench() keeps
 * them between its samples, so both time the same thing.
 */
static struct bench_case in_process;

double maglev_bench_populate_sample(int kernel, int m, int n, int batch) {
	struct bench_case *k = &in_process;
	if ((k->kernel != kernel || k->m != m || k->n != n) && !case_init(k, kernel, m, n)) return -1;
	return case_sample(k, batch);
}

/*
 * One lookup pass for bench.ts, which alternates these with its own passes (see above): `count`
 * lookups on a table bench.ts built (identical to this file's, which the checksums check), with
 * the keys bench.ts generated (13-byte tuples for maglev; addresses and ports for kernel). Returns
 * thread CPU seconds and writes the sum of the results plus one, as bench(), to *sum.
 */
double maglev_bench_lookup_pass(int kernel, const int32_t *slots, int m, const uint8_t *keys, const uint32_t *addrs,
                                const uint16_t *ports, int count, uint32_t *sum) {
	struct fastmod fm = fastmod_for((uint32_t)m);
	double t0 = now_ms();
	uint32_t s = lookup_pass(kernel, slots, fm, keys, addrs, ports, count);
	double secs = (now_ms() - t0) / 1e3;
	*sum = s;
	return secs;
}

/* Churn between two maglev tables, owners matched by (address, port). */
static void churn_case(const char *name, const uint32_t *a_addr, int an, const uint32_t *b_addr, int bn, int m, int first) {
	uint16_t *pa = malloc(sizeof(uint16_t) * an), *pb = malloc(sizeof(uint16_t) * bn);
	int *wa = malloc(sizeof(int) * an), *wb = malloc(sizeof(int) * bn);
	for (int i = 0; i < an; i++) { pa[i] = 8080; wa[i] = 1; }
	for (int i = 0; i < bn; i++) { pb[i] = 8080; wb[i] = 1; }
	int32_t *sa = malloc(sizeof(int32_t) * m), *sb = malloc(sizeof(int32_t) * m);
	struct scratch sc = {0};
	if (!scratch_fit(&sc, m, an > bn ? an : bn)) { fprintf(stderr, "out of memory\n"); exit(1); }
	maglev_build(&sc, a_addr, pa, wa, an, sa, m);
	maglev_build(&sc, b_addr, pb, wb, bn, sb, m);
	free(sc.used); free(sc.walks); free(sc.counters);
	int *tr = malloc(sizeof(int) * an);
	for (int i = 0; i < an; i++) {
		tr[i] = -2;
		for (int j = 0; j < bn; j++) if (b_addr[j] == a_addr[i]) { tr[i] = j; break; }
	}
	int *ca = calloc(an, sizeof(int)), *cb = calloc(bn, sizeof(int));
	long changed = 0;
	for (int s = 0; s < m; s++) {
		if (tr[sa[s]] != sb[s]) changed++;
		ca[sa[s]]++; cb[sb[s]]++;
	}
	long minimum = 0;
	for (int i = 0; i < an; i++) {
		int left = tr[i] >= 0 ? cb[tr[i]] : 0;
		if (ca[i] > left) minimum += ca[i] - left;
	}
	printf("%s\"%s\":{\"changedFraction\":%.8f,\"minimumFraction\":%.8f,\"changedSlots\":%ld,\"minimumSlots\":%ld}",
	       first ? "" : ",", name, (double)changed / m, (double)minimum / m, changed, minimum);
	free(pa); free(pb); free(wa); free(wb); free(sa); free(sb); free(tr); free(ca); free(cb);
}

static void churn(void) {
	const int n = 1000, m = 65537;
	uint32_t *all = malloc(sizeof(uint32_t) * (n + 1)), *b = malloc(sizeof(uint32_t) * (n + 1));
	for (int i = 0; i <= n; i++) all[i] = 0x0a000001u + (uint32_t)i;
	printf("{\"impl\":\"c\",\"churn\":true,\"flavor\":\"maglev\",\"tableSize\":%d,\"backends\":%d,", m, n);
	int k = 0;
	for (int i = 0; i < n; i++) if (i != 500) b[k++] = all[i];
	churn_case("remove1", all, n, b, k, m, 1);
	k = 0;
	for (int i = 0; i < n; i++) if (i % 100 != 0) b[k++] = all[i];
	churn_case("remove10", all, n, b, k, m, 0);
	churn_case("add1", all, n, all, n + 1, m, 0);
	printf("}\n");
	free(all); free(b);
}

int main(int argc, char **argv) {
	int reps = argc > 1 ? atoi(argv[1]) : 15;
	long lookups = argc > 2 ? atol(argv[2]) : 10000000L;
	if (reps < 1 || lookups < 1) {
		fprintf(stderr, "usage: %s <repetitions> <lookups> [kernel|maglev <size> <backends> [<builds per sample>] | churn]\n", argv[0]);
		return 2;
	}
	/* One case only: the TS bench runs each C case right after its own, so both see the same machine. */
	if (argc > 3 && strcmp(argv[3], "churn") == 0) { churn(); return 0; }
	if (argc > 5) {
		int m = atoi(argv[4]);
		int batch = argc > 6 ? atoi(argv[6]) : builds_per_sample(m);
		if (m < 2 || batch < 1) { fprintf(stderr, "bad table size or builds per sample\n"); return 2; }
		bench(strcmp(argv[3], "kernel") == 0 ? "kernel" : "maglev", m, atoi(argv[5]), reps, lookups, batch);
		return 0;
	}
	bench("maglev", 65537, 100, reps, lookups, builds_per_sample(65537));
	bench("maglev", 65537, 1000, reps, lookups, builds_per_sample(65537));
	bench("maglev", 655373, 1000, reps, lookups, builds_per_sample(655373));
	bench("kernel", 65521, 1000, reps, lookups, builds_per_sample(65521));
	bench("kernel", 4093, 3, reps, lookups, builds_per_sample(4093));
	churn();
	return 0;
}
