using System.Diagnostics;
using System.Reflection;

namespace OtelThreadCtx.Tests;

/// <summary>These tests run twice in CI, against the default and the inline library: this one proves which
/// library the wrapper loads (beside the test assembly, or OTEL_THREAD_CTX_NATIVE_LIBRARY for the run against the Rust
/// layer), so that the inline runs really exercise inline builds.</summary>
public sealed class LoadedLibraryTests
{
    [Fact]
    public void The_library_in_the_output_is_the_requested_build()
    {
        var inline = string.Equals(
            typeof(LoadedLibraryTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "OtelThreadCtxInline").Value,
            "true", StringComparison.OrdinalIgnoreCase);
        var library = TestLibrary.Path;
        Assert.True(File.Exists(library), library);

        using var nm = Process.Start(new ProcessStartInfo("nm", [library]) { RedirectStandardOutput = true })!;
        var symbols = nm.StandardOutput.ReadToEnd();
        nm.WaitForExit();

        Assert.Equal(0, nm.ExitCode);
        Assert.Contains("otel_thread_ctx_attach", symbols, StringComparison.Ordinal);
        Assert.Equal(!inline, symbols.Contains("otel_thread_ctx_shim_slot", StringComparison.Ordinal));
    }
}
