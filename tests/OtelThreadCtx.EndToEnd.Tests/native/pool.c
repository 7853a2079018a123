/*
 * pool.c - record blocks under threads: a released record is reused by the releasing thread's next record, with a
 * clean header; a record that any thread publishes is never handed out again; records created on one thread and
 * released on another; threads that exit with a full pool and a counted record attached give everything back.
 * Built for x86-64 and for aarch64 (run under qemu-user) by the end-to-end tests. Exit 0 = every check held.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "otel_thread_ctx.h"

#define CHECK(condition, code)                                                \
    do {                                                                      \
        if (!(condition)) {                                                   \
            printf("pool: check %d failed (line %d)\n", (code), __LINE__);    \
            return (code);                                                    \
        }                                                                     \
    } while (0)

static const uint8_t kValue[16] = {'/', 'o', 'r', 'd', 'e', 'r', 's', '/', '{', 'i', 'd', '}', '/', 'x', 'y', 'z'};

static int header_is_fresh(const otel_thread_ctx_record *r) {
    static const uint8_t zero[24];
    return memcmp(r->trace_id, zero, 16) == 0 && memcmp(r->span_id, zero, 8) == 0 && r->valid == 1
           && r->trace_flags == 0 && r->attrs_data_size == 0;
}

/* 1. The calling thread's released block comes back as its next record, looking new. */
static int reuse_on_one_thread(void) {
    uint8_t trace[16], span[8];
    memset(trace, 0xab, sizeof trace);
    memset(span, 0xcd, sizeof span);
    otel_thread_ctx_record *first = otel_thread_ctx_record_new();
    otel_thread_ctx_record_set_ids(first, trace, span, 1);
    CHECK(otel_thread_ctx_record_add_attr(first, 0, kValue, sizeof kValue) == OTEL_THREAD_CTX_OK, 11);
    otel_thread_ctx_record_free(first);
    otel_thread_ctx_record *second = otel_thread_ctx_record_new_user(5);
    CHECK(second == first, 12);
    CHECK(header_is_fresh(second), 13);
    CHECK(otel_thread_ctx_record_attach_count(second) == 0 && otel_thread_ctx_record_is_owner(second), 14);
    /* Counted: disposed, then reused as a plain one. */
    CHECK(otel_thread_ctx_record_dispose_begin(second) == 0 && otel_thread_ctx_record_dispose_end(second) == 0, 15);
    otel_thread_ctx_record *third = otel_thread_ctx_record_new();
    CHECK(third == first && header_is_fresh(third), 16);
    otel_thread_ctx_record_free(third);
    return 0;
}

/* 2. A record published by a parked thread is never handed out while it is published, whoever allocates. */
static otel_thread_ctx_record *published;
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int park_state; /* 0 starting, 1 attached, 2 release it */

static void *holder(void *unused) {
    (void)unused;
    uintptr_t previous = 0;
    intptr_t failed = otel_thread_ctx_attach_counted(published, &previous) != 0;
    pthread_mutex_lock(&park_lock);
    park_state = 1;
    pthread_cond_broadcast(&park_cond);
    while (park_state != 2) pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
    if (otel_thread_ctx_clear() != 77) failed = 1;
    return (void *)failed;
}

static void *churn(void *argument) {
    intptr_t k = (intptr_t)argument;
    uint8_t trace[16], span[8];
    memset(trace, (int)k, sizeof trace);
    memset(span, (int)k, sizeof span);
    for (int i = 0; i < 20000; i++) {
        otel_thread_ctx_record *a = otel_thread_ctx_record_new();
        otel_thread_ctx_record *b = otel_thread_ctx_record_new_user((uintptr_t)i + 1);
        if (a == published || b == published) return (void *)(intptr_t)21;
        otel_thread_ctx_record_set_ids(a, trace, span, 1);
        otel_thread_ctx_record_set_ids(b, trace, span, 1);
        /* a is published through the plain attach, b counted; both are released on this thread. */
        otel_thread_ctx_attach(a);
        otel_thread_ctx_record_free(otel_thread_ctx_detach());
        uintptr_t previous = 0;
        if (otel_thread_ctx_attach_counted(b, &previous) != 0) return (void *)(intptr_t)22;
        otel_thread_ctx_clear();
        if (otel_thread_ctx_record_dispose_begin(b) != 0 || otel_thread_ctx_record_dispose_end(b) != 0) return (void *)(intptr_t)23;
    }
    return NULL;
}

