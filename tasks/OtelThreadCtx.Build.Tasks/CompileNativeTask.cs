using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Native;
using OtelThreadCtx.Build.Tasks.Toolchain;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Step 3, compile: each C source to an object (default) or ThinLTO bitcode (inline), and a
/// compile_commands.json beside them.</summary>
public sealed class CompileNativeTask : NativeStepTask
{
    [Required]
    public ITaskItem[] Sources { get; set; } = [];

    public string[] IncludeDirectories { get; set; } = [];

    public string[] Defines { get; set; } = [];

    public string? ExtraFlags { get; set; }

    [Required]
    public string IntermediateDirectory { get; set; } = string.Empty;

    [Output]
    public ITaskItem[] ObjectFiles { get; private set; } = [];

    protected override async Task<bool> ExecuteAsync()
    {
        if (RequireCompiler() is not { } compiler)
        {
            return false;
        }

        var settings = new NativeBuildSettings(BuildMode, Target!, compiler)
        {
            IncludeDirectories = IncludeDirectories.Select(Path.GetFullPath).ToList(),
            Defines = Defines,
            ExtraCompileFlags = SplitFlags(ExtraFlags),
            Sysroot = string.IsNullOrWhiteSpace(Sysroot) ? null : Sysroot,
        };

        Directory.CreateDirectory(IntermediateDirectory);
        var jobs = Sources.Select(source =>
        {
            var sourcePath = Path.GetFullPath(source.ItemSpec);
            var objectPath = Path.GetFullPath(Path.Combine(IntermediateDirectory, Path.GetFileNameWithoutExtension(sourcePath) + ".o"));
            return (Source: sourcePath, Object: objectPath, Invocation: CompileCommandBuilder.Build(settings, sourcePath, objectPath));
        }).ToList();

        var duplicate = jobs.GroupBy(j => j.Object, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            Report(new BuildDiagnostic(DiagnosticCodes.CompileFailed,
                $"Two sources would compile to the same object {duplicate.Key}: {string.Join(", ", duplicate.Select(d => d.Source))}. Fix: give the C sources distinct file names."));
            return false;
        }

        var results = await System.Threading.Tasks.Task.WhenAll(jobs.Select(async job =>
        {
            File.Delete(job.Object);
            Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: {0}", job.Invocation.ToCommandLine());
            var result = await Runner.RunAsync(job.Invocation, Path.GetDirectoryName(job.Source), CancellationToken).ConfigureAwait(false);
            return (job, result);
        })).ConfigureAwait(false);

        foreach (var (job, result) in results.Where(r => !r.result.Succeeded))
        {
            File.Delete(job.Object);
            Report(new BuildDiagnostic(DiagnosticCodes.CompileFailed,
                $"Compiling {job.Source} failed (exit {result.ExitCode}). Command: {job.Invocation.ToCommandLine()}\n{result.CombinedOutput.Trim()}\n" +
                "Fix: correct the source (warnings are errors), or the flags in OtelThreadCtxCFlags."));
        }

        if (Log.HasLoggedErrors)
        {
            return false;
        }

        var entries = jobs.Select(j => new CompileCommandEntry(Path.GetDirectoryName(j.Source)!, j.Source, j.Object, j.Invocation.ToArgv(), j.Invocation.ToCommandLine())).ToList();
        CommandRecords.WriteCompile(Path.Combine(IntermediateDirectory, "compile_commands.json"), entries);
        ObjectFiles = jobs.Select(j => (ITaskItem)new TaskItem(j.Object)).ToArray();
        Log.LogMessage(MessageImportance.High, "OtelThreadCtx: compiled {0} source(s) ({1}).", jobs.Count, settings.Mode == NativeBuildMode.Inline ? "ThinLTO bitcode" : "objects, TLSDESC");
        return true;
    }
}
