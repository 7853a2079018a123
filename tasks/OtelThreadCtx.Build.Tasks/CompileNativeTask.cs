using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Native;
using OtelThreadCtx.Build.Tasks.Toolchain;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Step 3, compile: each C source to an object (default) or ThinLTO bitcode (inline), and a
/// compile_commands.json. Where each object and the command record go is the targets' decision (item metadata
/// ObjectFile, CompileCommandsFile); the task only checks that two sources do not share an object.</summary>
public sealed class CompileNativeTask : NativeStepTask
{
    [Required]
    public ITaskItem[] Sources { get; set; } = [];

    public string[] IncludeDirectories { get; set; } = [];

    public string[] Defines { get; set; } = [];

    public string? ExtraFlags { get; set; }

    /// <summary>OtelThreadCtxCompileArgument items: one compiler argument each.</summary>
    public ITaskItem[] ExtraArguments { get; set; } = [];

    /// <summary>OtelThreadCtxPathMap items: a folder (the item) and the stable prefix that replaces it (metadata To).</summary>
    public ITaskItem[] PathMaps { get; set; } = [];

    /// <summary>Where the package's own C sources live (OtelThreadCtxNativeSourceRoot), to word the fix for a failure.</summary>
    public string? PackageSourceRoot { get; set; }

    /// <summary>Objects for the static archive a NativeAOT executable links in (-fPIE, local-exec TLS).</summary>
    public bool ForExecutable { get; set; }

    [Required]
    public string IntermediateDirectory { get; set; } = string.Empty;

    /// <summary>Where compile_commands.json goes (the verify step reads it back into the report).</summary>
    [Required]
    public string CompileCommandsFile { get; set; } = string.Empty;

    [Output]
    public ITaskItem[] ObjectFiles { get; private set; } = [];

    protected override async Task<bool> ExecuteAsync()
    {
        if (RequireCompiler() is not { } compiler)
        {
            return false;
        }

        var settings = SettingsFor(compiler) with
        {
            IncludeDirectories = IncludeDirectories.Select(Path.GetFullPath).ToList(),
            ForExecutable = ForExecutable,
            Defines = Defines,
            ExtraCompileFlags = Arguments(ExtraFlags, ExtraArguments),
            PathMaps = PathMaps.Where(m => !string.IsNullOrEmpty(m.GetMetadata("To")))
                .Select(m => (Path.TrimEndingDirectorySeparator(Path.GetFullPath(m.ItemSpec)) + "/", m.GetMetadata("To"))).ToList(),
        };

        Directory.CreateDirectory(IntermediateDirectory);
        var jobs = Sources.Select(source =>
        {
            var sourcePath = Path.GetFullPath(source.ItemSpec);
            // The compiler runs in the source's folder and is given the file name alone: the name becomes the module's
            // identifier in ThinLTO bitcode (and the hash of promoted symbols), which must not depend on the folder.
            var objectPath = Path.GetFullPath(source.GetMetadata("ObjectFile") is { Length: > 0 } given
                ? given
                : Path.Combine(IntermediateDirectory, Path.GetFileNameWithoutExtension(sourcePath) + ".o"));
            return (Source: sourcePath, Object: objectPath, Invocation: CompileCommandBuilder.Build(settings, Path.GetFileName(sourcePath), objectPath));
        }).ToList();

        var duplicate = jobs.GroupBy(j => j.Object, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            Report(new BuildDiagnostic(DiagnosticCodes.DuplicateObjectName,
                $"Two sources would compile to the same object {duplicate.Key}: {string.Join(", ", duplicate.Select(d => d.Source))}. Fix: give the C sources distinct file names."));
            return false;
        }

        PendingOutputs.AddRange(jobs.Select(j => j.Object));
        var results = await System.Threading.Tasks.Task.WhenAll(jobs.Select(async job =>
        {
            File.Delete(job.Object);
            Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: {0}", job.Invocation.ToCommandLine());
            var result = await Tools.RunAsync(job.Invocation, Path.GetDirectoryName(job.Source), CancellationToken).ConfigureAwait(false);
            return (job, result);
        })).ConfigureAwait(false);

        if (CancellationToken.IsCancellationRequested || results.Any(r => !r.result.Succeeded && StoppedBySignal(r.result.ExitCode)))
        {
            ReportCancelled($"the compiler was stopped (exit {string.Join(", ", results.Select(r => r.result.ExitCode).Distinct())})");
            return false;
        }

        var packageRoot = string.IsNullOrEmpty(PackageSourceRoot) ? null : Path.GetFullPath(PackageSourceRoot);
        foreach (var (job, result) in results.Where(r => !r.result.Succeeded))
        {
            File.Delete(job.Object);
            var own = packageRoot is not null && job.Source.StartsWith(packageRoot, StringComparison.Ordinal);
            Report(new BuildDiagnostic(DiagnosticCodes.CompileFailed,
                $"Compiling {job.Source} failed (exit {result.ExitCode}). Command: {job.Invocation.ToCommandLine()}\n{result.CombinedOutput.Trim()}\n" +
                (own
                    ? "Fix: this is the package's own source, so the compiler or the extra flags are the cause: check OtelThreadCtxCFlags / OtelThreadCtxCompileArgument and the compiler's version, or report the output above as a bug."
                    : "Fix: correct the source (warnings are errors), or the flags in OtelThreadCtxCFlags / OtelThreadCtxCompileArgument.")));
        }

        foreach (var (job, _) in results.Where(r => r.result.Succeeded && (!File.Exists(r.job.Object) || new FileInfo(r.job.Object).Length == 0)))
        {
            Report(new BuildDiagnostic(DiagnosticCodes.CompileOutputMissing,
                $"The compiler reported success (exit 0) for {job.Source} but {job.Object} is {(File.Exists(job.Object) ? "empty" : "missing")}. Command: {job.Invocation.ToCommandLine()}\n" +
                "Fix: check the compiler (a wrapper that exits 0 without compiling?) set by OtelThreadCtxClangPath."));
            File.Delete(job.Object);
        }

        if (Log.HasLoggedErrors)
        {
            return false;
        }

        var entries = jobs.Select(j => new CompileCommandEntry(Path.GetDirectoryName(j.Source)!, j.Source, j.Object, j.Invocation.ToArgv(), j.Invocation.ToCommandLine())).ToList();
        CommandRecords.WriteCompile(Path.GetFullPath(CompileCommandsFile), entries);
        ObjectFiles = jobs.Select(j => (ITaskItem)new TaskItem(j.Object)).ToArray();
        Log.LogMessage(MessageImportance.High, "OtelThreadCtx: compiled {0} source(s) ({1}).", jobs.Count, (settings.Mode == NativeBuildMode.Inline ? "ThinLTO bitcode" : "objects") + (settings.ForExecutable ? ", local-exec, for an executable" : settings.Mode == NativeBuildMode.Inline ? string.Empty : ", TLSDESC"));
        return true;
    }
}
