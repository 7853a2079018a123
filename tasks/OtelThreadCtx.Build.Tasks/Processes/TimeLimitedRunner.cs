namespace OtelThreadCtx.Build.Tasks.Processes;

/// <summary>A tool run that took longer than its limit; the child process was killed.</summary>
public sealed class ToolTimeoutException(ToolInvocation invocation, TimeSpan limit)
    : Exception($"{invocation.ToCommandLine()} ran longer than the {limit.TotalSeconds:0} s OtelThreadCtxToolTimeout allows and was stopped.")
{
    public ToolInvocation Invocation { get; } = invocation;

    public TimeSpan Limit { get; } = limit;
}

/// <summary>Gives every tool run a time limit: past it the child is killed (CliWrap kills on cancellation) and
/// <see cref="ToolTimeoutException"/> is thrown. A cancellation from the caller stays an <see cref="OperationCanceledException"/>.</summary>
public sealed class TimeLimitedRunner(IProcessRunner inner, TimeSpan limit) : IProcessRunner
{
    public async Task<ProcessResult> RunAsync(ToolInvocation invocation, string? workingDirectory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        try
        {
            return await inner.RunAsync(invocation, workingDirectory, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ToolTimeoutException(invocation, limit);
        }
    }
}
