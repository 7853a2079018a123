/* A C process for otel-thread-ctx to read: N threads each publish a known record and wait.
 * usage: writer <threads> [normal|garbage]
 * Prints "thread <tid> <trace_id> <span_id> <flags> <route>" per thread, then "ready <pid>"; EOF or "exit" on stdin
 * ends it. garbage (needs -DDIRECT_SLOT: the variable is in this executable): thread 0's slot points at a record whose
 * attrs_data_size is 5000, thread 1's at an unmapped address. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "otel_thread_ctx.h"

#ifdef DIRECT_SLOT
extern _Thread_local otel_thread_ctx_record *otel_thread_ctx_v1;
#endif

#define MAX_THREADS 16
static int garbage;
static pthread_barrier_t ready;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int done;
static char lines[MAX_THREADS][160];

static void hex(char *out, const uint8_t *bytes, int n) {
    for (int k = 0; k < n; k++) {
        sprintf(out + 2 * k, "%02x", bytes[k]);
    }
}

static void *run(void *arg) {
    int i = (int)(intptr_t)arg;
    uint8_t trace[16], span[8];
    char route[32], th[33], sh[17];
    for (int k = 0; k < 16; k++) trace[k] = (uint8_t)(0x11 * (i + 1) + k);
    for (int k = 0; k < 8; k++) span[k] = (uint8_t)(0xa0 + 8 * i + k);
    snprintf(route, sizeof route, "/c/%d", i);
    uint8_t flags = (uint8_t)(i % 2);
#ifdef DIRECT_SLOT
    static otel_thread_ctx_record bad;
    if (garbage && i == 0) {
        memset(&bad, 0, sizeof bad);
        bad.valid = 1;
        bad.attrs_data_size = 5000;
        otel_thread_ctx_v1 = &bad;
        snprintf(route, sizeof route, "bad-size");
    } else if (garbage && i == 1) {
        otel_thread_ctx_v1 = (otel_thread_ctx_record *)(uintptr_t)0x10;
        snprintf(route, sizeof route, "unmapped");
    } else
#endif
    {
        otel_thread_ctx_record *record = otel_thread_ctx_record_new();
        otel_thread_ctx_record_set_ids(record, trace, span, flags);
        otel_thread_ctx_record_add_attr(record, 0, (const uint8_t *)route, strlen(route));
        otel_thread_ctx_attach(record);
    }
    hex(th, trace, 16);
    hex(sh, span, 8);
    snprintf(lines[i], sizeof lines[i], "thread %ld %s %s %d %s", (long)syscall(SYS_gettid), th, sh, flags, route);
    pthread_barrier_wait(&ready);
    pthread_mutex_lock(&lock);
    while (!done) pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3;
    garbage = argc > 2 && strcmp(argv[2], "garbage") == 0;
    if (n < 1 || n > MAX_THREADS) return 2;
    pthread_t threads[MAX_THREADS];
    pthread_barrier_init(&ready, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) pthread_create(&threads[i], NULL, run, (void *)(intptr_t)i);
    pthread_barrier_wait(&ready);
    for (int i = 0; i < n; i++) printf("%s\n", lines[i]);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char buf[64];
    while (fgets(buf, sizeof buf, stdin) && strncmp(buf, "exit", 4) != 0) {
    }
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
    return 0;
}
