using System.Diagnostics.CodeAnalysis;
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
internal static unsafe partial class NativeApi
{
    internal const string LibraryName = "otel_thread_ctx";

    /// <summary>Names a specific libotel_thread_ctx.so to load instead of probing (benchmarks compare builds this way).
    /// When set and unusable, the API is a no-op: there is no fallback to another copy.</summary>
    internal const string LibraryPathVariable = "OTEL_THREAD_CTX_NATIVE_LIBRARY";

    /// <summary>True when the library loaded and exports every entry point below.</summary>
    private static readonly bool Loaded;

    /// <summary>The library this class loaded and checked, or 0 (see <see cref="DirectBindingResolver"/>).</summary>
    private static readonly nint LibraryHandle;

    /// <summary>What a direct P/Invoke of this class binds to outside a statically linked executable: the checked library,
    /// or the main program, which defines none of its functions.</summary>
    internal static nint DirectBindingHandle => LibraryHandle != 0 ? LibraryHandle : NativeLibrary.GetMainProgramHandle();

    /// <summary>Why <see cref="IsAvailable"/> is false (for diagnostics); null when available.</summary>
    internal static readonly string? UnavailableReason;

    // Record creation and disposal: the library takes and returns record blocks from the calling thread's pool (a few
    // stores); only a pool miss calls malloc or free, which are short and never wait for the runtime. So no GC
    // transition either: it cost three transitions per new + Dispose, more than the work itself.
    private static readonly delegate* unmanaged[SuppressGCTransition]<nuint*, nint> RecordNewBoundPtr;
    // One call, checked against the record's user value (a late Dispose of a block reused since is refused): on the
    // creating thread of a record no other thread attached, a few stores; otherwise a membarrier (microseconds) and a
    // scan of the threads under the library's lock, which never waits for the runtime.
    private static readonly delegate* unmanaged[SuppressGCTransition]<nint, nuint, int> RecordDisposePtr;

    // Orphaning, off the hot path (the registry's sweep, after a collection): with the GC transition.
    // One call for the whole batch, the barrier included: a thread releasing an orphan waits for the end step, which
    // must not wait for a collection in turn.
    private static readonly delegate* unmanaged<nint*, nuint, void> RecordsOrphanPtr;

