using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Processes;
using OtelThreadCtx.Build.Tasks.Toolchain;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Verify, for a NativeAOT executable that links the static archive in (after ILCompiler's LinkNative):
/// readelf and objdump on the executable (its symbol table, or the .dbg file's when the executable was stripped), the
/// checks of <see cref="ExecutableChecks"/>, the report beside the executable. A failure deletes the executable and fails
/// the publish (LinkNative links it again next time); OtelThreadCtxVerificationFailuresAsWarnings keeps it, marked.</summary>
public sealed class VerifyExecutableTask : NativeStepTask
{
    [Required]
    public string Executable { get; set; } = string.Empty;

    /// <summary>NativeAOT's debug file (&lt;app&gt;.dbg), whose symbol table names the functions of a stripped executable.</summary>
    public string? DebugFile { get; set; }

    [Required]
    public ITaskItem? ReadElf { get; set; }

    /// <summary>objdump (GNU for the host's instruction set, LLVM for any); empty: beside readelf, then PATH.</summary>
    public string? Disassembler { get; set; }

    [Required]
    public string ShimSymbol { get; set; } = string.Empty;

    public string TlsSymbol { get; set; } = "otel_thread_ctx_v1";

    [Required]
    public string ReportPath { get; set; } = string.Empty;

    /// <summary>The archive's report: what was compiled (commands, sources) is copied into the executable's.</summary>
    public string? ArchiveReport { get; set; }

    public bool FailuresAsWarnings { get; set; }

    public string? UnverifiedMarkerPath { get; set; }

    protected override async Task<bool> ExecuteAsync()
    {
        var mode = BuildMode;
        var architecture = Target!;
        var libc = TargetC ?? TargetLibc.Gnu;
        var readElf = ToolItems.FromItem(ReadElf, ToolKind.ReadElf)!;
        var executable = Path.GetFullPath(Executable);
        var reportPath = Path.GetFullPath(ReportPath); // every path the build prints is a full one
        var commands = new List<string>();
        BuildDiagnostic? error = null;

        async Task<string?> Run(string tool, params string[] args)
        {
            var invocation = new ToolInvocation(tool, args);
            commands.Add(invocation.ToCommandLine());
            var result = await Tools.RunAsync(invocation, null, CancellationToken).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                error ??= new BuildDiagnostic(DiagnosticCodes.InspectionToolFailed,
                    $"'{invocation.ToCommandLine()}' exited with {result.ExitCode}: {result.CombinedOutput.Trim()}. Fix: check that {executable} is an ELF executable for {architecture} and that the tool reads it (GNU binutils for the host, LLVM for any target; OtelThreadCtxReadElfPath, OtelThreadCtxObjdumpPath).");
                return null;
            }

            return result.StandardOutput;
        }

        var objdump = FindObjdump(readElf.Path, architecture);
        var dynSyms = await Run(readElf.Path, "-W", "--dyn-syms", executable).ConfigureAwait(false);
        var relocations = await Run(readElf.Path, "-W", "-r", executable).ConfigureAwait(false);
        var headers = await Run(readElf.Path, "-W", "-l", executable).ConfigureAwait(false);
        var dynamic = await Run(readElf.Path, "-W", "-d", executable).ConfigureAwait(false);
        var symbolFile = !string.IsNullOrEmpty(DebugFile) && File.Exists(DebugFile) ? Path.GetFullPath(DebugFile) : executable;
        var symbols = await Run(readElf.Path, "-W", "-s", symbolFile).ConfigureAwait(false);
        string? disassembly = null;
        if (objdump is null)
        {
            error ??= new BuildDiagnostic(DiagnosticCodes.InspectionToolFailed,
                $"No objdump to disassemble {executable} with (looked beside {readElf.Path} and on PATH). Fix: apt-get install binutils (x86-64) or llvm-19 (any target), or set OtelThreadCtxObjdumpPath.");
        }
        else
        {
            disassembly = await Run(objdump, "-d", "--no-show-raw-insn", executable).ConfigureAwait(false);
        }

        IReadOnlyList<CheckResult> checks = [];
        if (error is null)
        {
            try
            {
                var inspection = new ExecutableInspection(
                    ReadElfReader.ParseSymbols(dynSyms!), ReadElfReader.ParseSymbols(symbols!), ReadElfReader.ParseRelocations(relocations!),
                    ReadElfReader.ParseProgramHeaders(headers!), ReadElfReader.ParseDynamicSection(dynamic!),
                    ExecutableChecks.ParseInstructions(disassembly!));
                checks = ExecutableChecks.Run(inspection, new VerificationExpectations(mode, architecture, ShimSymbol, TlsSymbol) { Libc = libc });
            }
            catch (ToolOutputException e)
            {
                error = new BuildDiagnostic(DiagnosticCodes.ToolOutputUnreadable, $"{e.Message}. No check passes over output it cannot read. Fix: use GNU binutils or LLVM readelf/objdump (OtelThreadCtxReadElfPath, OtelThreadCtxObjdumpPath).");
            }
        }

        var passed = error is null && checks.Count > 0 && checks.All(c => c.Passed);
        var archive = string.IsNullOrEmpty(ArchiveReport) || !File.Exists(ArchiveReport) ? null : VerificationReport.FromJson(File.ReadAllText(ArchiveReport));
        var tools = new Dictionary<string, ToolReport>(archive?.Tools ?? new Dictionary<string, ToolReport>(), StringComparer.Ordinal) { ["readelf"] = ToolItems.ToReport(readElf) };
        var report = new VerificationReport(VerificationReport.CurrentSchemaVersion, executable, File.Exists(executable) ? Publishing.AtomicFile.Sha256(executable) : null,
            mode.ToString().ToLowerInvariant(), libc.Rid(architecture), passed, tools, archive?.Compile ?? [], archive?.Link, commands,
            checks.Select(c => new CheckReport(c.Id, c.Passed, c.Code, c.Message, c.Evidence)).ToList(),
            error is null ? [] : [error.ToString()], archive?.SourceSha256,
            symbolFile != executable ? symbolFile : null, symbolFile != executable ? Publishing.AtomicFile.Sha256(symbolFile) : null, null,
            File.Exists(executable) ? new FileInfo(executable).Length : null);
        Publishing.AtomicFile.WriteAllText(reportPath, report.ToJson());

        var failures = new List<BuildDiagnostic>();
        if (error is not null)
        {
            failures.Add(error);
            Report(error, FailuresAsWarnings);
        }

        foreach (var failed in checks.Where(c => !c.Passed))
        {
            var diagnostic = new BuildDiagnostic(failed.Code!, $"{failed.Message} Executable: {executable}. Tool output: {string.Join(" | ", failed.Evidence)}. Report: {reportPath}");
            failures.Add(diagnostic);
            Report(diagnostic, FailuresAsWarnings);
        }

        foreach (var check in checks.Where(c => c.Passed))
        {
            Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: check {0} passed: {1} Evidence: {2}", check.Id, check.Message, string.Join(" | ", check.Evidence));
        }

        if (!string.IsNullOrEmpty(UnverifiedMarkerPath))
        {
            if (!passed && FailuresAsWarnings)
            {
                Publishing.AtomicFile.WriteAllLines(UnverifiedMarkerPath, failures.Select(f => $"{f.Code}\tUNVERIFIED executable kept (OtelThreadCtxVerificationFailuresAsWarnings=true): {f.Message.ReplaceLineEndings(" ")}"));
            }
            else
            {
                File.Delete(UnverifiedMarkerPath);
            }
        }

        Log.LogMessage(MessageImportance.High, "{0}; report: {1}", report.Summary(), reportPath);
        if (!passed && !FailuresAsWarnings)
        {
            // Never leave an executable that failed a check where the publish (or a later incremental build) would ship it.
            File.Delete(executable);
            return false;
        }

        return true;
    }

    private string? FindObjdump(string readElfPath, TargetArchitecture architecture)
    {
        if (!string.IsNullOrWhiteSpace(Disassembler))
        {
            return Disassembler;
        }

        var folder = Path.GetDirectoryName(readElfPath) ?? string.Empty;
        var path = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries);
        var names = architecture.IsHost ? new[] { "objdump", "llvm-objdump" } : ["llvm-objdump"];
        // GNU objdump reads only the host's instruction set: beside a GNU readelf, it is a candidate for the host alone.
        var beside = Path.Combine(folder, Path.GetFileName(readElfPath).Replace("readelf", "objdump", StringComparison.Ordinal));
        var candidates = architecture.IsHost || Path.GetFileName(beside).StartsWith("llvm-", StringComparison.Ordinal) ? new List<string> { beside } : [];
        candidates.AddRange(path.SelectMany(p => names.Select(n => Path.Combine(p, n))));
        candidates.AddRange(path.Where(Directory.Exists).SelectMany(p => Directory.EnumerateFiles(p, "llvm-objdump-*")).Order(StringComparer.Ordinal).Reverse());
        return candidates.FirstOrDefault(ToolSearch.IsExecutableFile);
    }
}
