using System.Runtime.InteropServices;

namespace OtelThreadCtx;

/// <summary>The C API of libotel_thread_ctx.so, bound once as function pointers.</summary>
/// <remarks>
/// Nothing here is resolved by the JIT: a <c>DllImport</c>/<c>LibraryImport</c> marked <c>SuppressGCTransition</c> is
/// bound when the calling method is compiled, so a missing library throws before an <c>IsSupported</c> check in that
/// method can run. Function pointers are fetched with <see cref="NativeLibrary.TryGetExport"/> in the static
/// constructor instead; when the library cannot be loaded, or lacks any entry point, <see cref="IsAvailable"/> is
/// false, every pointer stays null and no caller dereferences one. The fields are <c>static readonly</c>, so tiered
/// compilation folds them into the calling code: the hot path pays one indirect call and nothing else.
/// </remarks>
internal static unsafe class NativeApi
{
    internal const string LibraryName = "otel_thread_ctx";

    /// <summary>Names a specific libotel_thread_ctx.so to load instead of probing (benchmarks compare builds this way).
    /// When set and unusable, the API is a no-op: there is no fallback to another copy.</summary>
    internal const string LibraryPathVariable = "OTEL_THREAD_CTX_NATIVE_LIBRARY";

    /// <summary>True when the library loaded and exports every entry point below.</summary>
    internal static readonly bool IsAvailable;

    /// <summary>Why <see cref="IsAvailable"/> is false (for diagnostics); null when available.</summary>
    internal static readonly string? UnavailableReason;

    // Record creation and disposal: the library takes and returns record blocks from the calling thread's pool (a few
    // stores); only a pool miss calls malloc or free, which are short and never wait for the runtime. So no GC
    // transition either: it cost three transitions per new + Dispose, more than the work itself.
    internal static readonly delegate* unmanaged[SuppressGCTransition]<nuint, nint> RecordNewUser;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<nint, int> RecordDisposeBegin;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<nint, int> RecordDisposeEnd;

    // Orphaning, off the hot path (the registry's sweep, after a collection): with the GC transition.
    internal static readonly delegate* unmanaged<nint, void> RecordOrphanBegin;
    internal static readonly delegate* unmanaged<nint, void> RecordOrphanEnd;

