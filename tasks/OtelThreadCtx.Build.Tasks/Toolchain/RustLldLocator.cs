using OtelThreadCtx.Build.Tasks.Processes;

namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>Finds the LLD that a Rust toolchain bundles:
/// <c>$(rustc --print sysroot)/lib/rustlib/&lt;host&gt;/bin/gcc-ld/ld.lld</c>.</summary>
public sealed class RustLldLocator(IProcessRunner runner)
{
    public async Task<ToolCandidate?> FindAsync(ToolSearchOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var rustc = FindRustc(options);
        if (rustc is null)
        {
            return null;
        }

        ProcessResult result;
        try
        {
            result = await runner.RunAsync(new ToolInvocation(rustc, ["--print", "sysroot"]), null, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return null;
        }

        var sysroot = result.StandardOutput.Trim();
        if (!result.Succeeded || sysroot.Length == 0)
        {
            return null;
        }

        var rustlib = Path.Combine(sysroot, "lib", "rustlib");
        if (!Directory.Exists(rustlib))
        {
            return null;
        }

        var hostTriple = TargetArchitecture.HostName == "arm64" ? "aarch64-unknown-linux-gnu" : "x86_64-unknown-linux-gnu";
        var preferred = Path.Combine(rustlib, hostTriple, "bin", "gcc-ld", "ld.lld");
        if (ToolSearch.IsExecutableFile(preferred))
        {
            return new ToolCandidate(preferred, ToolOrigin.RustToolchain);
        }

        return null;
    }

    private static string? FindRustc(ToolSearchOptions options)
    {
        var folders = new List<string>(options.SearchPath);
        var cargoHome = Environment.GetEnvironmentVariable("CARGO_HOME");
        if (!string.IsNullOrEmpty(cargoHome))
        {
            folders.Add(Path.Combine(cargoHome, "bin"));
        }

        var home = Environment.GetEnvironmentVariable("HOME");
        if (!string.IsNullOrEmpty(home))
        {
            folders.Add(Path.Combine(home, ".cargo", "bin"));
        }

        return folders.Select(f => Path.Combine(f, "rustc")).FirstOrDefault(ToolSearch.IsExecutableFile);
    }
}
