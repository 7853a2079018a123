using System.Text.Json;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Native;
using OtelThreadCtx.Build.Tasks.Processes;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Step 3b, compile (Rust): builds each crate's <c>staticlib</c> with cargo (release, offline, target folder
/// under obj/; inline: LLVM bitcode for the linker's LTO). Writes what ran where the targets say (RustBuildFile), for
/// the verification report.</summary>
public sealed class BuildRustCrateTask : NativeStepTask
{
    /// <summary>OtelThreadCtxRustCrate items: each a Cargo.toml.</summary>
    [Required]
    public ITaskItem[] Crates { get; set; } = [];

    /// <summary>The cargo item from ResolveRustToolchainTask (Rustc, versions, Target metadata).</summary>
    [Required]
    public ITaskItem? Cargo { get; set; }

    /// <summary>cargo's --target-dir: one folder per mode and architecture under obj/.</summary>
    [Required]
    public string TargetDirectory { get; set; } = string.Empty;

    /// <summary>The record of what ran (versions, command lines), read by the verify step.</summary>
    [Required]
    public string RustBuildFile { get; set; } = string.Empty;

    /// <summary>OtelThreadCtxPathMap items (folder → stable name), passed to rustc as --remap-path-prefix.</summary>
    public ITaskItem[] PathMaps { get; set; } = [];

    /// <summary>OtelThreadCtxRustFlag items: one rustc flag each, after the build's own.</summary>
    public ITaskItem[] ExtraRustFlags { get; set; } = [];

    [Output]
    public ITaskItem[] StaticLibraries { get; private set; } = [];

    protected override async Task<bool> ExecuteAsync()
    {
        var cargo = Cargo!;
        var rustc = cargo.GetMetadata("Rustc");
        var triple = cargo.GetMetadata("RustTarget");
        var cross = !Target!.IsHost;
        var targetDirectory = Path.GetFullPath(TargetDirectory);
        var records = new List<RustCrateBuild>();
        var libraries = new List<ITaskItem>();

        foreach (var crate in Crates)
        {
            var manifest = Path.GetFullPath(crate.ItemSpec);
            if (!File.Exists(manifest))
            {
                Report(new BuildDiagnostic(DiagnosticCodes.CargoBuildFailed,
                    $"The Rust crate '{crate.ItemSpec}' (OtelThreadCtxRustCrate) does not exist (looked for {manifest}). Fix: point OtelThreadCtxRustCrate at the crate's Cargo.toml."));
                return false;
            }

            var metadata = await Tools.RunAsync(new ToolInvocation(cargo.ItemSpec, ["metadata", "--no-deps", "--offline", "--format-version", "1", "--manifest-path", manifest])
            {
                Environment = new Dictionary<string, string?> { ["RUSTC"] = rustc },
            }, Path.GetDirectoryName(manifest), CancellationToken).ConfigureAwait(false);
            if (!metadata.Succeeded)
            {
                Report(new BuildDiagnostic(DiagnosticCodes.CargoBuildFailed,
                    $"cargo could not read the crate {manifest} (exit {metadata.ExitCode}): {metadata.CombinedOutput.Trim()}\nFix: make 'cargo metadata --offline --manifest-path {manifest}' succeed (a Cargo.toml error, or a dependency not vendored for an offline build)."));
                return false;
            }

            var libraryName = StaticLibraryName(metadata.StandardOutput, manifest);
            if (libraryName is null)
            {
                Report(new BuildDiagnostic(DiagnosticCodes.RustStaticLibraryMissing,
                    $"The crate {manifest} has no library target of crate type 'staticlib', so there is nothing to link with the shim. Fix: add [lib] crate-type = [\"staticlib\"] to its Cargo.toml."));
                return false;
            }

            var crateFolder = Path.GetDirectoryName(manifest)!;
            var pathMaps = PathMaps.Select(m => $"{m.ItemSpec.TrimEnd('/')}={m.GetMetadata("To").TrimEnd('/')}")
                .Append($"{crateFolder}=/crate/{Path.GetFileName(crateFolder)}").ToList();
            var invocation = CargoCommandBuilder.Build(BuildMode, cargo.ItemSpec, rustc, manifest, targetDirectory, triple, cross, pathMaps,
                ExtraRustFlags.Select(f => f.ItemSpec).ToList());
            var output = CargoCommandBuilder.StaticLibraryPath(targetDirectory, libraryName, triple, cross);
            Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: {0}", invocation.ToCommandLine());
            PendingOutputs.Add(output);
            var result = await Tools.RunAsync(invocation, crateFolder, CancellationToken).ConfigureAwait(false);
            if (CancellationToken.IsCancellationRequested || (!result.Succeeded && StoppedBySignal(result.ExitCode)))
            {
                ReportCancelled($"cargo was stopped (exit {result.ExitCode})");
                return false;
            }

            if (!result.Succeeded)
            {
                File.Delete(output);
                Report(new BuildDiagnostic(DiagnosticCodes.CargoBuildFailed,
                    $"cargo build of {manifest} failed (exit {result.ExitCode}). Command: {invocation.ToCommandLine()}\n{result.CombinedOutput.Trim()}\n" +
                    "Fix: the compiler errors above; the build runs offline (--offline --locked), so dependencies must be vendored or in the local registry cache and Cargo.lock current."));
                return false;
            }

            if (!File.Exists(output))
            {
                Report(new BuildDiagnostic(DiagnosticCodes.RustStaticLibraryMissing,
                    $"cargo reported success but {output} is missing. Command: {invocation.ToCommandLine()}. Fix: check the crate's [lib] name and crate-type = [\"staticlib\"]."));
                return false;
            }

            records.Add(new RustCrateBuild(manifest, libraryName, output, invocation.ToArgv(), invocation.ToCommandLine(),
                invocation.Environment.Where(e => e.Value is not null).ToDictionary(e => e.Key, e => e.Value!, StringComparer.Ordinal)));
            var item = new TaskItem(output);
            item.SetMetadata("Crate", manifest);
            libraries.Add(item);
            Log.LogMessage(MessageImportance.High, "OtelThreadCtx: built Rust crate {0} -> {1} ({2}).", manifest, output,
                BuildMode == NativeBuildMode.Inline ? "LLVM bitcode for cross-language ThinLTO" : "objects");
        }

        var record = new RustBuildRecord(cargo.ItemSpec, cargo.GetMetadata("CargoVersion"), rustc, cargo.GetMetadata("RustcVersion"),
            cargo.GetMetadata("LlvmVersion"), triple, records);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(RustBuildFile))!);
        await File.WriteAllTextAsync(RustBuildFile, JsonSerializer.Serialize(record, VerificationReport.JsonOptions), CancellationToken).ConfigureAwait(false);
        StaticLibraries = [.. libraries];
        return true;
    }

    /// <summary>The library name (lib&lt;name&gt;.a) of the crate's staticlib target, from <c>cargo metadata</c>.</summary>
    internal static string? StaticLibraryName(string metadataJson, string manifest)
    {
        using var document = JsonDocument.Parse(metadataJson);
        foreach (var package in document.RootElement.GetProperty("packages").EnumerateArray())
        {
            if (!string.Equals(Path.GetFullPath(package.GetProperty("manifest_path").GetString() ?? string.Empty), manifest, StringComparison.Ordinal))
            {
                continue;
            }

            foreach (var target in package.GetProperty("targets").EnumerateArray())
            {
                if (target.GetProperty("crate_types").EnumerateArray().Any(t => t.GetString() == "staticlib"))
                {
                    return target.GetProperty("name").GetString()?.Replace('-', '_');
                }
            }
        }

        return null;
    }
}
