using OtelThreadCtx.Build.Tasks.Processes;

namespace OtelThreadCtx.Build.Tasks.Tests;

public sealed class ProcessRunnerTests : IDisposable
{
    private readonly string pidFile = Path.Combine(Path.GetTempPath(), $"otc-runner-{Guid.NewGuid():N}.pid");

    public void Dispose() => File.Delete(pidFile);

    [Fact]
    public async Task Cancelling_kills_the_running_tool()
    {
        var runner = new ProcessRunner();
        using var cancellation = new CancellationTokenSource();
        var run = runner.RunAsync(new ToolInvocation("/bin/sh", ["-c", $"echo $$ > '{pidFile}'; exec sleep 60"]), null, cancellation.Token);
        while (!File.Exists(pidFile) || new FileInfo(pidFile).Length == 0)
        {
            await Task.Delay(20);
        }

        var pid = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Directory.Exists($"/proc/{pid}"));

        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        for (var i = 0; i < 100 && IsAlive(pid); i++)
        {
            await Task.Delay(20);
        }

        Assert.False(IsAlive(pid), $"sleep (pid {pid}) still runs after cancellation");
    }

    [Fact]
    public async Task Tools_run_with_the_C_locale_and_report_exit_codes()
    {
        var result = await new ProcessRunner().RunAsync(new ToolInvocation("/bin/sh", ["-c", "echo \"$LC_ALL\"; echo oops >&2; exit 3"]), null, CancellationToken.None);

        Assert.Equal(3, result.ExitCode);
        Assert.Equal("C", result.StandardOutput.Trim());
        Assert.Equal("oops", result.StandardError.Trim());
        Assert.False(result.Succeeded);
    }

    private static bool IsAlive(int pid)
    {
        var status = $"/proc/{pid}/status";
        // A zombie waiting to be reaped is dead for this purpose.
        return File.Exists(status) && !File.ReadAllText(status).Contains("State:\tZ", StringComparison.Ordinal);
    }
}
