using System.Runtime.InteropServices;
using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Step 1, resolve: finds clang (or gcc for a default build), ld.lld, nm and readelf, and logs
/// each tool's absolute path and version.</summary>
public sealed class ResolveToolchainTask : OtelThreadCtxTask
{
    [Required]
    public string Mode { get; set; } = string.Empty;

    [Required]
    public string Architecture { get; set; } = string.Empty;

    /// <summary>OtelThreadCtxTargetLibc: gnu (empty) or musl; a musl build skips compilers other than clang.</summary>
    public string Libc { get; set; } = string.Empty;

    public string? ClangPath { get; set; }

    public string? LldPath { get; set; }

    public string? NmPath { get; set; }

    public string? ReadElfPath { get; set; }

    public string? LlvmRoot { get; set; }

    /// <summary>PATH-style folder list; defaults to the environment's PATH.</summary>
    public string? SearchPath { get; set; }

    public string? LlvmInstallRoot { get; set; }

    public bool UseRustLld { get; set; } = true;

    /// <summary>rustc's LLVM version when a Rust crate joins the link (ResolveRustToolchainTask's LlvmVersion).</summary>
    public string? RustLlvmVersion { get; set; }

    [Output]
    public ITaskItem? Compiler { get; private set; }

    [Output]
    public ITaskItem? Linker { get; private set; }

    [Output]
    public ITaskItem? Nm { get; private set; }

    [Output]
    public ITaskItem? ReadElf { get; private set; }

    protected override BuildDiagnostic? CheckParameters() => CheckMode(Mode) ?? base.CheckParameters();

    protected override async Task<bool> ExecuteAsync()
    {
        var mode = NativeBuildModeParser.Parse(Mode)!.Value;
        var architecture = TargetArchitecture.Parse(Architecture);
        if (architecture is null)
        {
            Report(new BuildDiagnostic(DiagnosticCodes.UnsupportedTarget, TargetArchitecture.UnsupportedMessage(Architecture)));
            return false;
        }

        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
        {
            Report(new BuildDiagnostic(DiagnosticCodes.UnsupportedTarget,
                $"The native library is built with clang and lld on Linux, but this build runs on '{RuntimeInformation.OSDescription}'. " +
                "Fix: build on Linux x64/arm64 (a CI runner or container), or leave OtelThreadCtxInline unset to use the prebuilt default library."));
            return false;
        }

        var options = new ToolSearchOptions
        {
            ExplicitPaths = new Dictionary<ToolKind, string>
            {
                [ToolKind.CCompiler] = ClangPath ?? string.Empty,
                [ToolKind.Linker] = LldPath ?? string.Empty,
                [ToolKind.Nm] = NmPath ?? string.Empty,
                [ToolKind.ReadElf] = ReadElfPath ?? string.Empty,
            },
            LlvmRoot = string.IsNullOrWhiteSpace(LlvmRoot) ? null : LlvmRoot,
            SearchPath = ToolSearchOptions.SplitPath(string.IsNullOrEmpty(SearchPath) ? Environment.GetEnvironmentVariable("PATH") : SearchPath),
            LlvmInstallRoot = string.IsNullOrWhiteSpace(LlvmInstallRoot) ? "/usr/lib" : LlvmInstallRoot,
            UseRustToolchain = UseRustLld,
        };

        var requirements = new ToolchainRequirements(mode, architecture) { RustLlvmVersion = ToolVersion.TryParse(RustLlvmVersion), Libc = TargetLibc.Parse(Libc) ?? TargetLibc.Gnu };
        var resolver = new ToolResolver(Tools);
        var ok = true;

        async Task<ITaskItem?> Resolve(ToolKind kind, bool required)
        {
            var resolution = await resolver.ResolveAsync(kind, options, requirements, required, CancellationToken).ConfigureAwait(false);
            foreach (var skipped in resolution.Skipped)
            {
                Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: skipped {0}", skipped);
            }

            if (resolution.Error is { } error)
            {
                Report(error);
                ok = false;
                return null;
            }

            if (resolution.Tool is not { } tool)
            {
                Log.LogMessage(MessageImportance.High, "OtelThreadCtx: no {0} found; the compiler driver's own linker is used.", kind.DisplayName());
                return null;
            }

            Log.LogMessage(MessageImportance.High, "OtelThreadCtx: {0}", tool.Describe());
            return ToolItems.ToItem(tool);
        }

        Compiler = await Resolve(ToolKind.CCompiler, required: true).ConfigureAwait(false);
        // The default build can link with the compiler's own linker; the inline build needs lld.
        Linker = await Resolve(ToolKind.Linker, required: mode == NativeBuildMode.Inline).ConfigureAwait(false);
        if (ok && mode == NativeBuildMode.Inline && Compiler is not null && Linker is not null
            && string.IsNullOrWhiteSpace(ClangPath) && string.IsNullOrWhiteSpace(LldPath)
            && requirements.CheckPair(ToolItems.FromItem(Compiler, ToolKind.CCompiler)!, ToolItems.FromItem(Linker, ToolKind.Linker)) is not null)
        {
            // Each is fit alone but not as a pair (a clang newer than the LLD): look at every pair on the machine.
            Log.LogMessage(MessageImportance.High, "OtelThreadCtx: pair rejected: {0} + {1}: {2}; looking for a pair that works",
                Compiler.ItemSpec, Linker.ItemSpec, requirements.CheckPair(ToolItems.FromItem(Compiler, ToolKind.CCompiler)!, ToolItems.FromItem(Linker, ToolKind.Linker))!.Code);
            var compilers = await resolver.ResolveAllAsync(ToolKind.CCompiler, options, requirements, CancellationToken).ConfigureAwait(false);
            var linkers = await resolver.ResolveAllAsync(ToolKind.Linker, options, requirements, CancellationToken).ConfigureAwait(false);
            var rejected = new List<string>();
            if (ToolchainPairing.Choose(compilers, linkers, requirements, rejected) is { } pair)
            {
                foreach (var line in rejected)
                {
                    Log.LogMessage(MessageImportance.High, "OtelThreadCtx: pair rejected: {0}", line);
                }

                Log.LogMessage(MessageImportance.High, "OtelThreadCtx: chose the pair {0} + {1} (the first that can read each other's bitcode; same LLVM major preferred)", pair.Compiler.Describe(), pair.Linker.Describe());
                Compiler = ToolItems.ToItem(pair.Compiler);
                Linker = ToolItems.ToItem(pair.Linker);
            }
        }

        Nm = await Resolve(ToolKind.Nm, required: true).ConfigureAwait(false);
        ReadElf = await Resolve(ToolKind.ReadElf, required: true).ConfigureAwait(false);
        return ok;
    }
}
