using System.Security.Cryptography;
using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Toolchain;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Step 5, verify: reads the library with nm and readelf, runs the checks, writes the JSON report
/// beside it. A library that fails is deleted (unless failures are downgraded to warnings).</summary>
public sealed class VerifyLibraryTask : NativeStepTask
{
    [Required]
    public string Library { get; set; } = string.Empty;

    [Required]
    public ITaskItem? Nm { get; set; }

    [Required]
    public ITaskItem? ReadElf { get; set; }

    [Required]
    public string ShimSymbol { get; set; } = string.Empty;

    public string TlsSymbol { get; set; } = "otel_thread_ctx_v1";

    public string? CompileCommandsFile { get; set; }

    public string? LinkCommandFile { get; set; }

    [Required]
    public string ReportPath { get; set; } = string.Empty;

    /// <summary>OtelThreadCtxVerificationFailuresAsWarnings: keep a library that failed a check. At your own risk.</summary>
    public bool FailuresAsWarnings { get; set; }

    [Output]
    public bool Passed { get; private set; }

    [Output]
    public string Summary { get; private set; } = string.Empty;

    /// <summary>Written (one "CODE\tmessage" line per failed check) when a library that failed is kept in warnings mode,
    /// deleted otherwise, so that incremental builds can repeat the warnings and never call the library verified.</summary>
    public string? UnverifiedMarkerPath { get; set; }

    /// <summary>The library's debug file, when its DWARF was moved out (recorded with its sha256).</summary>
    public string? DebugFile { get; set; }

    /// <summary>Inline builds with a Rust layer: disassemble the library and check that every exported function that
    /// touches the slot holds the TLSDESC sequence itself (OTC4011).</summary>
    public bool CheckExportedFunctions { get; set; }

    /// <summary>objdump (GNU or LLVM) for that check; empty: the one beside readelf, then objdump / llvm-objdump on PATH.</summary>
    public string? Disassembler { get; set; }

    /// <summary>What cargo built (BuildRustCrateTask's record), copied into the report.</summary>
    public string? RustBuildFile { get; set; }

