using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>samples/AspNetCore as a user builds it: restored from the packed OtelThreadCtx.OpenTelemetry (and, through it,
/// OtelThreadCtx) plus OpenTelemetry's packages, run as a server on 127.0.0.1, asked with a traceparent.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed partial class AspNetCoreSampleTests(PackageFeed feed)
{
    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();

    [Fact]
    public async Task The_sample_restored_from_the_packages_publishes_the_route_of_each_request()
    {
        var folder = Directory.CreateTempSubdirectory("otc-aspnetcore-sample-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(Repo.Path("samples", "AspNetCore"), "*.cs").Append(Repo.Path("samples", "AspNetCore", "AspNetCore.csproj")))
            {
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            }

            var project = Path.Combine(folder, "AspNetCore.csproj");
            File.WriteAllText(project, File.ReadAllText(project).Replace(
                "Include=\"OtelThreadCtx.OpenTelemetry\" Version=\"0.2.0\"", $"Include=\"OtelThreadCtx.OpenTelemetry\" Version=\"{PackageFeed.Version}\"", StringComparison.Ordinal));
            feed.WriteNuGetConfig(folder);
            var build = await Tools.RunAsync("dotnet", ["build", project, "-c", "Release", "-nodeReuse:false"], workingDirectory: folder);
            Assert.True(build.ExitCode == 0, build.StandardOutput + build.StandardError);
            var output = Path.Combine(folder, "bin", "Release", "net10.0");
            Assert.True(File.Exists(Path.Combine(output, "runtimes", "linux-x64", "native", "libotel_thread_ctx.so")), "the core package's native library did not reach the output through OtelThreadCtx.OpenTelemetry");

            var start = new ProcessStartInfo("dotnet", [Path.Combine(output, "AspNetCore.dll"), "--urls", "http://127.0.0.1:0"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = output,
            };
            using var server = Process.Start(start)!;
            try
            {
                string? address = null;
                while (address is null && await server.StandardOutput.ReadLineAsync() is { } line)
                {
                    address = Listening().Match(line) is { Success: true } m ? m.Groups[1].Value : null;
                }

                Assert.NotNull(address);
                using var client = new HttpClient { BaseAddress = new Uri(address) };
                var traceId = ActivityTraceId.CreateRandom().ToHexString();
                using var request = new HttpRequestMessage(HttpMethod.Get, "/orders/A-17/items/3");
                request.Headers.Add("traceparent", $"00-{traceId}-b7ad6b7169203331-01");
                using var response = await client.SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.IsSuccessStatusCode, body);
                var context = JsonDocument.Parse(body).RootElement.GetProperty("context");
                Assert.Equal(traceId, context.GetProperty("traceId").GetString());
                Assert.NotEqual("b7ad6b7169203331", context.GetProperty("spanId").GetString()); // the server span, child of the caller's
                Assert.Equal("/orders/{orderId}/items/{itemId:int}", context.GetProperty("attributes").GetProperty("http.route").GetString());
                Assert.Equal("GET", context.GetProperty("attributes").GetProperty("http.request.method").GetString());
            }
            finally
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
