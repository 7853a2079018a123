using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Processes;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Base of the pipeline's tasks: async body, Ctrl+C cancels the running child process,
/// diagnostics logged with their OTC code.</summary>
public abstract class OtelThreadCtxTask : Microsoft.Build.Utilities.Task, ICancelableTask
{
    private readonly CancellationTokenSource cancellation = new();

    /// <summary>Runs external tools; tests may substitute it.</summary>
    internal IProcessRunner Runner { get; set; } = new ProcessRunner();

    protected CancellationToken CancellationToken => cancellation.Token;

    public void Cancel() => cancellation.Cancel();

    public sealed override bool Execute()
    {
        try
        {
            return ExecuteAsync().GetAwaiter().GetResult() && !Log.HasLoggedErrors;
        }
        catch (OperationCanceledException)
        {
            Log.LogMessage(MessageImportance.High, "OtelThreadCtx: cancelled.");
            return false;
        }
    }

    protected abstract Task<bool> ExecuteAsync();

    protected void Report(BuildDiagnostic diagnostic, bool asWarning = false)
    {
        ArgumentNullException.ThrowIfNull(diagnostic);
        if (asWarning)
        {
            Log.LogWarning(null, diagnostic.Code, null, null, 0, 0, 0, 0, "{0}", diagnostic.Message);
        }
        else
        {
            Log.LogError(null, diagnostic.Code, null, null, 0, 0, 0, 0, "{0}", diagnostic.Message);
        }
    }

    protected static IReadOnlyList<string> SplitFlags(string? flags) =>
        string.IsNullOrWhiteSpace(flags) ? [] : flags.Split([' ', ';', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
}
