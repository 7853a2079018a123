using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Processes;
using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Step 1, resolve (Rust): finds cargo and the rustc beside it, and reads their versions and rustc's LLVM.
/// Order: <c>OtelThreadCtxCargoPath</c> (a path, or a bare name looked up on the search path), then cargo on the search
/// path (PATH), then <c>~/.cargo/bin</c>. rustc: <c>OtelThreadCtxRustcPath</c>, else the one beside cargo, else on the
/// search path.</summary>
public sealed class ResolveRustToolchainTask : OtelThreadCtxTask
{
    [Required]
    public string Architecture { get; set; } = string.Empty;

    public string? CargoPath { get; set; }

    public string? RustcPath { get; set; }

    /// <summary>PATH-style folder list; defaults to the environment's PATH.</summary>
    public string? SearchPath { get; set; }

    /// <summary>The home folder whose .cargo/bin is searched (defaults to $HOME).</summary>
    public string? HomeDirectory { get; set; }

    [Output]
    public ITaskItem? Cargo { get; private set; }

    protected override async Task<bool> ExecuteAsync()
    {
        var architecture = TargetArchitecture.Parse(Architecture);
        if (architecture is null)
        {
            Report(new BuildDiagnostic(DiagnosticCodes.UnsupportedTarget, TargetArchitecture.UnsupportedMessage(Architecture)));
            return false;
        }

        var folders = ToolSearchOptions.SplitPath(string.IsNullOrEmpty(SearchPath) ? Environment.GetEnvironmentVariable("PATH") : SearchPath).ToList();
        var home = string.IsNullOrEmpty(HomeDirectory) ? Environment.GetEnvironmentVariable("HOME") : HomeDirectory;
        var cargoBin = string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".cargo", "bin");
        var lookedIn = new List<string>();

        string? Find(string? explicitPath, string name, string? besideFolder)
        {
            if (!string.IsNullOrWhiteSpace(explicitPath))
            {
                lookedIn.Add($"{explicitPath} (property)");
                return explicitPath.Contains('/', StringComparison.Ordinal)
                    ? (ToolSearch.IsExecutableFile(explicitPath) ? Path.GetFullPath(explicitPath) : null)
                    : folders.Select(f => Path.Combine(f, explicitPath)).FirstOrDefault(ToolSearch.IsExecutableFile);
            }

            var candidates = new List<string>();
            if (besideFolder is not null)
            {
                candidates.Add(Path.Combine(besideFolder, name));
            }

            candidates.AddRange(folders.Select(f => Path.Combine(f, name)));
            if (cargoBin is not null)
            {
                candidates.Add(Path.Combine(cargoBin, name));
            }

            lookedIn.AddRange(candidates.Distinct(StringComparer.Ordinal));
            return candidates.FirstOrDefault(ToolSearch.IsExecutableFile);
        }

        var cargo = Find(CargoPath, "cargo", null);
        var rustc = cargo is null ? null : Find(RustcPath, "rustc", Path.GetDirectoryName(cargo));
        if (cargo is null || rustc is null)
        {
            Report(new BuildDiagnostic(DiagnosticCodes.RustToolchainNotFound,
                $"The project builds a Rust crate (OtelThreadCtxRustCrate) but no {(cargo is null ? "cargo" : "rustc")} was found. Looked in: {string.Join("; ", lookedIn.Distinct(StringComparer.Ordinal))}. " +
                "Fix: install Rust (https://rustup.rs: 'curl --proto =https --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y'), or set OtelThreadCtxCargoPath (and OtelThreadCtxRustcPath) to the tools."));
            return false;
        }

        var cargoRun = await Tools.RunAsync(new ToolInvocation(cargo, ["-V"]), null, CancellationToken).ConfigureAwait(false);
        var rustcRun = await Tools.RunAsync(new ToolInvocation(rustc, ["-vV"]), null, CancellationToken).ConfigureAwait(false);
        var sysrootRun = await Tools.RunAsync(new ToolInvocation(rustc, ["--print", "sysroot"]), null, CancellationToken).ConfigureAwait(false);
        var cargoVersion = cargoRun.Succeeded ? RustVersionParser.ParseCargo(cargoRun.StandardOutput) : null;
        var rustcVersion = rustcRun.Succeeded ? RustVersionParser.ParseRustc(rustcRun.StandardOutput) : null;
        if (cargoVersion is null || rustcVersion is not { } versions || !sysrootRun.Succeeded)
        {
            Report(new BuildDiagnostic(DiagnosticCodes.RustToolchainNotFound,
                $"Could not read the Rust toolchain's versions: '{cargo} -V' said '{cargoRun.CombinedOutput.Trim()}', '{rustc} -vV' said '{rustcRun.CombinedOutput.Trim()}'. " +
                "Fix: point OtelThreadCtxCargoPath / OtelThreadCtxRustcPath at a working cargo and rustc (a rustup toolchain: 'rustup default stable')."));
            return false;
        }

        var toolchain = new RustToolchain(cargo, cargoVersion, rustc, versions.Rustc, versions.Llvm, versions.Host, sysrootRun.StandardOutput.Trim());
        var triple = RustToolchain.Triple(architecture);
        if (!toolchain.HasTarget(triple))
        {
            Report(new BuildDiagnostic(DiagnosticCodes.RustTargetNotInstalled,
                $"rustc at {rustc} has no standard library for {triple} (no {Path.Combine(toolchain.Sysroot, "lib", "rustlib", triple, "lib")}), which building for linux-{architecture.Name} needs. " +
                $"Fix: rustup target add {triple}."));
            return false;
        }

        Log.LogMessage(MessageImportance.High, "OtelThreadCtx: Rust: {0}", toolchain.Describe());
        var item = new TaskItem(cargo);
        item.SetMetadata("CargoVersion", cargoVersion);
        item.SetMetadata("Rustc", rustc);
        item.SetMetadata("RustcVersion", versions.Rustc.ToString());
        item.SetMetadata("LlvmVersion", versions.Llvm.ToString());
        item.SetMetadata("Host", versions.Host);
        item.SetMetadata("RustTarget", triple);
        item.SetMetadata("Sysroot", toolchain.Sysroot);
        Cargo = item;
        return true;
    }
}
