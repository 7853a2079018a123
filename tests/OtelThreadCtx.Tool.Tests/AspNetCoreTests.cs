using System.Text.RegularExpressions;

namespace OtelThreadCtx.Tool.Tests;

/// <summary>samples/AspNetCore under requests: what `watch` counts per http.route is what the server is busy with.</summary>
public sealed partial class AspNetCoreTests
{
    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();

    [Fact]
    public async Task Watch_sees_the_route_of_the_requests_in_flight()
    {
        var host = Path.Combine(AppContext.BaseDirectory, "OtelThreadCtx.AspNetCoreSampleHost.dll");
        await using var server = await LiveTarget.StartAsync("dotnet", [host, "--urls", "http://127.0.0.1:0"],
            new Dictionary<string, string?> { ["Logging__LogLevel__Default"] = "Warning", ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information" },
            line => Listening().IsMatch(line));
        server.EndsOnExitCommand = false;
        using var client = new HttpClient { BaseAddress = new Uri(Listening().Match(server.ReadyLine!).Groups[1].Value) };
        using var stop = new CancellationTokenSource();
        // Two clients keep CPU-bound requests (200 ms each) in flight for the whole watch.
        var load = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var response = await client.GetAsync("/cpu/200", CancellationToken.None);
                response.EnsureSuccessStatusCode();
            }
        })).ToList();
        await Task.Delay(500);
        var (exit, json, stderr) = await ToolRunner.RunJsonAsync("watch", server.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--hz", "50", "--duration", "2s");
        await stop.CancelAsync();
        await Task.WhenAll(load);
        Assert.True(exit == 0, $"exit {exit}: {json} {stderr}");
        var routes = json.GetProperty("attributes").EnumerateArray()
            .Where(a => a.GetProperty("key").GetString() == "http.route")
            .ToDictionary(a => a.GetProperty("value").GetString()!, a => a.GetProperty("samples").GetInt32());
        Assert.True(routes.GetValueOrDefault("/cpu/{milliseconds:int}") > 0, $"routes seen: {string.Join(", ", routes)}");
        Assert.True(json.GetProperty("traces").GetArrayLength() > 0);
        Assertions.NotTraced(server.Pid);
    }
}
