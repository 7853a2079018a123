//! A Rust FFI layer over the OTEP 4947 TLS shim, with the record C ABI of `native/include/otel_thread_ctx.h`
//! (`otel_thread_ctx_record_new` … `otel_thread_ctx_read_current`).
//!
//! Stable rustc cannot choose the TLS dialect of a `#[thread_local]`, so the variable `otel_thread_ctx_v1` lives in
//! the C shim (`tls_shim.c`, TLSDESC) and this crate reaches it through the shim's accessor. Built with
//! `-Clinker-plugin-lto` and linked by an LLD that reads both rustc's and clang's bitcode, the accessor is inlined
//! into every function below: each holds the TLSDESC sequence itself, and the shim's symbol is gone.
//!
//! Writes follow the OTEP's signal-safety rules: only the owning thread writes its slot and the record attached to
//! it; readers run while the thread is stopped, so compiler fences (`compiler_fence`) order the writes and no CPU
//! barrier is needed.
#![no_std]

use core::ptr;
use core::sync::atomic::{compiler_fence, Ordering};

/// Whole record: 640 bytes, the eBPF profiler's read limit.
pub const RECORD_SIZE: usize = 640;
/// trace id, span id, valid, flags, attrs_data_size.
pub const HEADER_SIZE: usize = 28;
/// Bytes left for attribute entries.
pub const ATTRS_CAPACITY: usize = RECORD_SIZE - HEADER_SIZE;
/// Longest attribute value (the length is one byte).
pub const MAX_VALUE_LEN: usize = 255;

/// The byte layout a reader sees (host endianness, byte-packed, 8-byte aligned).
#[repr(C, align(8))]
pub struct Record {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub valid: u8,
    pub trace_flags: u8,
    pub attrs_data_size: u16,
    pub attrs_data: [u8; ATTRS_CAPACITY],
}

const _: () = assert!(core::mem::size_of::<Record>() == RECORD_SIZE);

/// Result of adding an attribute (`otel_thread_ctx_status`).
pub const OK: i32 = 0;
pub const TRUNCATED: i32 = 1;
pub const DROPPED: i32 = 2;
pub const INVALID: i32 = 3;

extern "C" {
    /// The shim's accessor (tls_shim.c): the address of the calling thread's `otel_thread_ctx_v1`.
    fn otel_thread_ctx_shim_slot() -> *mut *mut Record;
    fn calloc(count: usize, size: usize) -> *mut core::ffi::c_void;
    fn free(pointer: *mut core::ffi::c_void);
}

#[inline(always)]
fn slot() -> *mut *mut Record {
    // SAFETY: the shim returns the calling thread's own TLS slot; it is valid for the thread's lifetime.
    unsafe { otel_thread_ctx_shim_slot() }
}

/// A new zeroed record with `valid = 1`, or NULL when memory is exhausted. Free it with
/// `otel_thread_ctx_record_free` once no thread publishes it.
#[no_mangle]
pub extern "C" fn otel_thread_ctx_record_new() -> *mut Record {
    // SAFETY: calloc returns zeroed memory aligned for any fundamental type (16 bytes on x86-64 and aarch64).
    let record = unsafe { calloc(1, RECORD_SIZE) }.cast::<Record>();
    if !record.is_null() {
        // SAFETY: just allocated, not yet visible to any reader.
        unsafe { (*record).valid = 1 };
    }
    record
}

/// Frees a record no thread publishes. NULL is ignored.
///
/// # Safety
/// `record` comes from `otel_thread_ctx_record_new` and is attached nowhere.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_free(record: *mut Record) {
    free(record.cast());
}

/// Writes the ids and flags of a record that is not published (or inside an update bracket).
///
/// # Safety
/// `record` is a record; `trace_id` points at 16 bytes and `span_id` at 8.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_set_ids(record: *mut Record, trace_id: *const u8, span_id: *const u8, trace_flags: u8) {
    if record.is_null() || trace_id.is_null() || span_id.is_null() {
        return;
    }
    ptr::copy_nonoverlapping(trace_id, (*record).trace_id.as_mut_ptr(), 16);
    ptr::copy_nonoverlapping(span_id, (*record).span_id.as_mut_ptr(), 8);
    (*record).trace_flags = trace_flags;
}

/// Empties a record's attributes.
///
/// # Safety
/// `record` is a record that is not published (or inside an update bracket), or NULL.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_clear_attrs(record: *mut Record) {
    if !record.is_null() {
        (*record).attrs_data_size = 0;
    }
}

