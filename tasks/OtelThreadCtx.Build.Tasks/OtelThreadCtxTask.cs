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

    /// <summary>The largest OtelThreadCtxToolTimeout (seconds): a time limit must fit a timer's int milliseconds.</summary>
    public const int MaximumToolTimeout = 2_147_483;

    /// <summary>OtelThreadCtxToolTimeout as the targets decided it: seconds one tool run may take before it is stopped
    /// (OTC6001), 1 to <see cref="MaximumToolTimeout"/>.</summary>
    public int ToolTimeout { get; set; } = 300;

    /// <summary>The runner the steps use: <see cref="Runner"/> with the time limit.</summary>
    protected IProcessRunner Tools => new TimeLimitedRunner(Runner, TimeSpan.FromSeconds(ToolTimeout));

    /// <summary>Files this step is writing; deleted when it is cancelled or times out, so that nothing half written survives.</summary>
    protected List<string> PendingOutputs { get; } = [];

    protected CancellationToken CancellationToken => cancellation.Token;

    public void Cancel() => cancellation.Cancel();

    public sealed override bool Execute()
    {
        if (CheckParameters() is { } invalid)
        {
            Report(invalid);
            return false;
        }

        try
        {
            return ExecuteAsync().GetAwaiter().GetResult() && !Log.HasLoggedErrors;
        }
        catch (ToolTimeoutException e)
        {
            DeletePendingOutputs();
            Report(new BuildDiagnostic(DiagnosticCodes.ToolTimedOut,
                $"{e.Message} Nothing it wrote is kept. Fix: find out why it hangs (a wrapper waiting for input, a slow network file system), " +
                $"or raise OtelThreadCtxToolTimeout (now {ToolTimeout}; a whole number of seconds, for example -p:OtelThreadCtxToolTimeout={Math.Min(ToolTimeout * 2L, MaximumToolTimeout)}) if the machine is just slow."));
            return false;
        }
        catch (OperationCanceledException)
        {
            ReportCancelled("the build was cancelled");
            return false;
        }
    }

    protected abstract Task<bool> ExecuteAsync();

    /// <summary>The parameters the targets decide (OtelThreadCtx.Properties.targets); a task run any other way gets the
    /// same codes as a wrong property (OTC1204, OTC1205) instead of a silent default.</summary>
    protected virtual BuildDiagnostic? CheckParameters() =>
        ToolTimeout is < 1 or > MaximumToolTimeout
            ? new BuildDiagnostic(DiagnosticCodes.InvalidNumberProperty,
                $"{GetType().Name} was given ToolTimeout={ToolTimeout}; OtelThreadCtxToolTimeout must be a whole number of seconds from 1 to {MaximumToolTimeout}. " +
                "Fix: set OtelThreadCtxToolTimeout to a positive number of seconds (the default is 300).")
            : null;

    /// <summary>OTC1204 unless <paramref name="mode"/> is what the targets pass: $(OtelThreadCtxMode), default or inline.</summary>
    protected BuildDiagnostic? CheckMode(string? mode) =>
        NativeBuildModeParser.Parse(mode) is null
            ? new BuildDiagnostic(DiagnosticCodes.InvalidBooleanProperty,
                $"{GetType().Name} was given Mode='{mode}'; the tasks take the mode the targets decided, 'default' or 'inline' ($(OtelThreadCtxMode)), " +
                "never OtelThreadCtxInline itself. Fix: pass Mode=\"$(OtelThreadCtxMode)\", and set OtelThreadCtxInline to true or false.")
            : null;

    /// <summary>Exit codes of a child stopped by SIGHUP, SIGINT, SIGKILL or SIGTERM (128 + signal): Ctrl+C in a
    /// terminal reaches the whole process group, so the compiler may die of it before MSBuild cancels this task.</summary>
    protected static bool StoppedBySignal(int exitCode) => exitCode is 129 or 130 or 137 or 143 or -1 or -2 or -9 or -15;

    /// <summary>OTC6002: the step was cancelled; what it was writing is deleted and the next build runs it again.</summary>
    protected void ReportCancelled(string how)
    {
        DeletePendingOutputs();
        Report(new BuildDiagnostic(DiagnosticCodes.Cancelled,
            $"OtelThreadCtx: {GetType().Name} stopped: {how}. Nothing it was writing is kept; the next build runs this step again. Fix: none needed, build again."));
    }

    private void DeletePendingOutputs()
    {
        foreach (var file in PendingOutputs)
        {
            try
            {
                File.Delete(file);
            }
            catch (IOException)
            {
            }
        }
    }

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

    /// <summary>The flag property (split on whitespace) followed by the argument items, one argument each (spaces kept).</summary>
    protected static IReadOnlyList<string> Arguments(string? flags, ITaskItem[]? items) =>
        [.. SplitFlags(flags), .. (items ?? []).Select(i => i.ItemSpec)];
}
