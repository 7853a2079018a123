using CliWrap;
using CliWrap.Buffered;

namespace OtelThreadCtx.EndToEnd.Tests.Infrastructure;

/// <summary>Runs real tools (dotnet, nm, readelf, objdump) through CliWrap.</summary>
internal static class Tools
{
    public static async Task<BufferedCommandResult> RunAsync(string tool, IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null, string? workingDirectory = null)
    {
        var command = Cli.Wrap(tool).WithArguments(args).WithValidation(CommandResultValidation.None)
            .WithEnvironmentVariables(env =>
            {
                env.Set("LC_ALL", "C").Set("MSBUILDDISABLENODEREUSE", "1").Set("DOTNET_CLI_TELEMETRY_OPTOUT", "1").Set("DOTNET_NOLOGO", "1");
                if (environment is not null)
                {
                    env.Set(environment);
                }
            });
        if (workingDirectory is not null)
        {
            command = command.WithWorkingDirectory(workingDirectory);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        return await command.ExecuteBufferedAsync(timeout.Token);
    }

    public static async Task<string> OutputOfAsync(string tool, params string[] args)
    {
        var result = await RunAsync(tool, args);
        Assert.True(result.ExitCode == 0, $"{tool} {string.Join(' ', args)} failed: {result.StandardError}");
        return result.StandardOutput;
    }

    /// <summary>The first existing file among the candidates (e.g. clang-19 on PATH).</summary>
    public static string Find(params string[] names)
    {
        var path = Environment.GetEnvironmentVariable("PATH")!.Split(':');
        foreach (var name in names)
        {
            foreach (var dir in path)
            {
                var candidate = System.IO.Path.Combine(dir, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        throw new InvalidOperationException($"None of {string.Join(", ", names)} is on PATH; .ci/run installs clang-19, lld-19 and llvm-19.");
    }
}
