/*
 * otel_thread_ctx.h - writer side of the OpenTelemetry Thread Context (OTEP 4947).
 *
 * Each thread publishes a pointer to its current record in the ELF TLS variable
 * `otel_thread_ctx_v1`. Out-of-process readers (eBPF profilers) find the symbol and
 * read the record while the thread is stopped, so every write here is ordered with
 * compiler fences only; no CPU barrier is needed.
 *
 * Two ways to change what a thread publishes; do not mix them on one record:
 *   - swap: fill a record off-line, then otel_thread_ctx_attach() it;
 *   - in place: keep one record attached and bracket edits with
 *     otel_thread_ctx_update_begin() / otel_thread_ctx_update_end().
 *
 * Only the owning thread may write its slot and the record attached to it.
 */
#ifndef OTEL_THREAD_CTX_H
#define OTEL_THREAD_CTX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define OTEL_THREAD_CTX_API __attribute__((visibility("default")))
#else
#define OTEL_THREAD_CTX_API
#endif

/* Record geometry: whole record is 640 bytes, the eBPF profiler's read limit. */
#define OTEL_THREAD_CTX_RECORD_SIZE 640u
#define OTEL_THREAD_CTX_HEADER_SIZE 28u
#define OTEL_THREAD_CTX_ATTRS_CAPACITY (OTEL_THREAD_CTX_RECORD_SIZE - OTEL_THREAD_CTX_HEADER_SIZE)
#define OTEL_THREAD_CTX_MAX_VALUE_LEN 255u

/* The byte layout a reader sees (host endianness, byte-packed). */
typedef struct __attribute__((packed, aligned(8))) otel_thread_ctx_record {
    uint8_t trace_id[16];     /* offset  0 */
    uint8_t span_id[8];       /* offset 16 */
    uint8_t valid;            /* offset 24: 1 = valid, anything else = ignore */
    uint8_t trace_flags;      /* offset 25: W3C trace flags */
    uint16_t attrs_data_size; /* offset 26: bytes used in attrs_data */
    uint8_t attrs_data[OTEL_THREAD_CTX_ATTRS_CAPACITY]; /* offset 28 */
} otel_thread_ctx_record;

/* Result of adding an attribute. */
typedef enum otel_thread_ctx_status {
    OTEL_THREAD_CTX_OK = 0,
    OTEL_THREAD_CTX_TRUNCATED = 1, /* value cut to 255 bytes, entry written */
    OTEL_THREAD_CTX_DROPPED = 2,   /* entry does not fit: nothing written */
    OTEL_THREAD_CTX_INVALID = 3    /* NULL record or value */
} otel_thread_ctx_status;

/* Records. A new record has zero ids and flags, no attributes, and is valid (valid = 1); attribute bytes past
 * attrs_data_size are unspecified (readers never look at them). otel_thread_ctx_record_free() releases it at once:
 * only for records no thread publishes (plain attach), never for counted ones. Released records go to a small
 * per-thread pool that the releasing thread's next records come from (so creating and releasing a record costs a
 * few stores, not an allocation); at thread exit the pool goes to a process-wide spare list (blocks are never returned to malloc). A record that is published, or counted
 * as published, is never released, so never reused. */
OTEL_THREAD_CTX_API otel_thread_ctx_record *otel_thread_ctx_record_new(void);
OTEL_THREAD_CTX_API void otel_thread_ctx_record_free(otel_thread_ctx_record *record);
OTEL_THREAD_CTX_API void otel_thread_ctx_record_set_ids(otel_thread_ctx_record *record,
                                                        const uint8_t trace_id[16],
                                                        const uint8_t span_id[8],
                                                        uint8_t trace_flags);
OTEL_THREAD_CTX_API void otel_thread_ctx_record_clear_attrs(otel_thread_ctx_record *record);
OTEL_THREAD_CTX_API otel_thread_ctx_status otel_thread_ctx_record_add_attr(
    otel_thread_ctx_record *record, uint8_t key_index, const uint8_t *value, size_t length);

/* The calling thread's slot. attach and detach return the record previously published. */
OTEL_THREAD_CTX_API otel_thread_ctx_record *otel_thread_ctx_attach(otel_thread_ctx_record *record);
OTEL_THREAD_CTX_API otel_thread_ctx_record *otel_thread_ctx_detach(void);
OTEL_THREAD_CTX_API otel_thread_ctx_record *otel_thread_ctx_current(void);

