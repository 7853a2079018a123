using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Publishing;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Step 6, publish: copies the verified library, its debug file, the warnings-mode marker and the report into
/// the output folder, each whole or not at all (<see cref="AtomicFile"/>). The report is the seal: the old one is
/// removed first and the new one written last, so a build that stops half way (a full disk, Ctrl+C) leaves no report
/// that matches what is there, and the gate rebuilds instead of trusting it.</summary>
public sealed class PublishLibraryTask : OtelThreadCtxTask
{
    [Required]
    public string Library { get; set; } = string.Empty;

    [Required]
    public string ReportFile { get; set; } = string.Empty;

    /// <summary>The intermediate debug file; empty when the debug info stays inside the library.</summary>
    public string? DebugFile { get; set; }

    /// <summary>The intermediate warnings-mode marker; published when it exists, removed from the output otherwise.</summary>
    public string? UnverifiedMarker { get; set; }

    [Required]
    public string PublishedLibrary { get; set; } = string.Empty;

    [Required]
    public string PublishedReport { get; set; } = string.Empty;

    public string? PublishedDebugFile { get; set; }

    public string? PublishedUnverifiedMarker { get; set; }

    /// <summary>$(OtelThreadCtxMode): the report must be for this mode.</summary>
    [Required]
    public string Mode { get; set; } = string.Empty;

    /// <summary>OtelThreadCtxTargetArchitecture: the report must be for linux-&lt;this&gt;.</summary>
    [Required]
    public string Architecture { get; set; } = string.Empty;

    /// <summary>OtelThreadCtxTargetLibc: gnu (empty) or musl; with the architecture, the target the report must name.</summary>
    public string Libc { get; set; } = string.Empty;

    protected override BuildDiagnostic? CheckParameters() => CheckMode(Mode) ?? base.CheckParameters();

    protected override Task<bool> ExecuteAsync()
    {
        var target = TargetArchitecture.Parse(Architecture) is { } architecture
            ? (TargetLibc.Parse(Libc) ?? TargetLibc.Gnu).Rid(architecture)
            : $"linux-{Architecture}";
        var debug = string.IsNullOrEmpty(DebugFile) ? null : DebugFile;
        if (ReportMatch.Mismatch(Library, ReportFile, debug, Mode, target, UnverifiedMarker) is { } stale)
        {
            // Never publish what verification did not see; the next build links and verifies again.
            AtomicFile.TryDelete(Library);
            AtomicFile.TryDelete(ReportFile);
            Report(new BuildDiagnostic(DiagnosticCodes.PublishSourceMismatch,
                $"OtelThreadCtx: the library to publish is not the one verified: {stale}. Nothing was published; the intermediate library and report were deleted. " +
                "Fix: build again (the library is linked and verified anew); if it repeats, check the free space and health of the file system holding " +
                $"{Path.GetDirectoryName(Path.GetFullPath(Library))}."));
            return Task.FromResult(false);
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(PublishedLibrary))!;
        var current = PublishedLibrary;
        try
        {
            Directory.CreateDirectory(folder);
            RemoveLeftovers(folder);
            current = PublishedReport;
            File.Delete(PublishedReport);

            current = PublishedLibrary;
            AtomicFile.Copy(Library, PublishedLibrary);
            if (debug is not null && !string.IsNullOrEmpty(PublishedDebugFile))
            {
                current = PublishedDebugFile;
                AtomicFile.Copy(debug, PublishedDebugFile);
            }

            if (!string.IsNullOrEmpty(PublishedUnverifiedMarker))
            {
                current = PublishedUnverifiedMarker;
                if (!string.IsNullOrEmpty(UnverifiedMarker) && File.Exists(UnverifiedMarker))
                {
                    AtomicFile.Copy(UnverifiedMarker, PublishedUnverifiedMarker);
                }
                else
                {
                    File.Delete(PublishedUnverifiedMarker);
                }
            }

            current = PublishedReport;
            AtomicFile.Copy(ReportFile, PublishedReport);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            AtomicFile.TryDelete(PublishedReport);
            Report(new BuildDiagnostic(DiagnosticCodes.PublishFailed,
                $"OtelThreadCtx: could not publish the {Mode} library to {folder}: writing {current} failed: {e.Message.ReplaceLineEndings(" ")} " +
                "Nothing partial was left under a real name and no report was left there, so no later build trusts what is in that folder. " +
                "Fix: free space on (or make writable) the file system holding that folder, or set OtelThreadCtxOutputDirectory to another folder, then build again."));
            return Task.FromResult(false);
        }

        if (ReportMatch.Mismatch(PublishedLibrary, PublishedReport, string.IsNullOrEmpty(PublishedDebugFile) || debug is null ? null : PublishedDebugFile, Mode, target, PublishedUnverifiedMarker) is { } wrong)
        {
            AtomicFile.TryDelete(PublishedReport);
            Report(new BuildDiagnostic(DiagnosticCodes.PublishFailed,
                $"OtelThreadCtx: the library published to {folder} does not read back as written: {wrong}. Its report was removed, so no later build trusts it. " +
                "Fix: check the file system holding that folder (full, failing, or changed by another process), or set OtelThreadCtxOutputDirectory to another folder, then build again."));
            return Task.FromResult(false);
        }

        Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: published {0} ({1} bytes) and its report {2}.", PublishedLibrary, new FileInfo(PublishedLibrary).Length, PublishedReport);
        return Task.FromResult(true);
    }

    /// <summary>Temporary files an interrupted publish (a killed build) left in the folder.</summary>
    private void RemoveLeftovers(string folder)
    {
        foreach (var name in new[] { PublishedLibrary, PublishedReport, PublishedDebugFile, PublishedUnverifiedMarker }.Where(n => !string.IsNullOrEmpty(n)))
        {
            foreach (var leftover in Directory.EnumerateFiles(folder, $".{Path.GetFileName(name)}.*.tmp"))
            {
                AtomicFile.TryDelete(leftover);
            }
        }
    }
}
