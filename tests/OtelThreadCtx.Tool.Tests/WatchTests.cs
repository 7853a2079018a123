namespace OtelThreadCtx.Tool.Tests;

/// <summary>`watch`: every round samples every thread; counts per attribute value follow what the threads publish.</summary>
public sealed class WatchTests
{
    [Fact]
    public async Task Counts_per_attribute_value_match_the_rounds()
    {
        await using var target = await LiveTarget.StartAsync("dotnet", [Paths.DotNetTarget, "3"]);
        var (exit, json, stderr) = await ToolRunner.RunJsonAsync("watch", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--hz", "50", "--duration", "1s");
        Assert.True(exit == 0, $"exit {exit}: {json} {stderr}");
        var rounds = json.GetProperty("rounds").GetInt32();
        Assert.True(rounds > 0);
        var counts = json.GetProperty("attributes").EnumerateArray().ToDictionary(a => (a.GetProperty("key").GetString(), a.GetProperty("value").GetString()), a => a.GetProperty("samples").GetInt32());
        foreach (var thread in target.Threads)
        {
            Assert.Equal(rounds, counts[("http.route", thread.Values[0])]);
        }

        Assert.Equal(target.Threads.Count, json.GetProperty("traces").GetArrayLength());
        Assert.Equal(json.GetProperty("samples").GetInt32(), json.GetProperty("stops").GetProperty("threads").GetInt32());
        Assert.True(json.GetProperty("validShare").GetDouble() > 0);
        Assertions.NotTraced(target.Pid);
        Assert.Equal(0, await target.StopAsync());
    }
}

/// <summary>Stopping and refusing: Ctrl+C ends watch with a summary, and no permission is a clear exit 4.</summary>
public sealed class HarmlessnessTests
{
    [Fact]
    public async Task Ctrl_c_stops_watch_cleanly_with_its_summary_and_every_thread_resumed()
    {
        await using var target = await LiveTarget.StartAsync("dotnet", [Paths.DotNetTarget, "3"]);
        using var forceful = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var stdout = new System.Text.StringBuilder();
        var watch = CliWrap.Cli.Wrap("dotnet").WithArguments([Paths.Tool, "watch", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--duration", "10m", "--json"])
            .WithValidation(CliWrap.CommandResultValidation.None).WithStandardOutputPipe(CliWrap.PipeTarget.ToStringBuilder(stdout))
            .ExecuteAsync(forceful.Token);
        await Task.Delay(TimeSpan.FromSeconds(3));
        await CliWrap.Cli.Wrap("kill").WithArguments(["-INT", watch.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)]).ExecuteAsync();
        var result = await watch;
        Assert.Equal(0, result.ExitCode);
        var json = System.Text.Json.JsonDocument.Parse(stdout.ToString()).RootElement;
        Assert.True(json.GetProperty("rounds").GetInt32() > 0);
        Assert.True(json.GetProperty("elapsedSeconds").GetDouble() < 60);
        Assertions.NotTraced(target.Pid);
        Assert.Equal(0, await target.StopAsync());
    }

    /// <summary>Run as nobody (setpriv) against the test's own user's process: the kernel refuses, the tool names the fix.
    /// Needs root to switch user (CI runs as root).</summary>
    [Fact]
    public async Task No_permission_exits_4_and_names_the_fix()
    {
        Assert.True(Environment.UserName == "root", "this test switches to nobody with setpriv and needs root (CI runs as root)");
        await using var target = await LiveTarget.StartAsync("dotnet", [Paths.DotNetTarget, "1"]);
        var result = await CliWrap.Buffered.BufferedCommandExtensions.ExecuteBufferedAsync(CliWrap.Cli.Wrap("setpriv")
            .WithArguments(["--reuid=65534", "--regid=65534", "--clear-groups", "dotnet", Paths.Tool, "inspect", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            .WithEnvironmentVariables(new Dictionary<string, string?> { ["HOME"] = "/tmp", ["DOTNET_CLI_HOME"] = "/tmp" })
            .WithValidation(CliWrap.CommandResultValidation.None));
        Assert.Equal(4, result.ExitCode);
        Assert.Contains("CAP_SYS_PTRACE", result.StandardError, StringComparison.Ordinal);
        Assert.Equal(0, await target.StopAsync());
    }
}
