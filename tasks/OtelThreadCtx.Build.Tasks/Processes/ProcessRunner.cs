using CliWrap;
using CliWrap.Buffered;

namespace OtelThreadCtx.Build.Tasks.Processes;

/// <summary>Runs external tools through CliWrap with a C locale, so that their output is
/// the English text the readers parse. Cancelling the token kills the child process.</summary>
public sealed class ProcessRunner : IProcessRunner
{
    private static readonly Dictionary<string, string?> CLocale = new()
    {
        ["LC_ALL"] = "C",
        ["LANG"] = "C",
        ["LANGUAGE"] = null,
    };

    /// <summary>The C locale, then the invocation's own variables (which win).</summary>
    private static IReadOnlyDictionary<string, string?> Environment(ToolInvocation invocation)
    {
        if (invocation.Environment.Count == 0)
        {
            return CLocale;
        }

        var merged = new Dictionary<string, string?>(CLocale);
        foreach (var (name, value) in invocation.Environment)
        {
            merged[name] = value;
        }

        return merged;
    }

    public async Task<ProcessResult> RunAsync(ToolInvocation invocation, string? workingDirectory, CancellationToken cancellationToken)
    {
        var command = Cli.Wrap(invocation.ToolPath)
            .WithArguments(invocation.Arguments)
            .WithEnvironmentVariables(Environment(invocation))
            .WithValidation(CommandResultValidation.None);
        if (workingDirectory is not null)
        {
            command = command.WithWorkingDirectory(workingDirectory);
        }

        var result = await command.ExecuteBufferedAsync(cancellationToken).ConfigureAwait(false);
        return new ProcessResult(result.ExitCode, result.StandardOutput, result.StandardError);
    }
}

/// <summary>Runs a tool; tests substitute recorded answers.</summary>
public interface IProcessRunner
{
    Task<ProcessResult> RunAsync(ToolInvocation invocation, string? workingDirectory, CancellationToken cancellationToken);
}
