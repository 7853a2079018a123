/*
 * dlopen_probe.c - the C API reached the way the managed wrapper reaches it: dlopen the library named on the command
 * line, dlsym each function, call through the pointers. Built with musl-gcc (or aarch64-linux-musl-gcc) by the
 * end-to-end tests, so that it runs under musl's own loader (/lib/ld-musl-<arch>.so.1).
 *
 *   dlopen_probe <library> [threads] [hand-shake file]
 *
 * Each thread checks the API (set / read back / counted attach / clear / dispose), then publishes its own record
 * (trace id bytes 0x10+i..., span id bytes 0x20+i..., attribute 0 = "thread-<i>") and holds it. The main thread then
 * prints one "record <tid> <trace id hex> <span id hex>" line per thread and "ready <pid>" (also written, whole, to
 * <hand-shake file>.ready when a hand-shake file is named), and waits until its standard input closes, or until the
 * hand-shake file exists (at most 60 s); an external reader reads the records meanwhile. The threads then clear and
 * the program prints "dlopen_probe: ok". Exit 0 = every check held.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "otel_thread_ctx.h"

#define MAX_THREADS 16

static struct {
    int (*set)(const uint8_t *, const uint8_t *, uint8_t, const uint8_t *, size_t);
    size_t (*read_current)(uint8_t *, size_t);
    otel_thread_ctx_record *(*record_new_user)(uintptr_t);
    void (*record_set_ids)(otel_thread_ctx_record *, const uint8_t *, const uint8_t *, uint8_t);
    int (*attach_counted)(otel_thread_ctx_record *, uintptr_t *);
    uintptr_t (*clear)(void);
    uintptr_t (*current_user)(void);
    int32_t (*attach_count)(const otel_thread_ctx_record *);
    int32_t (*dispose_begin)(otel_thread_ctx_record *);
    int32_t (*dispose_end)(otel_thread_ctx_record *);
} api;

static pthread_barrier_t published;
static pthread_barrier_t release;
static long tids[MAX_THREADS];

static int check_api(int k) {
    uint8_t trace[16], span[8], buffer[OTEL_THREAD_CTX_RECORD_SIZE];
    memset(trace, k, sizeof trace);
    memset(span, k, sizeof span);
    const uint8_t attrs[] = {0, 3, 'a', 'b', 'c'};
    for (int round = 0; round < 1000; round++) {
        trace[0] = (uint8_t)(k + round);
        if (api.set(trace, span, 1, attrs, sizeof attrs) != 0) return 1;
        size_t n = api.read_current(buffer, sizeof buffer);
        if (n != OTEL_THREAD_CTX_HEADER_SIZE + sizeof attrs || buffer[0] != trace[0] || buffer[1] != k || buffer[16] != k
            || buffer[24] != 1 || buffer[25] != 1 || buffer[26] != sizeof attrs || buffer[28] != 0 || buffer[30] != 'a') {
            return 2;
        }
    }
    otel_thread_ctx_record *shared = api.record_new_user(42);
    if (shared == NULL) return 3;
    api.record_set_ids(shared, trace, span, 0);
    uintptr_t previous = 7;
    if (api.attach_counted(shared, &previous) != 0 || previous != 0) return 4;
    if (api.current_user() != 42 || api.attach_count(shared) != 1) return 5;
    if (api.dispose_begin(shared) != 0 || api.dispose_end(shared) != 1) return 6; /* refused: attached */
    if (api.clear() != 42 || api.attach_count(shared) != 0) return 7;
    if (api.read_current(buffer, sizeof buffer) != 0) return 8;
    if (api.dispose_begin(shared) != 0 || api.dispose_end(shared) != 0) return 9;
    return 0;
}

static void *run(void *argument) {
    int i = (int)(intptr_t)argument;
    int failed = check_api(i + 1);
    uint8_t trace[16], span[8], attrs[2 + 16];
    memset(trace, 0x10 + i, sizeof trace);
    memset(span, 0x20 + i, sizeof span);
    int length = snprintf((char *)attrs + 2, sizeof attrs - 2, "thread-%d", i);
    attrs[0] = 0;
    attrs[1] = (uint8_t)length;
    if (!failed && api.set(trace, span, 1, attrs, 2 + (size_t)length) != 0) failed = 20;
    tids[i] = (long)syscall(SYS_gettid);
    pthread_barrier_wait(&published);
    pthread_barrier_wait(&release);
    uint8_t buffer[OTEL_THREAD_CTX_RECORD_SIZE];
    if (!failed && (api.read_current(buffer, sizeof buffer) != OTEL_THREAD_CTX_HEADER_SIZE + 2 + (size_t)length || buffer[0] != 0x10 + i)) failed = 21;
    api.clear();
    return (void *)(intptr_t)failed;
}