    protected override async Task<bool> ExecuteAsync()
    {
        var mode = BuildMode;
        var architecture = Target!;
        var libc = TargetC ?? TargetLibc.Gnu;
        var nm = ToolItems.FromItem(Nm, ToolKind.Nm)!;
        var readElf = ToolItems.FromItem(ReadElf, ToolKind.ReadElf)!;
        var library = Path.GetFullPath(Library);

        var inspector = new LibraryInspector(Tools);
        var outcome = await inspector.InspectAsync(library, nm.Path, readElf.Path, CancellationToken).ConfigureAwait(false);
        var checks = outcome.Inspection is { } inspection
            ? LibraryChecks.Run(inspection, new VerificationExpectations(mode, architecture, ShimSymbol, TlsSymbol) { Libc = libc })
            : [];
        if (outcome.Inspection is { } inspected && CheckExportedFunctions && mode == NativeBuildMode.Inline)
        {
            var (check, command, failure) = await DisassemblyCheckAsync(library, readElf.Path, inspected, new VerificationExpectations(mode, architecture, ShimSymbol, TlsSymbol)).ConfigureAwait(false);
            outcome = outcome with
            {
                Commands = [.. outcome.Commands, .. command is null ? Array.Empty<string>() : [command]],
                Error = outcome.Error ?? failure,
            };
            if (check is not null)
            {
                checks = [.. checks, check];
            }
        }

        var errors = outcome.Error is { } error ? new[] { error.ToString() } : [];
        Passed = outcome.Error is null && checks.All(c => c.Passed);

        var tools = new Dictionary<string, ToolReport>(StringComparer.Ordinal);
        foreach (var (name, tool) in new[]
                 {
                     ("compiler", ToolItems.FromItem(Compiler, ToolKind.CCompiler)), ("linker", ToolItems.FromItem(Linker, ToolKind.Linker)),
                     ("nm", nm), ("readelf", readElf),
                 })
        {
            if (tool is not null)
            {
                tools[name] = ToolItems.ToReport(tool);
            }
        }

        var compile = CommandRecords.ReadCompile(CompileCommandsFile);
        var sources = compile.Select(c => Path.GetFullPath(Path.Combine(c.Directory, c.File))).Where(File.Exists).Distinct(StringComparer.Ordinal)
            .ToDictionary(path => path, Sha256, StringComparer.Ordinal);
        var report = new VerificationReport(
            VerificationReport.CurrentSchemaVersion, library, File.Exists(library) ? Sha256(library) : null,
            mode.ToString().ToLowerInvariant(), libc.Rid(architecture), Passed, tools,
            compile, CommandRecords.ReadLink(LinkCommandFile),
            outcome.Commands,
            checks.Select(c => new CheckReport(c.Id, c.Passed, c.Code, c.Message, c.Evidence)).ToList(),
            errors,
            sources,
            !string.IsNullOrEmpty(DebugFile) && File.Exists(DebugFile) ? Path.GetFullPath(DebugFile) : null,
            !string.IsNullOrEmpty(DebugFile) && File.Exists(DebugFile) ? Sha256(DebugFile) : null,
            RustBuildRecord.Read(RustBuildFile),
            File.Exists(library) ? new FileInfo(library).Length : null);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(ReportPath))!);
        Publishing.AtomicFile.WriteAllText(ReportPath, report.ToJson());

        if (outcome.Error is { } inspectError)
        {
            Report(inspectError, FailuresAsWarnings);
        }

        var failures = new List<Diagnostics.BuildDiagnostic>();
        if (outcome.Error is { } inspectFailure)
        {
            failures.Add(inspectFailure);
        }

        foreach (var failed in checks.Where(c => !c.Passed))
        {
            var diagnostic = new Diagnostics.BuildDiagnostic(failed.Code!, $"{failed.Message} Library: {library}. Tool output: {string.Join(" | ", failed.Evidence)}. Report: {ReportPath}");
            failures.Add(diagnostic);
            Report(diagnostic, FailuresAsWarnings);
        }

        if (!string.IsNullOrEmpty(UnverifiedMarkerPath))
        {
            if (!Passed && FailuresAsWarnings)
            {
                Publishing.AtomicFile.WriteAllLines(UnverifiedMarkerPath,
                    failures.Select(f => $"{f.Code}\tUNVERIFIED library kept (OtelThreadCtxVerificationFailuresAsWarnings=true): {f.Message.ReplaceLineEndings(" ")}"));
            }
            else
            {
                File.Delete(UnverifiedMarkerPath);
            }
        }

        foreach (var check in checks.Where(c => c.Passed))
        {
            Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: check {0} passed: {1} Evidence: {2}", check.Id, check.Message, string.Join(" | ", check.Evidence));
        }

        Summary = report.Summary();
        Log.LogMessage(MessageImportance.High, "{0}; report: {1}", Summary, ReportPath);

        if (!Passed && !FailuresAsWarnings)
        {
            // Never leave a library that failed a check where a later step could pick it up.
            File.Delete(library);
            return false;
        }

        return true;
    }

    private async Task<(CheckResult? Check, string? Command, Diagnostics.BuildDiagnostic? Error)> DisassemblyCheckAsync(
        string library, string readElfPath, LibraryInspection inspection, VerificationExpectations expect)
    {
        var folder = Path.GetDirectoryName(readElfPath) ?? string.Empty;
        var candidates = new List<string>();
        if (!string.IsNullOrWhiteSpace(Disassembler))
        {
            candidates.Add(Disassembler);
        }
        else
        {
            candidates.Add(Path.Combine(folder, Path.GetFileName(readElfPath).Replace("readelf", "objdump", StringComparison.Ordinal)));
            var path = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries);
            // GNU objdump reads only the host's instruction set; LLVM's reads both.
            var names = expect.Architecture.IsHost ? new[] { "objdump", "llvm-objdump" } : ["llvm-objdump"];
            candidates.AddRange(path.SelectMany(p => names.Select(n => Path.Combine(p, n))));
            candidates.AddRange(path.Where(Directory.Exists).SelectMany(p => Directory.EnumerateFiles(p, "llvm-objdump-*")).Order(StringComparer.Ordinal).Reverse());
        }

        var objdump = candidates.FirstOrDefault(Toolchain.ToolSearch.IsExecutableFile);
        if (objdump is null)
        {
            return (null, null, new Diagnostics.BuildDiagnostic(Diagnostics.DiagnosticCodes.InspectionToolFailed,
                $"No objdump to disassemble {library} with (looked for: {string.Join("; ", candidates.Distinct(StringComparer.Ordinal))}). Fix: apt-get install binutils (x86-64) or llvm-19 (any target), or set OtelThreadCtxObjdumpPath."));
        }

        var invocation = new Processes.ToolInvocation(objdump, ["-d", "--no-show-raw-insn", library]);
        var result = await Tools.RunAsync(invocation, null, CancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            return (null, invocation.ToCommandLine(), new Diagnostics.BuildDiagnostic(Diagnostics.DiagnosticCodes.InspectionToolFailed,
                $"'{invocation.ToCommandLine()}' exited with {result.ExitCode}: {result.CombinedOutput.Trim()}. Fix: use an objdump that reads this target (llvm-objdump reads every one; OtelThreadCtxObjdumpPath)."));
        }

        try
        {
            return (ExportedFunctionChecks.Inlined(DisassemblyReader.Parse(result.StandardOutput), inspection, expect), invocation.ToCommandLine(), null);
        }
        catch (ToolOutputException e)
        {
            return (null, invocation.ToCommandLine(), new Diagnostics.BuildDiagnostic(Diagnostics.DiagnosticCodes.ToolOutputUnreadable, $"{e.Message}. Fix: use GNU or LLVM objdump (OtelThreadCtxObjdumpPath)."));
        }
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
    }
}
