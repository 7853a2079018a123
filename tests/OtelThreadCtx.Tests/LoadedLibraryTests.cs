using System.Diagnostics;
using System.Reflection;

namespace OtelThreadCtx.Tests;

/// <summary>These tests run twice in CI, against the default and the inline library: this one proves which
/// library sits beside the test assembly, so that the second run really exercises the inline build.</summary>
public sealed class LoadedLibraryTests
{
    [Fact]
    public void The_library_in_the_output_is_the_requested_build()
    {
        var inline = string.Equals(
            typeof(LoadedLibraryTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "OtelThreadCtxInline").Value,
            "true", StringComparison.OrdinalIgnoreCase);
        var library = Path.Combine(AppContext.BaseDirectory, "libotel_thread_ctx.so");
        Assert.True(File.Exists(library), library);

        using var nm = Process.Start(new ProcessStartInfo("nm", [library]) { RedirectStandardOutput = true })!;
        var symbols = nm.StandardOutput.ReadToEnd();
        nm.WaitForExit();

        Assert.Equal(0, nm.ExitCode);
        Assert.Contains("otel_thread_ctx_attach", symbols, StringComparison.Ordinal);
        Assert.Equal(!inline, symbols.Contains("otel_thread_ctx_shim_slot", StringComparison.Ordinal));
    }
}