static int published_never_reused(void) {
    uint8_t trace[16], span[8];
    memset(trace, 0x5a, sizeof trace);
    memset(span, 0x6b, sizeof span);
    published = otel_thread_ctx_record_new_user(77);
    otel_thread_ctx_record_set_ids(published, trace, span, 1);
    CHECK(otel_thread_ctx_record_add_attr(published, 3, kValue, sizeof kValue) == OTEL_THREAD_CTX_OK, 20);
    uint8_t before[OTEL_THREAD_CTX_HEADER_SIZE + 2 + sizeof kValue];
    memcpy(before, published, sizeof before);

    pthread_t hold, workers[4];
    CHECK(pthread_create(&hold, NULL, holder, NULL) == 0, 24);
    pthread_mutex_lock(&park_lock);
    while (park_state != 1) pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);

    CHECK(otel_thread_ctx_record_dispose_begin(published) == 1, 25); /* the holder publishes it: refused */
    for (intptr_t i = 0; i < 4; i++) CHECK(pthread_create(&workers[i], NULL, churn, (void *)(i + 1)) == 0, 26);
    churn((void *)(intptr_t)9); /* the creating thread allocates too */
    for (int i = 0; i < 4; i++) {
        void *result = NULL;
        pthread_join(workers[i], &result);
        CHECK(result == NULL, (int)(intptr_t)result);
    }
    CHECK(memcmp(before, published, sizeof before) == 0, 27); /* still the bytes readers see */
    CHECK(otel_thread_ctx_record_attach_count(published) == 1, 28);

    pthread_mutex_lock(&park_lock);
    park_state = 2;
    pthread_cond_broadcast(&park_cond);
    pthread_mutex_unlock(&park_lock);
    void *result = NULL;
    pthread_join(hold, &result);
    CHECK(result == NULL, 29);
    CHECK(otel_thread_ctx_record_dispose_begin(published) == 0 && otel_thread_ctx_record_dispose_end(published) == 0, 30);
    /* Released now: this thread's next record may be it. */
    otel_thread_ctx_record *next = otel_thread_ctx_record_new();
    CHECK(next == published && header_is_fresh(next), 31);
    otel_thread_ctx_record_free(next);
    return 0;
}

/* 3. Records made on one thread, published, read back and disposed on the next one (its pool takes them). */
#define RING 4
#define BATCH 16
static otel_thread_ctx_record *made[RING][BATCH];
static pthread_barrier_t ring_barrier;

