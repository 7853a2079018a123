using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace OtelThreadCtx;

/// <summary>The C API of libotel_thread_ctx.so. Blittable signatures only; the short, non-blocking calls
/// skip the GC transition so that the inline build's gain reaches C# callers.</summary>
internal static unsafe partial class NativeMethods
{
    internal const string LibraryName = "otel_thread_ctx";

    [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_record_new")]
    internal static partial nint RecordNew();

    [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_record_free")]
    internal static partial void RecordFree(nint record);

    [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_record_set_ids")]
    [SuppressGCTransition]
    internal static partial void RecordSetIds(nint record, byte* traceId, byte* spanId, byte traceFlags);

    [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_record_clear_attrs")]
    [SuppressGCTransition]
    internal static partial void RecordClearAttrs(nint record);

    [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_record_add_attr")]
    [SuppressGCTransition]
    internal static partial int RecordAddAttr(nint record, byte keyIndex, byte* value, nuint length);

    [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_attach")]
    [SuppressGCTransition]
    internal static partial nint Attach(nint record);

    [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_detach")]
    [SuppressGCTransition]
    internal static partial nint Detach();

    [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_current")]
    [SuppressGCTransition]
    internal static partial nint Current();

    [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_update_begin")]
    [SuppressGCTransition]
    internal static partial nint UpdateBegin();

    [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_update_end")]
    [SuppressGCTransition]
    internal static partial void UpdateEnd();

    [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_update_ids")]
    [SuppressGCTransition]
    internal static partial int UpdateIds(byte* traceId, byte* spanId, byte traceFlags);

    [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_read_current")]
    [SuppressGCTransition]
    internal static partial nuint ReadCurrent(byte* buffer, nuint capacity);
}