/// Appends `key_index, length, value`; a value over 255 bytes is cut (TRUNCATED); an entry that no longer fits is
/// not written (DROPPED).
///
/// # Safety
/// `record` is a record that is not published (or inside an update bracket); `value` points at `length` bytes.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_add_attr(record: *mut Record, key_index: u8, value: *const u8, length: usize) -> i32 {
    if record.is_null() || (value.is_null() && length != 0) {
        return INVALID;
    }
    let (length, status) = if length > MAX_VALUE_LEN { (MAX_VALUE_LEN, TRUNCATED) } else { (length, OK) };
    let used = (*record).attrs_data_size as usize;
    if used + 2 + length > ATTRS_CAPACITY {
        return DROPPED;
    }
    let entry = (*record).attrs_data.as_mut_ptr().add(used);
    *entry = key_index;
    *entry.add(1) = length as u8;
    ptr::copy_nonoverlapping(value, entry.add(2), length);
    compiler_fence(Ordering::SeqCst);
    (*record).attrs_data_size = (used + 2 + length) as u16;
    status
}

/// Publishes `record` (complete, `valid = 1`) on the calling thread; returns the record published before.
///
/// # Safety
/// `record` is a complete record, or NULL to publish nothing.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_attach(record: *mut Record) -> *mut Record {
    let slot = slot();
    let previous = *slot;
    // The record's bytes are in memory before the pointer that makes them reachable.
    compiler_fence(Ordering::SeqCst);
    ptr::write_volatile(slot, record);
    previous
}

/// Publishes nothing on the calling thread; returns the record published before.
#[no_mangle]
pub extern "C" fn otel_thread_ctx_detach() -> *mut Record {
    let slot = slot();
    // SAFETY: the calling thread's own slot.
    unsafe {
        let previous = *slot;
        ptr::write_volatile(slot, ptr::null_mut());
        compiler_fence(Ordering::SeqCst);
        previous
    }
}

/// The record the calling thread publishes, or NULL.
#[no_mangle]
pub extern "C" fn otel_thread_ctx_current() -> *mut Record {
    // SAFETY: the calling thread's own slot.
    unsafe { *slot() }
}

/// Marks the attached record invalid for an in-place edit and returns it (NULL when none is attached).
#[no_mangle]
pub extern "C" fn otel_thread_ctx_update_begin() -> *mut Record {
    // SAFETY: the calling thread's own slot and record.
    unsafe {
        let record = *slot();
        if !record.is_null() {
            ptr::write_volatile(&mut (*record).valid, 0);
            compiler_fence(Ordering::SeqCst);
        }
        record
    }
}

/// Marks the attached record valid again after an in-place edit.
#[no_mangle]
pub extern "C" fn otel_thread_ctx_update_end() {
    // SAFETY: the calling thread's own slot and record.
    unsafe {
        let record = *slot();
        if !record.is_null() {
            compiler_fence(Ordering::SeqCst);
            ptr::write_volatile(&mut (*record).valid, 1);
        }
    }
}

/// New ids on the attached record, inside the valid bracket. Returns 0, or -1 when no record is attached.
///
/// # Safety
/// `trace_id` points at 16 bytes and `span_id` at 8.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_update_ids(trace_id: *const u8, span_id: *const u8, trace_flags: u8) -> i32 {
    let record = *slot();
    if record.is_null() {
        return -1;
    }
    ptr::write_volatile(&mut (*record).valid, 0);
    compiler_fence(Ordering::SeqCst);
    otel_thread_ctx_record_set_ids(record, trace_id, span_id, trace_flags);
    compiler_fence(Ordering::SeqCst);
    ptr::write_volatile(&mut (*record).valid, 1);
    0
}

/// Copies what a reader would see now (header + used attribute bytes); returns the bytes copied, 0 when nothing is
/// attached or `capacity` is below the header.
///
/// # Safety
/// `buffer` points at `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_read_current(buffer: *mut u8, capacity: usize) -> usize {
    let record = *slot();
    if record.is_null() || buffer.is_null() || capacity < HEADER_SIZE {
        return 0;
    }
    let used = ((*record).attrs_data_size as usize).min(ATTRS_CAPACITY);
    let length = (HEADER_SIZE + used).min(capacity);
    ptr::copy_nonoverlapping(record.cast::<u8>(), buffer, length);
    length
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Nothing here can panic (no indexing, no arithmetic overflow checks in release); abort if it ever does.
    extern "C" {
        fn abort() -> !;
    }
    // SAFETY: libc's abort never returns.
    unsafe { abort() }
}
