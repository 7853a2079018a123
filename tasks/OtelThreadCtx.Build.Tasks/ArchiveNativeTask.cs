using System.Security.Cryptography;
using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Processes;
using OtelThreadCtx.Build.Tasks.Toolchain;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Step 4 of the NativeAOT static link: the compiled objects (default) or ThinLTO bitcode (inline) into
/// <c>libotel_thread_ctx.a</c>, with its symbol index, then a report that records what went in (members, sha256, size),
/// so that the gate and the publish step trust the archive exactly as they trust a verified library. The archive is
/// written under a temporary name and renamed; a failure leaves neither archive nor report.</summary>
public sealed class ArchiveNativeTask : NativeStepTask
{
    [Required]
    public ITaskItem[] ObjectFiles { get; set; } = [];

    [Required]
    public string OutputPath { get; set; } = string.Empty;

    [Required]
    public string ReportPath { get; set; } = string.Empty;

    /// <summary>OtelThreadCtxArchiverPath: an explicit llvm-ar or ar; empty: llvm-ar beside the linker or the compiler
    /// (llvm-ar-NN beside clang-NN), then, for default-mode objects only, ar on the search path.</summary>
    public string? Archiver { get; set; }

    public string SearchPath { get; set; } = string.Empty;

    public string? CompileCommandsFile { get; set; }

    protected override async Task<bool> ExecuteAsync()
    {
        var mode = BuildMode;
        var candidates = Candidates(mode).Distinct(StringComparer.Ordinal).ToList();
        var archiver = candidates.FirstOrDefault(ToolSearch.IsExecutableFile);
        if (archiver is null)
        {
            Report(new BuildDiagnostic(DiagnosticCodes.ArchiverNotFound,
                $"No archiver to build the NativeAOT static archive with ({(mode == NativeBuildMode.Inline ? "inline mode holds LLVM bitcode, whose symbol index only llvm-ar writes" : "default mode")}); looked for: {string.Join("; ", candidates)}. " +
                "Fix: apt-get install llvm-19 (llvm-ar-19), or set OtelThreadCtxArchiverPath to an llvm-ar."));
            return false;
        }

        var output = Path.GetFullPath(OutputPath);
        var temporary = Publishing.AtomicFile.TemporaryName(output);
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        File.Delete(output);
        File.Delete(ReportPath);
        var objects = ObjectFiles.Select(o => Path.GetFullPath(o.ItemSpec)).ToList();
        // r: insert, c: no "creating" note, s: symbol index (the linker needs it to pull members), D: deterministic.
        var invocation = new ToolInvocation(archiver, ["rcsD", temporary, .. objects]);
        PendingOutputs.Add(temporary);
        Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: {0}", invocation.ToCommandLine());
        var result = await Tools.RunAsync(invocation, Path.GetDirectoryName(output), CancellationToken).ConfigureAwait(false);
        if (CancellationToken.IsCancellationRequested || (!result.Succeeded && StoppedBySignal(result.ExitCode)))
        {
            ReportCancelled($"the archiver was stopped (exit {result.ExitCode})");
            return false;
        }

        var listing = result.Succeeded ? await Tools.RunAsync(new ToolInvocation(archiver, ["t", temporary]), null, CancellationToken).ConfigureAwait(false) : null;
        var members = listing?.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        var expected = objects.Select(Path.GetFileName).ToList();
        if (!result.Succeeded || listing is not { Succeeded: true } || !expected.All(members.Contains))
        {
            File.Delete(temporary);
            Report(new BuildDiagnostic(DiagnosticCodes.ArchiveFailed,
                $"Archiving {output} failed (exit {result.ExitCode}; members listed: {string.Join(", ", members)}; expected: {string.Join(", ", expected)}). Command: {invocation.ToCommandLine()}\n{result.CombinedOutput.Trim()}\n" +
                "Fix: use an llvm-ar at least as new as the compiler (OtelThreadCtxArchiverPath); check that the objects exist and the folder is writable."));
            return false;
        }

        File.Move(temporary, output, overwrite: true);
        var sha256 = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(output))).ToLowerInvariant();
        var check = new CheckReport("archive-members", true, null, $"The archive holds every compiled object ({(mode == NativeBuildMode.Inline ? "ThinLTO bitcode" : "ELF objects")}, local-exec TLS) with a symbol index.", members);
        var tools = new Dictionary<string, ToolReport>(StringComparer.Ordinal);
        if (ToolItems.FromItem(Compiler, ToolKind.CCompiler) is { } compiler)
        {
            tools["compiler"] = ToolItems.ToReport(compiler);
        }

        var report = new VerificationReport(VerificationReport.CurrentSchemaVersion, output, sha256, mode.ToString().ToLowerInvariant(),
            (TargetC ?? TargetLibc.Gnu).Rid(Target!), true, tools, CommandRecords.ReadCompile(CompileCommandsFile),
            new LinkCommandEntry(output, invocation.ToArgv(), invocation.ToCommandLine()), [invocation.ToCommandLine()], [check], [],
            Size: new FileInfo(output).Length);
        Publishing.AtomicFile.WriteAllText(ReportPath, report.ToJson());
        Log.LogMessage(MessageImportance.High, "OtelThreadCtx: archived {0} object(s) into {1} (NativeAOT static link, {2}).", objects.Count, output, Mode);
        return true;
    }

    private IEnumerable<string> Candidates(NativeBuildMode mode)
    {
        if (!string.IsNullOrWhiteSpace(Archiver))
        {
            yield return Path.GetFullPath(Archiver);
            yield break;
        }

        foreach (var tool in new[] { Linker?.ItemSpec, Compiler?.ItemSpec })
        {
            if (string.IsNullOrEmpty(tool) || Path.GetDirectoryName(tool) is not { } folder)
            {
                continue;
            }

            var name = Path.GetFileName(tool);
            var dash = name.LastIndexOf('-');
            if (dash > 0 && int.TryParse(name[(dash + 1)..], out _))
            {
                yield return Path.Combine(folder, "llvm-ar" + name[dash..]);
            }

            yield return Path.Combine(folder, "llvm-ar");
        }

        var path = SearchPath.Split(':', StringSplitOptions.RemoveEmptyEntries);
        foreach (var folder in path)
        {
            yield return Path.Combine(folder, "llvm-ar");
        }

        if (mode == NativeBuildMode.Default)
        {
            foreach (var folder in path)
            {
                yield return Path.Combine(folder, "ar");
            }
        }
    }
}
