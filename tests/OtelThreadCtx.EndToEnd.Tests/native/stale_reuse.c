/*
 * stale_reuse.c - attaches that race the Dispose of the record they name and the reuse of its block at once. This thread
 * creates record after record, hands each to the attachers and disposes it; the next record almost always gets the block
 * just freed (blocks are reused, last in, first out). The attachers attach whatever record they were handed last,
 * counted and checked against its user value, so many attaches start on a record that is being disposed and end on a
 * block that already holds the next one. Such an attach must be refused, and whatever it did to the block on the way
 * must not change what the next record's Dispose sees: a count it took back after the block was reused once cancelled
 * a real attach of the next record (the Rust layer's counter, reset at reuse), whose Dispose then freed it while it was
 * published.
 * Checks: a Dispose never succeeds while an attacher publishes the record; no count is ever negative; Disposes keep
 * succeeding (see the watchdog: attachers that waited for a Dispose's outcome while protecting the record made the
 * Disposes refuse, for good or for minutes); the race ran. Built against the C layer and the Rust layer
 * by the end-to-end tests.
 * Exit 0 = every check held.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "otel_thread_ctx.h"

#define ATTACHERS 2
#define DEFAULT_ROUNDS 400000

/* The record handed out, under a sequence lock: odd while this thread changes it. Record i has sequence 2 * i. */
static uint64_t sequence;
static otel_thread_ctx_record *handed;
static uintptr_t handed_user;
/* The index of the last record whose Dispose succeeded. */
static uint64_t disposed;
static int stop;

static uint64_t published_after_dispose;

/* Each attacher's counts, read by the main loop while it runs (one cache line each). */
typedef struct counts {
    uint64_t attached, refused;
    char padding[48];
} counts;
static counts per_attacher[ATTACHERS];

static void spin(unsigned count) {
    for (volatile unsigned i = 0; i < count; i++) {
    }
}

static void *attacher(void *argument) {
    unsigned seed = (unsigned)(uintptr_t)argument;
    counts *mine = &per_attacher[seed - 1];
    uint64_t mine_attached = 0, mine_refused = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        uint64_t before = __atomic_load_n(&sequence, __ATOMIC_ACQUIRE);
        otel_thread_ctx_record *record = __atomic_load_n(&handed, __ATOMIC_RELAXED);
        uintptr_t user = __atomic_load_n(&handed_user, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if ((before & 1) != 0 || __atomic_load_n(&sequence, __ATOMIC_RELAXED) != before || record == NULL) {
            continue;
        }
        uint64_t index = before / 2;
        uintptr_t previous = 0;
        int result = otel_thread_ctx_attach_counted_checked(record, user, &previous);
        if (result == 0) {
            __atomic_store_n(&mine->attached, ++mine_attached, __ATOMIC_RELAXED);
            seed = seed * 1103515245u + 12345u;
            spin(20 + (seed >> 16) % 2000); /* published for up to a few microseconds: a Dispose in this time is refused */
            if (__atomic_load_n(&disposed, __ATOMIC_ACQUIRE) >= index) {
                __atomic_add_fetch(&published_after_dispose, 1, __ATOMIC_RELAXED);
            }
            if (otel_thread_ctx_clear() != user) {
                __atomic_add_fetch(&published_after_dispose, 1, __ATOMIC_RELAXED);
            }
            spin((seed >> 8) % 2000); /* a gap, of varied length, in which a Dispose can succeed */
        } else {
            __atomic_store_n(&mine->refused, ++mine_refused, __ATOMIC_RELAXED); /* disposed, or being disposed */
        }
    }
    return NULL;
}

static uint64_t attached(void) {
    uint64_t sum = 0;
    for (int t = 0; t < ATTACHERS; t++) sum += __atomic_load_n(&per_attacher[t].attached, __ATOMIC_RELAXED);
    return sum;
}

static uint64_t refused_attaches(void) {
    uint64_t sum = 0;
    for (int t = 0; t < ATTACHERS; t++) sum += __atomic_load_n(&per_attacher[t].refused, __ATOMIC_RELAXED);
    return sum;
}