#define RESOLVE(field, name)                                                   \
    do {                                                                       \
        *(void **)&api.field = dlsym(library, name);                           \
        if (api.field == NULL) {                                               \
            printf("dlopen_probe: %s missing: %s\n", name, dlerror());         \
            return 11;                                                         \
        }                                                                      \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: dlopen_probe <library> [threads]\n");
        return 64;
    }
    int count = argc > 2 ? atoi(argv[2]) : 4;
    if (count < 1 || count > MAX_THREADS) count = 4;
    void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        printf("dlopen_probe: dlopen failed: %s\n", dlerror());
        return 10;
    }
    RESOLVE(set, "otel_thread_ctx_set");
    RESOLVE(read_current, "otel_thread_ctx_read_current");
    RESOLVE(record_new_user, "otel_thread_ctx_record_new_user");
    RESOLVE(record_set_ids, "otel_thread_ctx_record_set_ids");
    RESOLVE(attach_counted, "otel_thread_ctx_attach_counted");
    RESOLVE(clear, "otel_thread_ctx_clear");
    RESOLVE(current_user, "otel_thread_ctx_current_user");
    RESOLVE(attach_count, "otel_thread_ctx_record_attach_count");
    RESOLVE(dispose_begin, "otel_thread_ctx_record_dispose_begin");
    RESOLVE(dispose_end, "otel_thread_ctx_record_dispose_end");
    if (dlsym(library, "otel_thread_ctx_v1") == NULL) {
        printf("dlopen_probe: otel_thread_ctx_v1 not exported\n");
        return 12;
    }

    pthread_barrier_init(&published, NULL, (unsigned)count + 1);
    pthread_barrier_init(&release, NULL, (unsigned)count + 1);
    pthread_t threads[MAX_THREADS];
    for (int i = 0; i < count; i++) {
        if (pthread_create(&threads[i], NULL, run, (void *)(intptr_t)i) != 0) return 13;
    }
    pthread_barrier_wait(&published);
    char report[MAX_THREADS * 96 + 32];
    size_t used = 0;
    for (int i = 0; i < count; i++) {
        used += (size_t)snprintf(report + used, sizeof report - used, "record %ld ", tids[i]);
        for (int b = 0; b < 16; b++) used += (size_t)snprintf(report + used, sizeof report - used, "%02x", 0x10 + i);
        used += (size_t)snprintf(report + used, sizeof report - used, " ");
        for (int b = 0; b < 8; b++) used += (size_t)snprintf(report + used, sizeof report - used, "%02x", 0x20 + i);
        used += (size_t)snprintf(report + used, sizeof report - used, " thread-%d\n", i);
    }
    used += (size_t)snprintf(report + used, sizeof report - used, "ready %d\n", (int)getpid());
    fputs(report, stdout);
    fflush(stdout);
    if (argc > 3) {
        char path[4096], temporary[4096];
        snprintf(path, sizeof path, "%s.ready", argv[3]);
        snprintf(temporary, sizeof temporary, "%s.ready.tmp", argv[3]);
        FILE *ready = fopen(temporary, "w");
        if (ready == NULL || fputs(report, ready) < 0 || fclose(ready) != 0 || rename(temporary, path) != 0) return 14;
        for (int waited = 0; waited < 6000 && access(argv[3], F_OK) != 0; waited++) usleep(10000);
    } else {
        char line[64];
        while (fgets(line, sizeof line, stdin) != NULL) {
        }
    }
    pthread_barrier_wait(&release);
    int failed = 0;
    for (int i = 0; i < count; i++) {
        void *result = NULL;
        pthread_join(threads[i], &result);
        if (result != NULL) {
            printf("dlopen_probe: thread %d failed check %d\n", i, (int)(intptr_t)result);
            failed = 1;
        }
    }
    if (!failed) printf("dlopen_probe: ok\n");
    return failed;
}
