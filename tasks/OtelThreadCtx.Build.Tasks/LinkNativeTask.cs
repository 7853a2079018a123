using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Native;
using OtelThreadCtx.Build.Tasks.Toolchain;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Step 4, link: the objects into the shared library through ld.lld (hardened, version script;
/// inline: ThinLTO with TLSDESC code generation). Writes the command record where the targets say (LinkCommandFile).</summary>
public sealed class LinkNativeTask : NativeStepTask
{
    [Required]
    public ITaskItem[] ObjectFiles { get; set; } = [];

    [Required]
    public string VersionScript { get; set; } = string.Empty;

    [Required]
    public string OutputPath { get; set; } = string.Empty;

    public string? ExtraFlags { get; set; }

    /// <summary>Where the link command record goes (the verify step reads it back into the report).</summary>
    [Required]
    public string LinkCommandFile { get; set; } = string.Empty;

    /// <summary>Static libraries from Rust crates (BuildRustCrateTask): linked after the objects, each function the version
    /// script exports pulled out of them (nothing references an archive's exports otherwise).</summary>
    public ITaskItem[] StaticLibraries { get; set; } = [];

    /// <summary>OtelThreadCtxLinkArgument items: one linker-driver argument each.</summary>
    public ITaskItem[] ExtraArguments { get; set; } = [];

    protected override async Task<bool> ExecuteAsync()
    {
        if (RequireCompiler() is not { } compiler)
        {
            return false;
        }

        var mode = BuildMode;
        var settings = SettingsFor(compiler) with
        {
            Linker = ToolItems.FromItem(Linker, ToolKind.Linker),
            ExtraLinkFlags = Arguments(ExtraFlags, ExtraArguments),
        };

        var output = Path.GetFullPath(OutputPath);
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        File.Delete(output);
        var invocation = LinkCommandBuilder.Build(settings, ObjectFiles.Select(o => Path.GetFullPath(o.ItemSpec)).ToList(), Path.GetFullPath(VersionScript), output,
            StaticLibraries.Select(l => Path.GetFullPath(l.ItemSpec)).ToList());
        Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: {0}", invocation.ToCommandLine());

        PendingOutputs.Add(output);
        var result = await Tools.RunAsync(invocation, Path.GetDirectoryName(output), CancellationToken).ConfigureAwait(false);
        if (CancellationToken.IsCancellationRequested || (!result.Succeeded && StoppedBySignal(result.ExitCode)))
        {
            ReportCancelled($"the linker was stopped (exit {result.ExitCode})");
            return false;
        }

        if (!result.Succeeded)
        {
            File.Delete(output);
            Report(new BuildDiagnostic(DiagnosticCodes.LinkFailed,
                $"Linking {output} failed (exit {result.ExitCode}). Command: {invocation.ToCommandLine()}\n{result.CombinedOutput.Trim()}\n" +
                "Fix: check that ld.lld can read the objects (its LLVM must be at least as new as the compiler's) and OtelThreadCtxLdFlags / OtelThreadCtxLinkArgument."));
            return false;
        }

        if (!File.Exists(output) || new FileInfo(output).Length == 0)
        {
            File.Delete(output);
            Report(new BuildDiagnostic(DiagnosticCodes.LinkOutputMissing,
                $"The linker reported success (exit 0) but {output} is {(File.Exists(output) ? "empty" : "missing")}. Command: {invocation.ToCommandLine()}\n" +
                "Fix: check the linker (a wrapper that exits 0 without linking?) set by OtelThreadCtxLldPath / OtelThreadCtxClangPath."));
            return false;
        }

        CommandRecords.WriteLink(Path.GetFullPath(LinkCommandFile), new LinkCommandEntry(output, invocation.ToArgv(), invocation.ToCommandLine()));
        Log.LogMessage(MessageImportance.High, "OtelThreadCtx: linked {0} ({1}{2}).", output,
            mode == NativeBuildMode.Inline ? "ThinLTO, shim inlined" : "default", LinkCommandBuilder.UsesLld(settings) ? ", ld.lld" : ", system linker");
        return true;
    }
}
