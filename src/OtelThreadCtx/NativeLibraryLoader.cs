using System.Runtime.InteropServices;

namespace OtelThreadCtx;

/// <summary>Decides once whether the native library is usable here. On any other platform, or when the
/// library cannot be loaded, every API is a cheap no-op.</summary>
internal static class NativeLibraryLoader
{
    /// <summary>Names a specific libotel_thread_ctx.so to load (benchmarks compare builds this way).</summary>
    internal const string LibraryPathVariable = "OTEL_THREAD_CTX_NATIVE_LIBRARY";

    private static readonly object Gate = new();
    private static bool initialized;
    private static bool available;

    /// <summary>Tests set this to force the unsupported path.</summary>
    internal static bool ForceUnsupported { get; set; }

    internal static bool IsAvailable
    {
        get
        {
            if (ForceUnsupported)
            {
                return false;
            }

            if (Volatile.Read(ref initialized))
            {
                return available;
            }

            lock (Gate)
            {
                if (!initialized)
                {
                    available = TryInitialize();
                    Volatile.Write(ref initialized, true);
                }
            }

            return available;
        }
    }

    private static bool TryInitialize()
    {
        if (!OperatingSystem.IsLinux()
            || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
        {
            return false;
        }

        var assembly = typeof(NativeLibraryLoader).Assembly;
        nint handle;
        var explicitPath = Environment.GetEnvironmentVariable(LibraryPathVariable);
        if (!string.IsNullOrEmpty(explicitPath))
        {
            if (!NativeLibrary.TryLoad(explicitPath, out handle))
            {
                return false;
            }
        }
        else if (!NativeLibrary.TryLoad(NativeMethods.LibraryName, assembly, DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.ApplicationDirectory, out handle))
        {
            return false;
        }

        try
        {
            NativeLibrary.SetDllImportResolver(assembly, (name, _, _) =>
                string.Equals(name, NativeMethods.LibraryName, StringComparison.Ordinal) ? handle : 0);
        }
        catch (InvalidOperationException)
        {
            // A resolver was already set (the host did it); the normal probing applies.
        }

        return NativeLibrary.TryGetExport(handle, "otel_thread_ctx_v1", out _);
    }
}
