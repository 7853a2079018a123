/*
 * smoke.c - the C API on several threads, as a C caller uses it: the thread's own records (set / clear),
 * a counted shared record (attach / current / clear / dispose), read back through the library.
 * Built for x86-64 and for aarch64 (run under qemu-user) by the end-to-end tests. Exit 0 = every check held.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "otel_thread_ctx.h"

static int check_thread(int k) {
    uint8_t trace[16], span[8], buffer[OTEL_THREAD_CTX_RECORD_SIZE];
    memset(trace, k, sizeof trace);
    memset(span, k, sizeof span);
    const uint8_t attrs[] = {0, 3, 'a', 'b', 'c'};

    for (int round = 0; round < 1000; round++) {
        trace[0] = (uint8_t)(k + round);
        if (otel_thread_ctx_set(trace, span, 1, attrs, sizeof attrs) != 0) return 1;
        size_t n = otel_thread_ctx_read_current(buffer, sizeof buffer);
        if (n != OTEL_THREAD_CTX_HEADER_SIZE + sizeof attrs || buffer[0] != trace[0] || buffer[1] != k || buffer[16] != k
            || buffer[24] != 1 || buffer[25] != 1 || buffer[26] != sizeof attrs || buffer[28] != 0 || buffer[30] != 'a') {
            return 2;
        }
    }

    otel_thread_ctx_record *shared = otel_thread_ctx_record_new_user(42);
    otel_thread_ctx_record_set_ids(shared, trace, span, 0);
    uintptr_t previous = 7;
    if (otel_thread_ctx_attach_counted(shared, &previous) != 0 || previous != 0) return 3;
    if (otel_thread_ctx_current_user() != 42 || otel_thread_ctx_record_attach_count(shared) != 1) return 4;
    if (otel_thread_ctx_record_dispose_begin(shared) != 0 || otel_thread_ctx_record_dispose_end(shared) != 1) return 5; /* refused: attached */
    if (otel_thread_ctx_clear() != 42 || otel_thread_ctx_record_attach_count(shared) != 0) return 6;
    if (otel_thread_ctx_read_current(buffer, sizeof buffer) != 0) return 7;
    if (otel_thread_ctx_record_dispose_begin(shared) != 0 || otel_thread_ctx_record_dispose_end(shared) != 0) return 8;
    return 0;
}

static void *run(void *argument) {
    return (void *)(intptr_t)check_thread((int)(intptr_t)argument);
}

int main(void) {
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        if (pthread_create(&threads[i], NULL, run, (void *)(intptr_t)(i + 1)) != 0) return 10;
    }
    int failed = 0;
    for (int i = 0; i < 4; i++) {
        void *result = NULL;
        pthread_join(threads[i], &result);
        if (result != NULL) {
            printf("smoke: thread %d failed check %d\n", i + 1, (int)(intptr_t)result);
            failed = 1;
        }
    }
    if (!failed) printf("smoke: ok\n");
    return failed;
}
