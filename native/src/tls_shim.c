/*
 * tls_shim.c - the OTEP 4947 thread-local variable and its one accessor.
 *
 * This is the only translation unit whose TLS dialect matters: the variable must be
 * reached through TLSDESC (x86-64: -mtls-dialect=gnu2, or -mllvm -enable-tlsdesc at
 * LTO link time; aarch64: always). Nothing else touches the variable directly.
 */
#include "tls_shim.h"

/* Exported as STT_TLS / STB_GLOBAL / default visibility; 8 bytes; NULL = no context. */
__attribute__((visibility("default"))) _Thread_local otel_thread_ctx_record *otel_thread_ctx_v1 = NULL;

otel_thread_ctx_record **otel_thread_ctx_shim_slot(void) {
    return &otel_thread_ctx_v1;
}

/* The library's per-thread bookkeeping (not part of OTEP 4947; not exported). */
static _Thread_local void *otel_thread_ctx_state = NULL;

void **otel_thread_ctx_shim_state(void) {
    return &otel_thread_ctx_state;
}