static void *ring(void *argument) {
    int k = (int)(intptr_t)argument;
    uint8_t buffer[OTEL_THREAD_CTX_RECORD_SIZE];
    for (int round = 0; round < 300; round++) {
        for (int j = 0; j < BATCH; j++) {
            uint8_t trace[16], span[8];
            memset(trace, k + 1, sizeof trace);
            memset(span, j + 1, sizeof span);
            trace[0] = (uint8_t)round;
            otel_thread_ctx_record *r = otel_thread_ctx_record_new_user((uintptr_t)(k * 1000 + j + 1));
            if (!header_is_fresh(r)) return (void *)(intptr_t)41;
            otel_thread_ctx_record_set_ids(r, trace, span, 1);
            otel_thread_ctx_record_add_attr(r, (uint8_t)k, kValue, sizeof kValue);
            made[k][j] = r;
        }
        pthread_barrier_wait(&ring_barrier);
        int from = (k + 1) % RING;
        for (int j = 0; j < BATCH; j++) {
            otel_thread_ctx_record *r = made[from][j];
            uintptr_t previous = 0;
            if (otel_thread_ctx_attach_counted(r, &previous) != 0) return (void *)(intptr_t)42;
            size_t n = otel_thread_ctx_read_current(buffer, sizeof buffer);
            if (n != OTEL_THREAD_CTX_HEADER_SIZE + 2 + sizeof kValue || buffer[0] != (uint8_t)round || buffer[1] != from + 1
                || buffer[16] != j + 1 || buffer[28] != from || otel_thread_ctx_current_user() != (uintptr_t)(from * 1000 + j + 1)) {
                return (void *)(intptr_t)43;
            }
            if (otel_thread_ctx_record_is_owner(r)) return (void *)(intptr_t)44;
            if (otel_thread_ctx_clear() != (uintptr_t)(from * 1000 + j + 1)) return (void *)(intptr_t)45;
            /* Not the creator: nobody publishes it and its creator does not attach it, so it is disposed here. */
            if (otel_thread_ctx_record_dispose_begin(r) != 0 || otel_thread_ctx_record_dispose_end(r) != 0) return (void *)(intptr_t)46;
        }
        pthread_barrier_wait(&ring_barrier);
    }
    return NULL;
}

static int across_threads(void) {
    pthread_t threads[RING];
    pthread_barrier_init(&ring_barrier, NULL, RING);
    for (intptr_t i = 0; i < RING; i++) CHECK(pthread_create(&threads[i], NULL, ring, (void *)i) == 0, 40);
    int failed = 0;
    for (int i = 0; i < RING; i++) {
        void *result = NULL;
        pthread_join(threads[i], &result);
        if (result != NULL) {
            printf("pool: ring thread %d failed check %d\n", i, (int)(intptr_t)result);
            failed = 47;
        }
    }
    pthread_barrier_destroy(&ring_barrier);
    return failed;
}

/* 4. Threads that exit with a full pool and a counted record attached: the record is released, the pools freed. */
static otel_thread_ctx_record *shared_record;

static void *exiting(void *unused) {
    (void)unused;
    otel_thread_ctx_record *records[12];
    for (int i = 0; i < 12; i++) records[i] = otel_thread_ctx_record_new();
    for (int i = 0; i < 12; i++) otel_thread_ctx_record_free(records[i]); /* 8 kept, 4 freed */
    uintptr_t previous = 0;
    return (void *)(intptr_t)(otel_thread_ctx_attach_counted(shared_record, &previous) != 0);
}

static int thread_exit_releases(void) {
    shared_record = otel_thread_ctx_record_new_user(9);
    for (int i = 0; i < 100; i++) { /* warm up the allocator's own per-thread state */
        pthread_t t;
        CHECK(pthread_create(&t, NULL, exiting, NULL) == 0, 50);
        pthread_join(t, NULL);
    }
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 2000; i++) {
        pthread_t t;
        void *result = NULL;
        CHECK(pthread_create(&t, NULL, exiting, NULL) == 0, 51);
        pthread_join(t, &result);
        CHECK(result == NULL, 52);
    }
    struct mallinfo2 after = mallinfo2();
    long growth = (long)after.uordblks - (long)before.uordblks;
    printf("pool: heap in use grew by %ld bytes over 2000 exited threads (a leaked pool each would be %zu)\n", growth,
           (size_t)2000 * 8 * (OTEL_THREAD_CTX_RECORD_SIZE + 32));
    CHECK(growth < 256 * 1024, 53);
    CHECK(otel_thread_ctx_record_attach_count(shared_record) == 0, 54);
    CHECK(otel_thread_ctx_record_dispose_begin(shared_record) == 0 && otel_thread_ctx_record_dispose_end(shared_record) == 0, 55);
    return 0;
}

int main(void) {
    int failed = reuse_on_one_thread();
    if (!failed) failed = published_never_reused();
    if (!failed) failed = across_threads();
    if (!failed) failed = thread_exit_releases();
    if (!failed) printf("pool: ok\n");
    return failed;
}
