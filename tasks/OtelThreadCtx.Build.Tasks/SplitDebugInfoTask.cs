using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Processes;
using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Between link and verify: moves the library's DWARF into <c>&lt;library&gt;.debug</c> and leaves a
/// <c>.gnu_debuglink</c> to it, so that the shipped library is small and gdb still finds its source lines. The symbol
/// table stays (the verify step's nm checks read it). objcopy must read the target's ELF: llvm-objcopy beside the
/// linker or the readelf, else a versioned llvm-objcopy on PATH, else (host builds only) GNU objcopy.</summary>
public sealed class SplitDebugInfoTask : NativeStepTask
{
    [Required]
    public string Library { get; set; } = string.Empty;

    [Required]
    public string DebugFile { get; set; } = string.Empty;

    public ITaskItem? ReadElf { get; set; }

    /// <summary>PATH-style folder list for llvm-objcopy-NN / objcopy.</summary>
    public string? SearchPath { get; set; }

    protected override async Task<bool> ExecuteAsync()
    {
        var library = Path.GetFullPath(Library);
        var debug = Path.GetFullPath(DebugFile);
        var looked = new List<string>();
        var objcopy = Find(looked);
        if (objcopy is null)
        {
            File.Delete(library);
            Report(new BuildDiagnostic(DiagnosticCodes.ObjcopyNotFound,
                $"No objcopy that reads linux-{Target!.Name} ELF files was found to move the debug info out of {library}. Looked in: {string.Join("; ", looked)}. " +
                "Fix: apt-get install llvm-19 (llvm-objcopy reads every target), or set OtelThreadCtxSplitDebugInfo=false to keep the debug info in the library."));
            return false;
        }

        PendingOutputs.Add(debug);
        foreach (var arguments in new[]
                 {
                     new[] { "--only-keep-debug", library, debug },
                     new[] { "--strip-debug", $"--add-gnu-debuglink={debug}", library },
                 })
        {
            var invocation = new ToolInvocation(objcopy, arguments);
            Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: {0}", invocation.ToCommandLine());
            var result = await Tools.RunAsync(invocation, Path.GetDirectoryName(library), CancellationToken).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                File.Delete(library);
                File.Delete(debug);
                Report(new BuildDiagnostic(DiagnosticCodes.DebugSplitFailed,
                    $"Moving the debug info out of {library} failed (exit {result.ExitCode}). Command: {invocation.ToCommandLine()}\n{result.CombinedOutput.Trim()}\n" +
                    "Fix: use an objcopy that reads the target (llvm-objcopy), or set OtelThreadCtxSplitDebugInfo=false."));
                return false;
            }
        }

        // The debug file is newer than the stripped library, so the step is skipped until the library is linked again.
        File.SetLastWriteTimeUtc(debug, DateTime.UtcNow);
        Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: debug info moved to {0} (objcopy: {1}).", debug, objcopy);
        return true;
    }

    private string? Find(List<string> looked)
    {
        string? Check(string path)
        {
            looked.Add(path);
            return ToolSearch.IsExecutableFile(path) ? path : null;
        }

        string? Beside(ITaskItem? item)
        {
            if (item is null || string.IsNullOrEmpty(item.ItemSpec))
            {
                return null;
            }

            var real = File.ResolveLinkTarget(item.ItemSpec, returnFinalTarget: true)?.FullName ?? item.ItemSpec;
            return Check(Path.Combine(Path.GetDirectoryName(real)!, "llvm-objcopy"));
        }

        var folders = ToolSearchOptions.SplitPath(string.IsNullOrEmpty(SearchPath) ? Environment.GetEnvironmentVariable("PATH") : SearchPath);
        var versioned = folders.Where(Directory.Exists)
            .SelectMany(f => Directory.EnumerateFiles(f, "llvm-objcopy-*"))
            .Where(f => int.TryParse(Path.GetFileName(f)["llvm-objcopy-".Length..], out _))
            .OrderByDescending(f => int.Parse(Path.GetFileName(f)["llvm-objcopy-".Length..], System.Globalization.CultureInfo.InvariantCulture))
            .ToList();
        looked.AddRange(folders.Select(f => Path.Combine(f, "llvm-objcopy-NN")));
        return Beside(Linker) ?? Beside(ReadElf) ?? versioned.FirstOrDefault(ToolSearch.IsExecutableFile)
               ?? (Target!.IsHost ? folders.Select(f => Path.Combine(f, "objcopy")).Select(Check).FirstOrDefault(p => p is not null) : null);
    }
}