/* In-place update of the attached record: begin marks it invalid and returns it
 * (NULL when none is attached), end marks it valid again. */
OTEL_THREAD_CTX_API otel_thread_ctx_record *otel_thread_ctx_update_begin(void);
OTEL_THREAD_CTX_API void otel_thread_ctx_update_end(void);
/* Shorthand: new ids on the attached record, inside the valid bracket. Returns 0, or -1
 * when no record is attached. */
OTEL_THREAD_CTX_API int otel_thread_ctx_update_ids(const uint8_t trace_id[16],
                                                   const uint8_t span_id[8],
                                                   uint8_t trace_flags);

/* The calling thread's own records: the fast path for callers that publish new ids on every switch.
 *
 * Each thread that calls otel_thread_ctx_set() owns two records. The one not published is written
 * while readers can only see the other, then published with one slot store; the next call writes the
 * other one. A reader therefore always meets a complete record with valid = 1, and no other thread can
 * reach either record, so no atomic read-modify-write is needed. The pair is allocated on the thread's
 * first call and freed when the thread exits (after its slot is cleared). On a thread whose exit already released them
 * (a call from a thread-specific-data destructor that runs after the library's), -1 and nothing is published.
 *
 * Writes trace id (16 bytes), span id (8), flags and a pre-encoded attribute block (entries
 * key, length, value; at most OTEL_THREAD_CTX_ATTRS_CAPACITY bytes; attrs may be NULL when
 * attrs_size is 0), then publishes it. A counted record published before (otel_thread_ctx_attach_counted)
 * is released. Returns 0, or -1 (nothing changed) when the block is too large or memory is exhausted. */
OTEL_THREAD_CTX_API int otel_thread_ctx_set(const uint8_t trace_id[16], const uint8_t span_id[8],
                                            uint8_t trace_flags, const uint8_t *attrs,
                                            size_t attrs_size);

/* Counted records: one record shared by many threads, freed only when no thread publishes it.
 *
 * A thread that publishes a record from otel_thread_ctx_record_new() through otel_thread_ctx_attach_counted() protects
 * it with its own per-thread state (plain stores: attach, detach and the release of the previous record make no atomic
 * read-modify-write and no CPU barrier on any thread). Disposing pays instead: it runs a process-wide memory barrier
 * (membarrier) and scans which threads publish the record, except on the creating thread when no other thread ever
 * attached the record (then it checks only its own state: with plain stores while the thread's bias is on, with one
 * compare-and-swap otherwise). The first attach of a record on a thread other than its creator makes one atomic
 * exchange, once per record, and, if the creator's bias is on, turns it off with a process-wide barrier; the bias comes
 * back after the creator disposed 64 (then 128, … up to 2^20) of its own records in a row that no other thread touched.
 * A thread that exits releases what it published. `user` is an
 * opaque value for language bindings, returned by the calls below for the counted record they replaced. Do not mix
 * counted and plain attach on one record. Record blocks are never returned to malloc (they are reused). */
OTEL_THREAD_CTX_API otel_thread_ctx_record *otel_thread_ctx_record_new_user(uintptr_t user);

/* As otel_thread_ctx_record_new_user, with a user value the library chooses and stores in *user: the record's block id
 * (1 … 2^32 - 1, unique in the process and the same for every record the block ever holds) in the low 32 bits, and in
 * bits 32-63 a generation from 1 to 2^32 - 1 that changes each time the block is reused. A binding maps the value back to
 * its own object through the block id (a table indexed by it needs no per-thread state and no lock), and refuses a stale
 * value by the generation. NULL (and *user = 0) when memory is exhausted or user is NULL. */
OTEL_THREAD_CTX_API otel_thread_ctx_record *otel_thread_ctx_record_new_bound(uintptr_t *user);

/* Publishes `record` on the calling thread, counted; the counted record published before is released
 * and its user value stored in *previous_user (0 when there was none). Returns 0; -1 when the record is
 * disposed or orphaned (nothing changed; an attach racing a Dispose waits for its outcome, protecting nothing meanwhile,
 * so that it does not make that Dispose refuse); -2 when memory is
 * exhausted, or on a thread whose exit already released its state (see otel_thread_ctx_set). */
OTEL_THREAD_CTX_API int otel_thread_ctx_attach_counted(otel_thread_ctx_record *record,
                                                       uintptr_t *previous_user);