    // Short, non-blocking calls: no GC transition, so that the inline build's gain reaches C#.
    internal static readonly delegate* unmanaged[SuppressGCTransition]<byte*, byte*, byte, byte*, nuint, int> Set;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<nint, nuint*, int> AttachCounted;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<nuint> Clear;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<nuint> CurrentUser;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<nint, int> RecordAttachCount;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<nint, int> RecordIsOwner;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<nint, byte*, byte*, byte, void> RecordSetIds;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<nint, void> RecordClearAttrs;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<nint, byte, byte*, nuint, int> RecordAddAttr;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<nint> UpdateBegin;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<void> UpdateEnd;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<byte*, byte*, byte, int> UpdateIds;
    internal static readonly delegate* unmanaged[SuppressGCTransition]<byte*, nuint, nuint> ReadCurrent;

#pragma warning disable CA1810 // explicit static constructor: every field is set from one load, or none is
    static NativeApi()
#pragma warning restore CA1810
    {
        try
        {
            if (!TryLoad(out var handle, out UnavailableReason))
            {
                return;
            }

            nint Export(string name) => NativeLibrary.TryGetExport(handle, name, out var address) ? address : 0;
            string[] names =
            [
                "otel_thread_ctx_v1",
                "otel_thread_ctx_record_new_user", "otel_thread_ctx_record_dispose_begin", "otel_thread_ctx_record_dispose_end",
                "otel_thread_ctx_record_orphan_begin", "otel_thread_ctx_record_orphan_end",
                "otel_thread_ctx_set", "otel_thread_ctx_attach_counted", "otel_thread_ctx_clear", "otel_thread_ctx_current_user",
                "otel_thread_ctx_record_attach_count", "otel_thread_ctx_record_is_owner",
                "otel_thread_ctx_record_set_ids", "otel_thread_ctx_record_clear_attrs", "otel_thread_ctx_record_add_attr",
                "otel_thread_ctx_update_begin", "otel_thread_ctx_update_end", "otel_thread_ctx_update_ids", "otel_thread_ctx_read_current",
            ];
            var exports = Array.ConvertAll(names, Export);
            if (Array.IndexOf(exports, (nint)0) is var missing and >= 0)
            {
                UnavailableReason = $"the library lacks {names[missing]} (an older or foreign build)";
                return;
            }

            RecordNewUser = (delegate* unmanaged[SuppressGCTransition]<nuint, nint>)exports[1];
            RecordDisposeBegin = (delegate* unmanaged[SuppressGCTransition]<nint, int>)exports[2];
            RecordDisposeEnd = (delegate* unmanaged[SuppressGCTransition]<nint, int>)exports[3];
            RecordOrphanBegin = (delegate* unmanaged<nint, void>)exports[4];
            RecordOrphanEnd = (delegate* unmanaged<nint, void>)exports[5];
            Set = (delegate* unmanaged[SuppressGCTransition]<byte*, byte*, byte, byte*, nuint, int>)exports[6];
            AttachCounted = (delegate* unmanaged[SuppressGCTransition]<nint, nuint*, int>)exports[7];
            Clear = (delegate* unmanaged[SuppressGCTransition]<nuint>)exports[8];
            CurrentUser = (delegate* unmanaged[SuppressGCTransition]<nuint>)exports[9];
            RecordAttachCount = (delegate* unmanaged[SuppressGCTransition]<nint, int>)exports[10];
            RecordIsOwner = (delegate* unmanaged[SuppressGCTransition]<nint, int>)exports[11];
            RecordSetIds = (delegate* unmanaged[SuppressGCTransition]<nint, byte*, byte*, byte, void>)exports[12];
            RecordClearAttrs = (delegate* unmanaged[SuppressGCTransition]<nint, void>)exports[13];
            RecordAddAttr = (delegate* unmanaged[SuppressGCTransition]<nint, byte, byte*, nuint, int>)exports[14];
            UpdateBegin = (delegate* unmanaged[SuppressGCTransition]<nint>)exports[15];
            UpdateEnd = (delegate* unmanaged[SuppressGCTransition]<void>)exports[16];
            UpdateIds = (delegate* unmanaged[SuppressGCTransition]<byte*, byte*, byte, int>)exports[17];
            ReadCurrent = (delegate* unmanaged[SuppressGCTransition]<byte*, nuint, nuint>)exports[18];
            IsAvailable = true;
        }
#pragma warning disable CA1031 // the no-op guarantee: whatever loading throws, the API stays usable and does nothing
        catch (Exception e)
#pragma warning restore CA1031
        {
            UnavailableReason = $"loading failed: {e.GetType().Name}: {e.Message}";
        }
    }

    private static bool TryLoad(out nint handle, out string? reason)
    {
        handle = 0;
        if (!OperatingSystem.IsLinux()
            || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
        {
            reason = $"{RuntimeInformation.OSDescription} {RuntimeInformation.ProcessArchitecture} is not Linux x64/arm64";
            return false;
        }

        var explicitPath = Environment.GetEnvironmentVariable(LibraryPathVariable);
        if (!string.IsNullOrEmpty(explicitPath))
        {
            reason = NativeLibrary.TryLoad(explicitPath, out handle) ? null : $"{LibraryPathVariable}='{explicitPath}' could not be loaded";
            return reason is null;
        }

        reason = NativeLibrary.TryLoad(LibraryName, typeof(NativeApi).Assembly, DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.ApplicationDirectory, out handle)
            ? null
            : $"lib{LibraryName}.so was not found beside the application or could not be loaded";
        return reason is null;
    }
}

/// <summary>The OTEP 4947 record layout (host endianness, byte-packed).</summary>
internal static class RecordLayout
{
    public const int Size = 640;
    public const int TraceIdOffset = 0;
    public const int SpanIdOffset = 16;
    public const int ValidOffset = 24;
    public const int TraceFlagsOffset = 25;
    public const int AttrsSizeOffset = 26;
    public const int HeaderSize = 28;
    public const int AttrsCapacity = Size - HeaderSize;
    public const int MaxValueLength = 255;
}
