using Microsoft.Build.Framework;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>The pipeline's gate: when every output exists and is newer than every input, no tool runs at all
/// (not even <c>--version</c> probes). Each step target still has its own Inputs/Outputs for partial rebuilds.</summary>
public sealed class CheckUpToDateTask : OtelThreadCtxTask
{
    [Required]
    public ITaskItem[] Inputs { get; set; } = [];

    [Required]
    public ITaskItem[] Outputs { get; set; } = [];

    [Output]
    public bool UpToDate { get; private set; }

    protected override Task<bool> ExecuteAsync()
    {
        var outputs = Outputs.Select(o => new FileInfo(o.ItemSpec)).ToList();
        var missingOutput = outputs.FirstOrDefault(o => !o.Exists);
        if (missingOutput is not null)
        {
            Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: native build needed: {0} does not exist.", missingOutput.FullName);
            return Task.FromResult(true);
        }

        var oldestOutput = outputs.Min(o => o.LastWriteTimeUtc);
        var newer = Inputs.Select(i => new FileInfo(i.ItemSpec)).FirstOrDefault(i => !i.Exists || i.LastWriteTimeUtc > oldestOutput);
        if (newer is not null)
        {
            Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: native build needed: {0} is newer than the library.", newer.FullName);
            return Task.FromResult(true);
        }

        UpToDate = true;
        Log.LogMessage(MessageImportance.High, "OtelThreadCtx: {0} is up to date; no native work.", outputs[0].FullName);
        return Task.FromResult(true);
    }
}