/* As otel_thread_ctx_attach_counted, and also -1 unless the record's user value is `expected_user`: a binding that may
 * hold the pointer of a record disposed meanwhile (whose block was reused for another record) is refused. */
OTEL_THREAD_CTX_API int otel_thread_ctx_attach_counted_checked(otel_thread_ctx_record *record,
                                                               uintptr_t expected_user,
                                                               uintptr_t *previous_user);

/* Stops publishing on the calling thread (whatever was published) and releases a counted record;
 * returns that record's user value, or 0. */
OTEL_THREAD_CTX_API uintptr_t otel_thread_ctx_clear(void);

/* The user value of the counted record the calling thread publishes now, or 0. */
OTEL_THREAD_CTX_API uintptr_t otel_thread_ctx_current_user(void);

/* Threads publishing `record` now (counted attaches; exact once those threads' attaches happened before this call). */
OTEL_THREAD_CTX_API int32_t otel_thread_ctx_record_attach_count(const otel_thread_ctx_record *record);

/* 1 when the calling thread created `record` (or took over the state of the exited thread that did). */
OTEL_THREAD_CTX_API int otel_thread_ctx_record_is_owner(const otel_thread_ctx_record *record);

/* Disposes a counted record in one call, from any thread: 0 when it was freed; the number of threads publishing it when
 * refused (the record is unchanged); -1 when it is not live (disposed, or being disposed by another thread). Where no
 * process-wide barrier exists (membarrier refused) a record that another thread may have attached is never reused:
 * it is marked disposed and its block is kept (leaked). */
OTEL_THREAD_CTX_API int32_t otel_thread_ctx_record_dispose(otel_thread_ctx_record *record);

/* The same for the use of the block whose user value is `user` (not 0), for a binding whose Dispose may come late or
 * twice: also -1, with nothing changed, when the block no longer holds that use (it was disposed, and may hold another
 * record now). The check protects only as far as user values differ between uses: otel_thread_ctx_record_new_bound's
 * always do; with _new_user the caller chooses them. Two such calls for one use, from two threads at once: at most one
 * frees it (0), the other returns -1; while a thread publishes it, both may be refused with the count. */
OTEL_THREAD_CTX_API int32_t otel_thread_ctx_record_dispose_checked(otel_thread_ctx_record *record, uintptr_t user);

/* The same in two steps (kept for callers of the earlier API): begin marks it disposing and returns 0, or returns how
 * many other threads publish it (unchanged); end frees it and returns 0, or, when the calling thread still publishes
 * it, unmarks it and returns 1. Both on the same thread. */
OTEL_THREAD_CTX_API int32_t otel_thread_ctx_record_dispose_begin(otel_thread_ctx_record *record);
OTEL_THREAD_CTX_API int32_t otel_thread_ctx_record_dispose_end(otel_thread_ctx_record *record);

/* For a binding that lost its last reference to the record (a finalizer), in two steps around a
 * process-wide memory barrier that the caller runs (one for many records): the record is freed at end when no thread
 * publishes it, otherwise by the last thread that stops publishing it. Its user value reads 0 from begin on. Between
 * begin and end the calling thread must not attach, detach or set. Orphaning takes the place of Dispose: no Dispose of
 * the record may be under way or come later (a binding that lost its last reference cannot make one). A record that is
 * not live at begin (disposed, freed, being disposed) is left as it is. */
OTEL_THREAD_CTX_API void otel_thread_ctx_record_orphan_begin(otel_thread_ctx_record *record);
OTEL_THREAD_CTX_API void otel_thread_ctx_record_orphan_end(otel_thread_ctx_record *record);

/* The same for many records in one call, the barrier (membarrier) included: nothing between the steps waits for the
 * caller's runtime (a thread that stops publishing an orphan waits for the end step, so a binding whose threads can be
 * stopped by a garbage collector between two calls must use this one). */
OTEL_THREAD_CTX_API void otel_thread_ctx_records_orphan(otel_thread_ctx_record *const *records, size_t count);

/* Copies what a reader would see now (header + used attribute bytes) into buffer.
 * Returns the number of bytes copied, 0 when nothing is attached or capacity is too
 * small for the header. */
OTEL_THREAD_CTX_API size_t otel_thread_ctx_read_current(uint8_t *buffer, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif /* OTEL_THREAD_CTX_H */
