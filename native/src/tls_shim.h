/* Internal: the TLS shim's accessor. Not exported from the shared library. */
#ifndef OTEL_THREAD_CTX_TLS_SHIM_H
#define OTEL_THREAD_CTX_TLS_SHIM_H

#include "otel_thread_ctx.h"

/* Address of the calling thread's `otel_thread_ctx_v1` slot. */
__attribute__((visibility("hidden"))) otel_thread_ctx_record **otel_thread_ctx_shim_slot(void);

/* Address of the calling thread's private state pointer (the library's own bookkeeping; NULL until
 * the thread first needs it). Same TLS dialect as the slot. */
__attribute__((visibility("hidden"))) void **otel_thread_ctx_shim_state(void);

#endif