/* Both outcomes of the race, many times: attaches that won and lost, and Disposes refused by a publisher. */
static int race_ran(uint64_t refused_disposes) {
    return attached() >= 1000 && refused_attaches() >= 100 && refused_disposes >= 100;
}

/* Disposes starved: none for 10 s, or the run not done in 120 s (about 1 s here for the layers as they are; with
 * waiting attachers protecting the record, the C layer stalled for good or took over 10 minutes). */
static void *watchdog(void *unused) {
    (void)unused;
    uint64_t last = 0;
    int still = 0;
    for (int seconds = 1; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); seconds++) {
        sleep(1);
        uint64_t now = __atomic_load_n(&disposed, __ATOMIC_ACQUIRE);
        still = now == last ? still + 1 : 0;
        last = now;
        if (still == 10 || seconds == 120) {
            printf("stale_reuse: Disposes starved: %s (%llu records disposed)\n",
                   still == 10 ? "none succeeded for 10 s" : "not done in 120 s", (unsigned long long)now);
            fflush(stdout);
            _exit(5);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    long rounds = argc > 1 ? atol(argv[1]) : DEFAULT_ROUNDS;
    pthread_t threads[ATTACHERS], dog;
    if (pthread_create(&dog, NULL, watchdog, NULL) != 0) {
        printf("stale_reuse: pthread_create failed\n");
        return 2;
    }
    for (int t = 0; t < ATTACHERS; t++) {
        if (pthread_create(&threads[t], NULL, attacher, (void *)(uintptr_t)(t + 1)) != 0) {
            printf("stale_reuse: pthread_create failed\n");
            return 2;
        }
    }

    uint64_t negative = 0, refused_disposes = 0, not_live = 0;
    /* At least `rounds` records, and more (up to 50 times as many) until the race ran: on a loaded machine the
     * attachers may get little time at first. */
    long i;
    for (i = 1; i <= rounds || (!race_ran(refused_disposes) && i <= 50 * rounds); i++) {
        uintptr_t user = 0;
        otel_thread_ctx_record *record = otel_thread_ctx_record_new_bound(&user);
        if (record == NULL) {
            printf("stale_reuse: record_new_bound failed\n");
            return 3;
        }
        if (otel_thread_ctx_record_attach_count(record) < 0) negative++;
        __atomic_store_n(&sequence, 2 * (uint64_t)i - 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(&handed, record, __ATOMIC_RELAXED);
        __atomic_store_n(&handed_user, user, __ATOMIC_RELAXED);
        __atomic_store_n(&sequence, 2 * (uint64_t)i, __ATOMIC_RELEASE);
        spin((unsigned)(i % 97) * 4);
        for (;;) {
            int32_t count = otel_thread_ctx_record_attach_count(record);
            if (count < 0) negative++;
            int32_t result = otel_thread_ctx_record_dispose(record);
            if (result == 0) break;
            if (result < 0) {
                not_live++;
                break;
            }
            refused_disposes++;
            spin(50);
        }
        __atomic_store_n(&disposed, (uint64_t)i, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int t = 0; t < ATTACHERS; t++) pthread_join(threads[t], NULL);
    pthread_join(dog, NULL);

    printf("stale_reuse: %ld records, %llu attached, %llu attaches refused, %llu disposes refused, %llu published after "
           "dispose, %llu negative counts, %llu not live at dispose\n",
           i - 1, (unsigned long long)attached(), (unsigned long long)refused_attaches(), (unsigned long long)refused_disposes,
           (unsigned long long)published_after_dispose, (unsigned long long)negative, (unsigned long long)not_live);
    if (published_after_dispose != 0 || negative != 0 || not_live != 0) return 1;
    /* The race ran: attaches succeeded and were refused, and some Dispose met a publisher. */
    if (!race_ran(refused_disposes)) {
        printf("stale_reuse: the race did not run\n");
        return 4;
    }
    printf("stale_reuse: ok\n");
    return 0;
}
