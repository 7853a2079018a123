// Usage:
//   OtelThreadCtx.AspNetCoreLoad compare [--requests N] [--concurrency C] [--rounds R] [--output F.md]
//       starts this program twice as a server (with and without AddThreadContext()), then sends rounds of N requests
//       with a sampled traceparent, C at a time, alternating servers (so drift hits both), and writes a Markdown section.
//   OtelThreadCtx.AspNetCoreLoad serve <with|without>
//       one server on 127.0.0.1 (ephemeral port); prints "listening <url>".
// Each server runs in its own process: the Activity publisher is process-wide, so two servers in one process would
// both pay for it.
using System.Diagnostics;
using System.Globalization;
using System.Text;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

if (args is ["serve", var mode])
{
    return await Serve(mode == "with");
}

if (args is ["compare", ..])
{
    return await Compare(args);
}

Console.Error.WriteLine("usage: OtelThreadCtx.AspNetCoreLoad compare [--requests N] [--concurrency C] [--rounds R] [--output F.md] | serve <with|without>");
return 2;

static async Task<int> Serve(bool threadContext)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.WebHost.UseUrls("http://127.0.0.1:0");
    builder.Logging.ClearProviders();
    builder.Services.AddOpenTelemetry()
        .ConfigureResource(r => r.AddService("aspnetcore-load"))
        .WithTracing(t =>
        {
            t.AddAspNetCoreInstrumentation();
            if (threadContext)
            {
                t.AddThreadContext();
            }
        });
    var app = builder.Build();
    app.MapGet("/orders/{orderId}/items/{itemId:int}", async (string orderId, int itemId) =>
    {
        await Task.Yield();
        return Results.Ok(itemId);
    });
    await app.StartAsync();
    Console.WriteLine($"listening {app.Urls.Single()}");
    await app.WaitForShutdownAsync();
    return 0;
}

static async Task<int> Compare(string[] args)
{
    string? Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
    var requests = int.Parse(Arg("--requests") ?? "20000", CultureInfo.InvariantCulture);
    var concurrency = int.Parse(Arg("--concurrency") ?? "32", CultureInfo.InvariantCulture);
    var rounds = int.Parse(Arg("--rounds") ?? "6", CultureInfo.InvariantCulture);
    var output = Arg("--output");

    using var with = await Server.Start("with");
    using var without = await Server.Start("without");
    var results = new Dictionary<string, List<(double Rps, double CpuUsPerRequest)>> { ["with"] = [], ["without"] = [] };
    foreach (var server in new[] { with, without })
    {
        await server.Load(requests, concurrency); // warm-up: JIT tiers, pools, connections
    }

    for (var round = 0; round < rounds; round++)
    {
        // Alternate which goes first, so that neither always follows the other.
        foreach (var server in round % 2 == 0 ? new[] { with, without } : [without, with])
        {
            results[server.Mode].Add(await server.Load(requests, concurrency));
        }
    }

    double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    var rpsWith = Median(results["with"].Select(r => r.Rps));
    var rpsWithout = Median(results["without"].Select(r => r.Rps));
    var cpuWith = Median(results["with"].Select(r => r.CpuUsPerRequest));
    var cpuWithout = Median(results["without"].Select(r => r.CpuUsPerRequest));
    var text = new StringBuilder();
    text.AppendLine(CultureInfo.InvariantCulture, $"### ASP.NET Core: requests/s with and without `AddThreadContext()`");
    text.AppendLine();
    text.AppendLine(CultureInfo.InvariantCulture, $"`tests/OtelThreadCtx.AspNetCoreLoad`: two server processes of the same minimal API (OpenTelemetry tracing with the ASP.NET Core instrumentation, a route with parameters and an `await`), one with `AddThreadContext()`; {rounds} rounds of {requests:N0} GETs with a sampled `traceparent`, {concurrency} concurrent over keep-alive connections, alternating servers, after one warm-up round each. Client and servers share the machine's {Environment.ProcessorCount} cores; server CPU is the server process's user+system time (/proc/<pid>/stat) per request.");
    text.AppendLine();
    text.AppendLine("| server | requests/s (median) | server CPU µs/request (median) | rounds (requests/s) |");
    text.AppendLine("| --- | ---: | ---: | --- |");
    foreach (var mode in new[] { "without", "with" })
    {
        text.AppendLine(CultureInfo.InvariantCulture, $"| {(mode == "with" ? "with `AddThreadContext()`" : "without")} | {Median(results[mode].Select(r => r.Rps)):F0} | {Median(results[mode].Select(r => r.CpuUsPerRequest)):F1} | {string.Join(", ", results[mode].Select(r => r.Rps.ToString("F0", CultureInfo.InvariantCulture)))} |");
    }

    text.AppendLine();
    text.AppendLine(CultureInfo.InvariantCulture, $"Per request: requests/s ratio with/without {rpsWith / rpsWithout:F3}; server CPU {cpuWith - cpuWithout:+0.0;-0.0} µs ({(cpuWith / cpuWithout - 1) * 100:+0.0;-0.0} %).");
    Console.Write(text);
    if (output is not null)
    {
        await File.WriteAllTextAsync(output, text.ToString());
    }

    return 0;
}

/// <summary>One server process of this program.</summary>
internal sealed class Server : IDisposable
{
    private readonly Process process;
    private readonly HttpClient client;

    private Server(string mode, Process process, Uri address)
    {
        Mode = mode;
        this.process = process;
        client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = address };
    }

    public string Mode { get; }

    public static async Task<Server> Start(string mode)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            start.ArgumentList.Add(typeof(Server).Assembly.Location);
        }

        start.ArgumentList.Add("serve");
        start.ArgumentList.Add(mode);
        var process = Process.Start(start)!;
        var line = await process.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException($"the {mode} server exited");
        return new Server(mode, process, new Uri(line["listening ".Length..]));
    }

    public async Task<(double Rps, double CpuUsPerRequest)> Load(int requests, int concurrency)
    {
        var cpuBefore = CpuSeconds();
        var watch = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < requests)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"/orders/o-{next}/items/{next}");
                request.Headers.Add("traceparent", $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
                using var response = await client.SendAsync(request).ConfigureAwait(false);
                response.EnsureSuccessStatusCode();
            }
        }));
        watch.Stop();
        var cpu = CpuSeconds() - cpuBefore;
        return (requests / watch.Elapsed.TotalSeconds, cpu * 1e6 / requests);
    }

    private double CpuSeconds()
    {
        // /proc/<pid>/stat fields 14 and 15 (utime, stime), in clock ticks (100 per second on Linux).
        var stat = File.ReadAllText($"/proc/{process.Id}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    public void Dispose()
    {
        client.Dispose();
        process.Kill();
        process.WaitForExit();
        process.Dispose();
    }
}
