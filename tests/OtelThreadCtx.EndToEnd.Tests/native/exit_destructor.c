/*
 * exit_destructor.c - a thread's destructors that call the library after its own destructor ran. glibc runs a thread's
 * key destructors in rounds, at most PTHREAD_DESTRUCTOR_ITERATIONS, while some key still has a value; the one here sets
 * its key again each time, so it runs in every round, the last one included, after the library's (its key is made
 * after the library's). Each of its calls attaches a record, counted. A state the library made for such a call would
 * never be freed (the library's destructor had its round), and the record it counted could never be disposed: so the
 * attach must get no state (-2), and once the threads are gone nothing may count the record.
 * Built against the C layer (x86-64, and aarch64 under qemu-user) and the Rust layer by the end-to-end tests.
 * Exit 0 = every check held.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "otel_thread_ctx.h"

#define CHECK(condition, code)                                                          \
    do {                                                                                \
        if (!(condition)) {                                                             \
            printf("exit_destructor: check %d failed (line %d)\n", (code), __LINE__);   \
            return (code);                                                              \
        }                                                                               \
    } while (0)

#define THREADS 50

static pthread_key_t late_key;
static otel_thread_ctx_record *record;
static int refused; /* attaches from the destructor that got -2 */
static int made;    /* attaches from the destructor that succeeded (each needed a state) */

static void late_destructor(void *value) {
    uintptr_t previous = 0;
    int result = otel_thread_ctx_attach_counted(record, &previous);
    __atomic_add_fetch(result == 0 ? &made : &refused, 1, __ATOMIC_RELAXED);
    pthread_setspecific(late_key, value); /* once more in the next round, until glibc's last */
}

static void *worker(void *unused) {
    (void)unused;
    uintptr_t previous = 0;
    if (otel_thread_ctx_attach_counted(record, &previous) != 0) return (void *)1;
    return (void *)(intptr_t)(pthread_setspecific(late_key, record) != 0);
}

int main(void) {
    /* A state on this thread first: the library's key exists before late_key, so its destructor runs first in a round. */
    record = otel_thread_ctx_record_new_user(11);
    CHECK(record != NULL, 1);
    uintptr_t previous = 0;
    CHECK(otel_thread_ctx_attach_counted(record, &previous) == 0 && otel_thread_ctx_clear() == 11, 2);
    CHECK(pthread_key_create(&late_key, late_destructor) == 0, 3);

    for (int i = 0; i < THREADS; i++) {
        pthread_t thread;
        void *result = NULL;
        CHECK(pthread_create(&thread, NULL, worker, NULL) == 0, 4);
        pthread_join(thread, &result);
        CHECK(result == NULL, 5);
    }
    printf("exit_destructor: %d attaches after the library's destructor refused, %d made\n", refused, made);
    CHECK(refused > 0, 6); /* the case ran: destructor rounds after the library's */
    CHECK(made == 0, 9);
    CHECK(otel_thread_ctx_record_attach_count(record) == 0, 7);
    CHECK(otel_thread_ctx_record_dispose(record) == 0, 8);
    printf("exit_destructor: ok\n");
    return 0;
}
