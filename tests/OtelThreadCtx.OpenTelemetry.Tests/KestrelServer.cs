using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace OtelThreadCtx.OpenTelemetry.Tests;

// Inside OtelThreadCtx.OpenTelemetry.*, that namespace's obsolete forwarder is nearer than the file's usings: name the
// real one's namespace here so that the tests call it.
using global::OpenTelemetry.Trace;

/// <summary>What a handler saw on its thread at one point: the published record and the Activity current there.</summary>
internal sealed record Observation(string Point, int ThreadId, Published? Published, string? ServerSpanId, string? ServerTraceId, bool Sampled);

/// <summary>A real Kestrel server on 127.0.0.1 (ephemeral port) with OpenTelemetry tracing, and, unless told otherwise,
/// <c>AddThreadContext()</c>. Handlers record what the thread publishes before and after awaits.</summary>
internal sealed class KestrelServer : IAsyncDisposable
{
    /// <summary>The source of the child spans handlers start (a client or database call inside the request).</summary>
    public static readonly ActivitySource ChildSource = new("OtelThreadCtx.OpenTelemetry.Tests.Kestrel");

    private readonly WebApplication app;

    public ConcurrentQueue<Activity> Exported { get; } = new();

    /// <summary>Handler observations that did not match the request's own Activity (the load route checks in place).</summary>
    public int Mismatches => mismatches;

    public int Checked => checkedCount;

    public HashSet<int> HandlerThreads { get; } = [];

    /// <summary>When set (a sampler's pthread_self and registration), every handler thread is recorded with its pthread.</summary>
    public Func<ulong>? RegisterThread { get; set; }

    public ConcurrentDictionary<int, ulong> HandlerPthreads { get; } = new();

    private int mismatches;
    private int checkedCount;

    private KestrelServer(WebApplication app) => this.app = app;

    public Uri BaseAddress { get; private set; } = null!;

    public static async Task<KestrelServer> StartAsync(bool threadContext = true, bool export = true)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        KestrelServer? server = null;
        var exported = new List<Activity>();
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("kestrel-tests"))
            .WithTracing(t =>
            {
                t.AddAspNetCoreInstrumentation().AddSource(ChildSource.Name);
                if (export)
                {
                    t.AddProcessor(new ExportToQueue(() => server!.Exported));
                }

                if (threadContext)
                {
                    t.AddThreadContext();
                }
            });

        var app = builder.Build();
        server = new KestrelServer(app);
        app.MapGet("/orders/{orderId}/items/{itemId:int}", async (string orderId, int itemId) =>
        {
            var seen = new List<Observation> { server.Observe("before-await") };
            await Task.Delay(1);
            seen.Add(server.Observe("after-delay"));
            await Task.Yield();
            seen.Add(server.Observe("after-yield"));
            await Task.Run(() => seen.Add(server.Observe("task-run"))).ConfigureAwait(false);
            seen.Add(server.Observe("after-configure-await-false"));
            return Results.Json(seen);
        });
        app.MapGet("/customers/{id}/orders", async (string id) =>
        {
            var seen = new List<Observation> { server.Observe("request") };
            using (ChildSource.StartActivity("SELECT orders"))
            {
                seen.Add(server.Observe("child"));
                await Task.Yield();
                seen.Add(server.Observe("child-after-await"));
            }

            seen.Add(server.Observe("request-again"));
            return Results.Json(seen);
        });
        app.MapGet("/cpu", () =>
        {
            var seen = new List<Observation> { server.Observe("start") };
            CpuSpin(TimeSpan.FromMilliseconds(5));
            seen.Add(server.Observe("end"));
            return Results.Json(seen);
        });
        app.MapGet("/load/{id:int}", async (int id) =>
        {
            server.Check();
            await Task.Yield();
            server.Check();
            return Results.Ok(id);
        });

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server.BaseAddress = new Uri(address);
        Assert.Equal("127.0.0.1", server.BaseAddress.Host);
        Assert.NotEqual(0, server.BaseAddress.Port);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    private Observation Observe(string point)
    {
        var activity = Activity.Current;
        lock (HandlerThreads)
        {
            HandlerThreads.Add(Environment.CurrentManagedThreadId);
        }

        if (RegisterThread is { } register)
        {
            HandlerPthreads.TryAdd(Environment.CurrentManagedThreadId, register());
        }

        return new Observation(point, Environment.CurrentManagedThreadId, Published.OnThisThread(), activity?.SpanId.ToHexString(), activity?.TraceId.ToHexString(), activity?.Recorded ?? false);
    }

    /// <summary>The load route's check: the thread publishes exactly the request's Activity and route.</summary>
    private void Check()
    {
        var activity = Activity.Current;
        var published = Published.OnThisThread();
        var ok = activity is not null && published is not null && published.Matches(activity)
                 && published.Attributes.TryGetValue("http.route", out var route) && route == "/load/{id:int}";
        Interlocked.Increment(ref checkedCount);
        if (!ok)
        {
            Interlocked.Increment(ref mismatches);
        }

        lock (HandlerThreads)
        {
            HandlerThreads.Add(Environment.CurrentManagedThreadId);
        }
    }

    private static void CpuSpin(TimeSpan duration)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < duration)
        {
            Thread.SpinWait(100);
        }
    }

    private sealed class ExportToQueue(Func<ConcurrentQueue<Activity>> queue) : global::OpenTelemetry.BaseProcessor<Activity>
    {
        public override void OnEnd(Activity data) => queue().Enqueue(data);
    }
}
