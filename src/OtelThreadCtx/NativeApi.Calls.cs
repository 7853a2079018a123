using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace OtelThreadCtx;

/// <summary>The calls into the C API: direct P/Invokes when the library is linked into a NativeAOT executable, else the
/// function pointers bound from libotel_thread_ctx.so.</summary>
/// <remarks>
/// <see cref="IsStaticallyLinked"/> is a feature switch (OtelThreadCtx.StaticallyLinked, which the NativeAOT static-link
/// targets set with <c>RuntimeHostConfigurationOption Trim="true"</c>): ILC folds it to a constant and removes the other
/// branch, so a statically linked executable calls each function directly (DirectPInvoke), and one that is not keeps
/// only the function pointers. JIT and ReadyToRun code never take the direct branch: there the property is the constant
/// false of the IL (the switch has no effect at run time), and the P/Invokes sit in their own methods
/// (<see cref="Direct"/>), which are bound only when compiled, i.e. never there (a <c>SuppressGCTransition</c> P/Invoke
/// is bound when its caller is compiled; ReadyToRun code binds the P/Invokes of a method, and of what it inlined, when
/// the method is first entered).
/// </remarks>
internal static unsafe partial class NativeApi
{
    /// <summary>Set by the NativeAOT static-link targets: the C API is linked into the executable.</summary>
    internal const string StaticallyLinkedSwitch = "OtelThreadCtx.StaticallyLinked";

    /// <summary>True in a NativeAOT executable that links the native layer in: false in the IL, which ILC (and ILLink)
    /// replace with true when the application sets the switch for trimming (see the remarks). A constant everywhere, so
    /// the JIT and crossgen2 fold the direct branch away before they bind anything in it.</summary>
    [FeatureSwitchDefinition(StaticallyLinkedSwitch)]
    internal static bool IsStaticallyLinked => false;

    /// <summary>True when the C API can be called: always in a statically linked executable, else when the library
    /// loaded and exports every entry point.</summary>
    internal static bool IsAvailable => IsStaticallyLinked || Loaded;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static nint RecordNewBound(nuint* user) => IsStaticallyLinked ? Direct.RecordNewBound(user) : RecordNewBoundPtr(user);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int RecordDispose(nint record, nuint user) =>
        IsStaticallyLinked ? Direct.RecordDispose(record, user) : RecordDisposePtr(record, user);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void RecordsOrphan(nint* records, nuint count)
    {
        if (IsStaticallyLinked)
        {
            Direct.RecordsOrphan(records, count);
        }
        else
        {
            RecordsOrphanPtr(records, count);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Set(byte* traceId, byte* spanId, byte flags, byte* attributes, nuint length) => IsStaticallyLinked ? Direct.Set(traceId, spanId, flags, attributes, length) : SetPtr(traceId, spanId, flags, attributes, length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int AttachCounted(nint record, nuint expected, nuint* previous) => IsStaticallyLinked ? Direct.AttachCounted(record, expected, previous) : AttachCountedPtr(record, expected, previous);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static nuint Clear() => IsStaticallyLinked ? Direct.Clear() : ClearPtr();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static nuint CurrentUser() => IsStaticallyLinked ? Direct.CurrentUser() : CurrentUserPtr();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int RecordAttachCount(nint record) => IsStaticallyLinked ? Direct.RecordAttachCount(record) : RecordAttachCountPtr(record);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int RecordIsOwner(nint record) => IsStaticallyLinked ? Direct.RecordIsOwner(record) : RecordIsOwnerPtr(record);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void RecordSetIds(nint record, byte* traceId, byte* spanId, byte flags)
    {
        if (IsStaticallyLinked)
        {
            Direct.RecordSetIds(record, traceId, spanId, flags);
        }
        else
        {
            RecordSetIdsPtr(record, traceId, spanId, flags);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void RecordClearAttrs(nint record)
    {
        if (IsStaticallyLinked)
        {
            Direct.RecordClearAttrs(record);
        }
        else
        {
            RecordClearAttrsPtr(record);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int RecordAddAttr(nint record, byte key, byte* value, nuint length) => IsStaticallyLinked ? Direct.RecordAddAttr(record, key, value, length) : RecordAddAttrPtr(record, key, value, length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static nint UpdateBegin() => IsStaticallyLinked ? Direct.UpdateBegin() : UpdateBeginPtr();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void UpdateEnd()
    {
        if (IsStaticallyLinked)
        {
            Direct.UpdateEnd();
        }
        else
        {
            UpdateEndPtr();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int UpdateIds(byte* traceId, byte* spanId, byte flags) => IsStaticallyLinked ? Direct.UpdateIds(traceId, spanId, flags) : UpdateIdsPtr(traceId, spanId, flags);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static nuint ReadCurrent(byte* destination, nuint length) => IsStaticallyLinked ? Direct.ReadCurrent(destination, length) : ReadCurrentPtr(destination, length);

    /// <summary>The C API bound at link time: ILC with <c>DirectPInvoke Include="otel_thread_ctx"</c> emits a direct call to
    /// each symbol, which the static archive defines.</summary>
    private static partial class Direct
    {
        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_record_new_bound")]
        [SuppressGCTransition]
        internal static partial nint RecordNewBound(nuint* user);

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_record_dispose_checked")]
        [SuppressGCTransition]
        internal static partial int RecordDispose(nint record, nuint user);

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_records_orphan")]
        internal static partial void RecordsOrphan(nint* records, nuint count);

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_set")]
        [SuppressGCTransition]
        internal static partial int Set(byte* traceId, byte* spanId, byte flags, byte* attributes, nuint length);

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_attach_counted_checked")]
        [SuppressGCTransition]
        internal static partial int AttachCounted(nint record, nuint expected, nuint* previous);

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_clear")]
        [SuppressGCTransition]
        internal static partial nuint Clear();

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_current_user")]
        [SuppressGCTransition]
        internal static partial nuint CurrentUser();

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_record_attach_count")]
        [SuppressGCTransition]
        internal static partial int RecordAttachCount(nint record);

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_record_is_owner")]
        [SuppressGCTransition]
        internal static partial int RecordIsOwner(nint record);

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_record_set_ids")]
        [SuppressGCTransition]
        internal static partial void RecordSetIds(nint record, byte* traceId, byte* spanId, byte flags);

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_record_clear_attrs")]
        [SuppressGCTransition]
        internal static partial void RecordClearAttrs(nint record);

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_record_add_attr")]
        [SuppressGCTransition]
        internal static partial int RecordAddAttr(nint record, byte key, byte* value, nuint length);

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_update_begin")]
        [SuppressGCTransition]
        internal static partial nint UpdateBegin();

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_update_end")]
        [SuppressGCTransition]
        internal static partial void UpdateEnd();

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_update_ids")]
        [SuppressGCTransition]
        internal static partial int UpdateIds(byte* traceId, byte* spanId, byte flags);

        [LibraryImport(LibraryName, EntryPoint = "otel_thread_ctx_read_current")]
        [SuppressGCTransition]
        internal static partial nuint ReadCurrent(byte* destination, nuint length);
    }
}