    // Short, non-blocking calls: no GC transition, so that the inline build's gain reaches C#.
    private static readonly delegate* unmanaged[SuppressGCTransition]<byte*, byte*, byte, byte*, nuint, int> SetPtr;
    private static readonly delegate* unmanaged[SuppressGCTransition]<nint, nuint, nuint*, int> AttachCountedPtr;
    private static readonly delegate* unmanaged[SuppressGCTransition]<nuint> ClearPtr;
    private static readonly delegate* unmanaged[SuppressGCTransition]<nuint> CurrentUserPtr;
    private static readonly delegate* unmanaged[SuppressGCTransition]<nint, int> RecordAttachCountPtr;
    private static readonly delegate* unmanaged[SuppressGCTransition]<nint, int> RecordIsOwnerPtr;
    private static readonly delegate* unmanaged[SuppressGCTransition]<nint, byte*, byte*, byte, void> RecordSetIdsPtr;
    private static readonly delegate* unmanaged[SuppressGCTransition]<nint, void> RecordClearAttrsPtr;
    private static readonly delegate* unmanaged[SuppressGCTransition]<nint, byte, byte*, nuint, int> RecordAddAttrPtr;
    private static readonly delegate* unmanaged[SuppressGCTransition]<nint> UpdateBeginPtr;
    private static readonly delegate* unmanaged[SuppressGCTransition]<void> UpdateEndPtr;
    private static readonly delegate* unmanaged[SuppressGCTransition]<byte*, byte*, byte, int> UpdateIdsPtr;
    private static readonly delegate* unmanaged[SuppressGCTransition]<byte*, nuint, nuint> ReadCurrentPtr;

#pragma warning disable CA1810 // explicit static constructor: every field is set from one load, or none is
    static NativeApi()
#pragma warning restore CA1810
    {
        if (IsStaticallyLinked)
        {
            // NativeAOT static link: the C API is part of this executable and bound at link time (DirectPInvoke).
            Loaded = true;
            return;
        }

        try
        {
            if (!TryLoad(out var handle, out var path, out UnavailableReason))
            {
                return;
            }

            LibraryHandle = handle;

            nint Export(string name) => NativeLibrary.TryGetExport(handle, name, out var address) ? address : 0;
            string[] names =
            [
                "otel_thread_ctx_v1",
                "otel_thread_ctx_record_new_bound", "otel_thread_ctx_record_dispose_checked",
                "otel_thread_ctx_records_orphan",
                "otel_thread_ctx_set", "otel_thread_ctx_attach_counted_checked", "otel_thread_ctx_clear", "otel_thread_ctx_current_user",
                "otel_thread_ctx_record_attach_count", "otel_thread_ctx_record_is_owner",
                "otel_thread_ctx_record_set_ids", "otel_thread_ctx_record_clear_attrs", "otel_thread_ctx_record_add_attr",
                "otel_thread_ctx_update_begin", "otel_thread_ctx_update_end", "otel_thread_ctx_update_ids", "otel_thread_ctx_read_current",
            ];
            var exports = Array.ConvertAll(names, Export);
            if (Array.IndexOf(exports, (nint)0) is var missing and >= 0)
            {
                UnavailableReason = $"{path} lacks {names[missing]} (an older or foreign build of the library)";
                return;
            }

            RecordNewBoundPtr = (delegate* unmanaged[SuppressGCTransition]<nuint*, nint>)exports[1];
            RecordDisposePtr = (delegate* unmanaged[SuppressGCTransition]<nint, nuint, int>)exports[2];
            RecordsOrphanPtr = (delegate* unmanaged<nint*, nuint, void>)exports[3];
            SetPtr = (delegate* unmanaged[SuppressGCTransition]<byte*, byte*, byte, byte*, nuint, int>)exports[4];
            AttachCountedPtr = (delegate* unmanaged[SuppressGCTransition]<nint, nuint, nuint*, int>)exports[5];
            ClearPtr = (delegate* unmanaged[SuppressGCTransition]<nuint>)exports[6];
            CurrentUserPtr = (delegate* unmanaged[SuppressGCTransition]<nuint>)exports[7];
            RecordAttachCountPtr = (delegate* unmanaged[SuppressGCTransition]<nint, int>)exports[8];
            RecordIsOwnerPtr = (delegate* unmanaged[SuppressGCTransition]<nint, int>)exports[9];
            RecordSetIdsPtr = (delegate* unmanaged[SuppressGCTransition]<nint, byte*, byte*, byte, void>)exports[10];
            RecordClearAttrsPtr = (delegate* unmanaged[SuppressGCTransition]<nint, void>)exports[11];
            RecordAddAttrPtr = (delegate* unmanaged[SuppressGCTransition]<nint, byte, byte*, nuint, int>)exports[12];
            UpdateBeginPtr = (delegate* unmanaged[SuppressGCTransition]<nint>)exports[13];
            UpdateEndPtr = (delegate* unmanaged[SuppressGCTransition]<void>)exports[14];
            UpdateIdsPtr = (delegate* unmanaged[SuppressGCTransition]<byte*, byte*, byte, int>)exports[15];
            ReadCurrentPtr = (delegate* unmanaged[SuppressGCTransition]<byte*, nuint, nuint>)exports[16];
            Loaded = true;
        }
#pragma warning disable CA1031 // the no-op guarantee: whatever loading throws, the API stays usable and does nothing
        catch (Exception e)
#pragma warning restore CA1031
        {
            UnavailableReason = $"loading failed: {e.GetType().Name}: {e.Message}";
        }
    }

