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
