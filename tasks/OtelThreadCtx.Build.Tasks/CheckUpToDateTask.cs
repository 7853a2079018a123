using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Publishing;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>The pipeline's gate: no tool runs at all (not even <c>--version</c> probes) when every output exists and
/// is newer than every input, and the published library is the one its report describes: the report parses, is for
/// this mode and target, and records the library's exact size and SHA-256 (and the debug file's). A truncated, empty
/// or swapped library, or a missing or cut-short report, means a rebuild, never trust. Each step target still has its
/// own Inputs/Outputs for partial rebuilds.</summary>
public sealed class CheckUpToDateTask : OtelThreadCtxTask
{
    [Required]
    public ITaskItem[] Inputs { get; set; } = [];

    [Required]
    public ITaskItem[] Outputs { get; set; } = [];

    /// <summary>The published library whose content is checked against <see cref="ReportFile"/>.</summary>
    [Required]
    public string Library { get; set; } = string.Empty;

    [Required]
    public string ReportFile { get; set; } = string.Empty;

    /// <summary>The published debug file, when the debug info is split out; empty otherwise.</summary>
    public string? DebugFile { get; set; }

    /// <summary>The published warnings-mode marker: a report of failed checks is trusted only while it exists.</summary>
    public string? UnverifiedMarker { get; set; }

    /// <summary>$(OtelThreadCtxMode).</summary>
    [Required]
    public string Mode { get; set; } = string.Empty;

    /// <summary>OtelThreadCtxTargetArchitecture.</summary>
    [Required]
    public string Architecture { get; set; } = string.Empty;

    /// <summary>OtelThreadCtxTargetLibc: gnu (empty) or musl; with the architecture, the target the report must name.</summary>
    public string Libc { get; set; } = string.Empty;

    [Output]
    public bool UpToDate { get; private set; }

    protected override Diagnostics.BuildDiagnostic? CheckParameters() => CheckMode(Mode) ?? base.CheckParameters();

    protected override Task<bool> ExecuteAsync()
    {
        var outputs = Outputs.Select(o => new FileInfo(o.ItemSpec)).ToList();
        var missingOutput = outputs.FirstOrDefault(o => !o.Exists);
        if (missingOutput is not null)
        {
            Log.LogMessage(MessageImportance.High, "OtelThreadCtx: native build needed: {0} does not exist.", missingOutput.FullName);
            return Task.FromResult(true);
        }

        var oldestOutput = outputs.Min(o => o.LastWriteTimeUtc);
        var newer = Inputs.Select(i => new FileInfo(i.ItemSpec)).FirstOrDefault(i => !i.Exists || i.LastWriteTimeUtc > oldestOutput);
        if (newer is not null)
        {
            // Said at the default verbosity, as the mismatch below is: a build that redoes native work says why.
            if (newer.Exists)
            {
                Log.LogMessage(MessageImportance.High, "OtelThreadCtx: native build needed: {0} ({1:O}) is newer than the library or its report ({2:O}).",
                    newer.FullName, newer.LastWriteTimeUtc, oldestOutput);
            }
            else
            {
                Log.LogMessage(MessageImportance.High, "OtelThreadCtx: native build needed: the input {0} does not exist.", newer.FullName);
            }

            return Task.FromResult(true);
        }

        var target = TargetArchitecture.Parse(Architecture) is { } architecture
            ? (TargetLibc.Parse(Libc) ?? TargetLibc.Gnu).Rid(architecture)
            : $"linux-{Architecture}";
        if (ReportMatch.Mismatch(Library, ReportFile, string.IsNullOrEmpty(DebugFile) ? null : DebugFile, Mode, target, UnverifiedMarker) is { } mismatch)
        {
            // Worth saying aloud: something damaged or replaced a published file since the last build.
            Log.LogMessage(MessageImportance.High, "OtelThreadCtx: native build needed: the published library is not the one its report describes ({0}); rebuilding it.", mismatch);
            return Task.FromResult(true);
        }

        UpToDate = true;
        Log.LogMessage(MessageImportance.High, "OtelThreadCtx: {0} is up to date; no native work.", Library);
        return Task.FromResult(true);
    }
}