    private static bool TryLoad(out nint handle, out string? path, out string? reason)
    {
        handle = 0;
        path = null;
        var architecture = RuntimeInformation.ProcessArchitecture;
        if (!OperatingSystem.IsLinux() || architecture is not (Architecture.X64 or Architecture.Arm64))
        {
            reason = $"{RuntimeInformation.OSDescription} {architecture} is not Linux x64/arm64";
            return false;
        }

        // A file named by the variable is checked for shape only: no build recorded what it should hold.
        var explicitPath = Environment.GetEnvironmentVariable(LibraryPathVariable);
        if (!string.IsNullOrEmpty(explicitPath))
        {
            path = explicitPath;
            reason = File.Exists(explicitPath)
                ? LoadChecked(explicitPath, architecture, expectedSha256: null, out handle)
                : $"'{explicitPath}' names no file";
            reason = reason is null ? null : $"{LibraryPathVariable}: {reason}";
            return reason is null;
        }

        var searched = SearchDirectories();
        foreach (var directory in searched)
        {
            if (Path.Combine(directory, $"lib{LibraryName}.so") is var candidate && File.Exists(candidate))
            {
                path = candidate;
                break;
            }
        }

        if (path is null)
        {
            reason = $"lib{LibraryName}.so was not found where the runtime looks for this application's native libraries (looked in {string.Join(", ", searched)}): reference the OtelThreadCtx package from the application's project and build it again (the build copies the library there), or name a file with {LibraryPathVariable}";
            return false;
        }

        // The runtime's own libc decides which build the application shipped for it (a portable app carries both).
        var libc = MuslProcess ? "linux-musl-" : "linux-";
        var rid = libc + (architecture == Architecture.Arm64 ? "arm64" : "x64");
        reason = LoadChecked(path, architecture, AppContext.GetData(ShippedSha256Prefix + rid) as string, out handle);
        return reason is null;
    }

    /// <summary>Whether this runtime is a linux-musl build (its libc decides which build of the library it can load).</summary>
    private static bool MuslProcess => RuntimeInformation.RuntimeIdentifier.StartsWith("linux-musl-", StringComparison.Ordinal);

    /// <summary>The AppContext value (runtimeconfig.json, or baked into a NativeAOT image) in which the package's build
    /// targets record the sha256 of the library they copied into the application, per runtime identifier.</summary>
    internal const string ShippedSha256Prefix = "OtelThreadCtx.NativeLibrarySha256.";

    /// <summary>Checks <paramref name="path"/> (<see cref="NativeLibraryCheck"/>) and loads that very file; null on
    /// success, else why not.</summary>
    private static string? LoadChecked(string path, Architecture architecture, string? expectedSha256, out nint handle)
    {
        handle = 0;
        if (NativeLibraryCheck.Check(path, architecture, string.IsNullOrEmpty(expectedSha256) ? null : expectedSha256, MuslProcess) is { } refused)
        {
            return $"{path} {refused}";
        }

        return NativeLibrary.TryLoad(path, out handle) ? null : $"{path} could not be loaded";
    }

    /// <summary>Where the runtime itself would look for an application's native library, in order: the folders the host
    /// names from deps.json (runtimes/&lt;rid&gt;/native/ of a portable build, the application folder), this assembly's
    /// folder, the application folder. Only these: a copy elsewhere on the system search path is not one this application
    /// shipped.</summary>
    [UnconditionalSuppressMessage("SingleFile", "IL3000", Justification = "Location is empty in a single-file or NativeAOT application; the application folder, searched next, is the assembly's folder there.")]
    private static List<string> SearchDirectories()
    {
        var directories = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string named)
        {
            directories.AddRange(named.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        }

        foreach (var directory in (ReadOnlySpan<string?>)[Path.GetDirectoryName(typeof(NativeApi).Assembly.Location), AppContext.BaseDirectory])
        {
            if (!string.IsNullOrEmpty(directory) && !directories.Exists(known => Same(known, directory)))
            {
                directories.Add(directory);
            }
        }

        return directories;

        static bool Same(string a, string b) => Path.TrimEndingDirectorySeparator(a) == Path.TrimEndingDirectorySeparator(b);
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
