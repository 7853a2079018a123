using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using OtelThreadCtx.Tests;

namespace OtelThreadCtx.OpenTelemetry.Tests;

/// <summary>samples/AspNetCore as a real server process: requests with a traceparent, the thread's record as the handler
/// read it, and the process context read from outside the process (/proc/&lt;pid&gt;/mem), as a profiler reads it.</summary>
public sealed partial class SampleProcessTests
{
    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();

    [Fact]
    public async Task The_sample_publishes_each_requests_route_and_its_resource_is_the_process_context()
    {
        var host = Path.Combine(AppContext.BaseDirectory, "OtelThreadCtx.AspNetCoreSampleHost.dll");
        var start = new ProcessStartInfo("dotnet", [host, "--urls", "http://127.0.0.1:0"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        using var process = Process.Start(start)!;
        try
        {
            var address = await ReadAddress(process);
            using var client = new HttpClient { BaseAddress = new Uri(address) };
            var traceId = ActivityTraceId.CreateRandom().ToHexString();

            using var request = new HttpRequestMessage(HttpMethod.Get, "/orders/A-17/items/3");
            request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
            using var response = await client.SendAsync(request);
            response.EnsureSuccessStatusCode();
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var context = json.RootElement.GetProperty("context");
            Assert.Equal(traceId, context.GetProperty("traceId").GetString());
            Assert.Equal(1, context.GetProperty("traceFlags").GetInt32());
            Assert.Equal("/orders/{orderId}/items/{itemId:int}", context.GetProperty("attributes").GetProperty("http.route").GetString());

            using var asyncRequest = new HttpRequestMessage(HttpMethod.Get, "/async");
            asyncRequest.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
            using var asyncResponse = await client.SendAsync(asyncRequest);
            using var asyncJson = JsonDocument.Parse(await asyncResponse.Content.ReadAsStringAsync());
            var spanIds = new[] { "before", "afterDelay", "afterYield" }
                .Select(p => asyncJson.RootElement.GetProperty(p))
                .Select(c => (c.GetProperty("traceId").GetString(), c.GetProperty("spanId").GetString(), c.GetProperty("attributes").GetProperty("http.route").GetString()))
                .Distinct().ToList();
            Assert.Single(spanIds);
            Assert.Equal((traceId, "/async"), (spanIds[0].Item1, spanIds[0].Item3));

            // From outside the process: the OpenTelemetry resource and the key map.
            var (outcome, snapshot) = ProcessContextReader.Read(process.Id);
            Assert.Equal(ProcessContextReader.ReadOutcome.Consistent, outcome);
            var attributes = snapshot!.Resource;
            Assert.Equal("aspnetcore-sample", attributes["service.name"].StringValue);
            Assert.Equal("1.0.0", attributes["service.version"].StringValue);
            Assert.DoesNotContain(attributes.Keys, k => k.StartsWith("threadlocal.", StringComparison.Ordinal));
            Assert.Equal("tlsdesc_v1_dev", snapshot.Attributes["threadlocal.schema_version"].StringValue);
            Assert.Equal(["http.route", "http.request.method"], snapshot.KeyMap);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static async Task<string> ReadAddress(Process process)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var seen = new List<string>();
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            seen.Add(line);
            if (Listening().Match(line) is { Success: true } match)
            {
                return match.Groups[1].Value;
            }
        }

        throw new InvalidOperationException($"the sample exited ({process.ExitCode}) without listening: {string.Join('\n', seen)}\n{await process.StandardError.ReadToEndAsync()}");
    }
}
