/*
 * sampler.c - a reader with profiler semantics for the tests: a SIGPROF handler interrupts a thread
 * and checks the record that thread publishes, exactly as an eBPF profiler reads it while the thread
 * is stopped. Only registered threads are checked (their TLS is known to exist, so reading it cannot
 * allocate inside the handler).
 *
 * The writers under test follow one convention: every byte of the trace id equals k (1..255); with
 * check_span, every span-id byte equals k and trace_flags == (k & 1); when attributes are present the
 * first entry has key `key_index` and a value whose every byte equals 'a' + k % 26.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

typedef const uint8_t *(*current_fn)(void);

enum { CHECKED, EMPTY, INVALID, TORN, UNREGISTERED, COUNTS };

static current_fn current;
static int expected_key;
static int check_span;
static atomic_int registered[256];
static atomic_long counts[COUNTS];

static int is_registered(int tid) {
    for (int i = 0; i < 256; i++) {
        int t = atomic_load_explicit(&registered[i], memory_order_relaxed);
        if (t == tid) return 1;
        if (t == 0) return 0;
    }
    return 0;
}

static int whole(const uint8_t *r) {
    uint8_t k = r[0];
    if (k == 0) return 0;
    for (int i = 1; i < 16; i++) if (r[i] != k) return 0;
    if (check_span) {
        for (int i = 16; i < 24; i++) if (r[i] != k) return 0;
        if (r[25] != (k & 1)) return 0;
    }
    uint16_t size;
    memcpy(&size, r + 26, sizeof size);
    if (size == 0) return 1;
    if (size < 2 || size > 612 || r[28] != expected_key) return 0;
    uint8_t length = r[29];
    if (2u + length > size) return 0;
    for (int i = 0; i < length; i++) if (r[30 + i] != (uint8_t)('a' + k % 26)) return 0;
    return 1;
}

static void on_sigprof(int sig) {
    (void)sig;
    int saved = errno;
    if (!is_registered((int)syscall(SYS_gettid))) {
        atomic_fetch_add(&counts[UNREGISTERED], 1);
    } else {
        const uint8_t *r = current();
        if (r == NULL) atomic_fetch_add(&counts[EMPTY], 1);
        else if (r[24] != 1) atomic_fetch_add(&counts[INVALID], 1);
        else if (!whole(r)) atomic_fetch_add(&counts[TORN], 1);
        else atomic_fetch_add(&counts[CHECKED], 1);
    }
    errno = saved;
}

int otc_sampler_install(current_fn fn, int key_index, int span) {
    current = fn;
    expected_key = key_index;
    check_span = span;
    for (int i = 0; i < COUNTS; i++) atomic_store(&counts[i], 0);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_sigprof;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGPROF, &action, NULL);
}

/* Registers the calling thread (its TLS for otel_thread_ctx_v1 must already exist). */
void otc_sampler_register(void) {
    int tid = (int)syscall(SYS_gettid);
    for (int i = 0; i < 256; i++) {
        int expected = 0;
        if (atomic_load(&registered[i]) == tid) return;
        if (atomic_compare_exchange_strong(&registered[i], &expected, tid)) return;
    }
}

uint64_t otc_sampler_self(void) { return (uint64_t)pthread_self(); }

static long handled(void) {
    long total = 0;
    for (int i = 0; i < COUNTS; i++) total += atomic_load(&counts[i]);
    return total;
}

/* Sends `count` SIGPROFs to `target`, one at a time: each is handled (or 10 ms pass) before the next, since a
 * signal still pending when another is sent merges with it. Returns how many were handled. */
long otc_sampler_kill(uint64_t target, long count) {
    long landed = 0;
    for (long i = 0; i < count; i++) {
        long before = handled();
        if (pthread_kill((pthread_t)target, SIGPROF) != 0) break;
        for (int spin = 0; spin < 10000 && handled() == before; spin++) {
            sched_yield();
        }
        if (handled() != before) landed++;
    }
    return landed;
}

/* A CPU-time profiling timer for the whole process (0 stops it): signals land on running threads. */
int otc_sampler_itimer(long interval_us) {
    struct itimerval timer;
    memset(&timer, 0, sizeof timer);
    timer.it_interval.tv_usec = interval_us;
    timer.it_value.tv_usec = interval_us;
    return setitimer(ITIMER_PROF, &timer, NULL);
}

void otc_sampler_counts(long out[COUNTS]) {
    for (int i = 0; i < COUNTS; i++) out[i] = atomic_load(&counts[i]);
}
