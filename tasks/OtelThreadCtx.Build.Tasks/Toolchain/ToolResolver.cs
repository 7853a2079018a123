using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Processes;

namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>The outcome of resolving one tool: the tool, or the error, plus what was skipped on the way.</summary>
public sealed record ToolResolution(ResolvedTool? Tool, BuildDiagnostic? Error, IReadOnlyList<string> Skipped);

/// <summary>Picks each tool: an explicit property is taken as is (the check step judges it);
/// otherwise the first candidate in search order that is fit for the mode.</summary>
public sealed class ToolResolver(IProcessRunner runner)
{
    private readonly RustLldLocator rustLocator = new(runner);

    public async Task<ToolResolution> ResolveAsync(
        ToolKind kind, ToolSearchOptions options, ToolchainRequirements requirements, bool required, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(requirements);
        var allowGcc = requirements.Mode == NativeBuildMode.Default;

        if (options.ExplicitPaths.TryGetValue(kind, out var explicitPath) && !string.IsNullOrWhiteSpace(explicitPath))
        {
            // A bare name (clang-19) is looked up on the search path, as a shell would; anything with a slash is a path.
            var bareName = !explicitPath.Contains('/', StringComparison.Ordinal);
            var full = bareName
                ? options.SearchPath.Select(folder => Path.Combine(folder, explicitPath)).FirstOrDefault(ToolSearch.IsExecutableFile) ?? explicitPath
                : Path.GetFullPath(explicitPath);
            if (Directory.Exists(full))
            {
                return new ToolResolution(null, new BuildDiagnostic(DiagnosticCodes.ExplicitToolIsDirectory,
                    $"{kind.PropertyName()} is set to '{explicitPath}', which is a directory ({full}), not a tool. " +
                    $"Fix: name the tool itself (for example {Path.Combine(full, ToolSearch.BaseNames(kind, allowGcc)[0])}), or set OtelThreadCtxLlvmRoot to an LLVM installation folder."), []);
            }

            if (!ToolSearch.IsExecutableFile(full))
            {
                var where = bareName ? $"no executable '{explicitPath}' is in the search path ({string.Join(":", options.SearchPath)})" : "no executable file is there";
                return new ToolResolution(null, new BuildDiagnostic(DiagnosticCodes.ExplicitToolMissing,
                    $"{kind.PropertyName()} is set to '{explicitPath}', but {where}. " +
                    $"Fix: correct the name or path, or remove the property to let the build search PATH and /usr/lib/llvm-NN/bin."), []);
            }

            return new ToolResolution(await ProbeAsync(kind, new ToolCandidate(full, ToolOrigin.Property), cancellationToken).ConfigureAwait(false), null, []);
        }

        var skipped = new List<string>();

        async Task<ResolvedTool?> Accept(ToolCandidate candidate)
        {
            var tool = await ProbeAsync(kind, candidate, cancellationToken).ConfigureAwait(false);
            if (requirements.Check(tool) is not { } unfit)
            {
                return tool;
            }

            skipped.Add($"{candidate.Path}: {unfit.Code} {tool.Identity.Describe()}");
            return null;
        }

        foreach (var candidate in ToolSearch.Candidates(kind, options, allowGcc))
        {
            if (await Accept(candidate).ConfigureAwait(false) is { } found)
            {
                return new ToolResolution(found, null, skipped);
            }
        }

        // Last resort for the linker: the LLD a Rust toolchain bundles (costs a rustc run, so only now).
        if (kind == ToolKind.Linker && options.UseRustToolchain
            && await rustLocator.FindAsync(options, cancellationToken).ConfigureAwait(false) is { } rustLld
            && await Accept(rustLld).ConfigureAwait(false) is { } rust)
        {
            return new ToolResolution(rust, null, skipped);
        }

        var looked = ToolSearch.DescribeSearch(kind, options, allowGcc).ToList();
        if (kind == ToolKind.Linker)
        {
            looked.Add(options.UseRustToolchain ? "the Rust toolchain (rustc --print sysroot)/lib/rustlib/<host>/bin/gcc-ld" : "not the Rust toolchain (OtelThreadCtxUseRustLld=false)");
        }

        return new ToolResolution(null, required ? requirements.NotFound(kind, looked, skipped) : null, skipped);
    }

    /// <summary>Every candidate fit for the mode, in search order (the Rust toolchain's LLD last), each probed once.</summary>
    public async Task<IReadOnlyList<ResolvedTool>> ResolveAllAsync(
        ToolKind kind, ToolSearchOptions options, ToolchainRequirements requirements, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(requirements);
        var fit = new List<ResolvedTool>();
        var candidates = ToolSearch.Candidates(kind, options, requirements.Mode == NativeBuildMode.Default).ToList();
        if (kind == ToolKind.Linker && options.UseRustToolchain
            && await rustLocator.FindAsync(options, cancellationToken).ConfigureAwait(false) is { } rustLld)
        {
            candidates.Add(rustLld);
        }

        foreach (var candidate in candidates)
        {
            var tool = await ProbeAsync(kind, candidate, cancellationToken).ConfigureAwait(false);
            if (requirements.Check(tool) is null)
            {
                fit.Add(tool);
            }
        }

        return fit;
    }

    /// <summary>Runs <c>tool --version</c> and parses the banner.</summary>
    public async Task<ResolvedTool> ProbeAsync(ToolKind kind, ToolCandidate candidate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        ToolIdentity identity;
        try
        {
            var result = await runner.RunAsync(new ToolInvocation(candidate.Path, ["--version"]), null, cancellationToken).ConfigureAwait(false);
            identity = result.Succeeded
                ? VersionBannerParser.Parse(result.StandardOutput + "\n" + result.StandardError)
                : ToolIdentity.Failed(VersionBannerParser.FirstLine(result.CombinedOutput) is { Length: > 0 } line
                    ? $"exited with code {result.ExitCode}, first line of its output: '{line}'"
                    : $"exited with code {result.ExitCode} and printed nothing");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            identity = ToolIdentity.Failed($"could not be run: {VersionBannerParser.FirstLine(e.Message)}");
        }

        return new ResolvedTool(kind, candidate.Path, candidate.Origin, identity);
    }
}
