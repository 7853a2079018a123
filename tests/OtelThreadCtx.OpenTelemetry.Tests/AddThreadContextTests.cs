using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using OtelThreadCtx.Tests;

namespace OtelThreadCtx.OpenTelemetry.Tests;

// Inside OtelThreadCtx.OpenTelemetry.*, that namespace's obsolete forwarder is nearer than the file's usings: name the
// real one's namespace here so that the tests call it.
using global::OpenTelemetry.Trace;

/// <summary>The TracerProvider integration without a server: lifetime, sampling, resource, option checks.</summary>
public sealed class AddThreadContextTests
{
    private static readonly ActivitySource Source = new("OtelThreadCtx.OpenTelemetry.Tests");

    /// <summary>Samples in every Activity except those named "drop" (dropped) and "record-only" (recorded, not sampled).</summary>
    private sealed class ByNameSampler : global::OpenTelemetry.Trace.Sampler
    {
        public override SamplingResult ShouldSample(in SamplingParameters samplingParameters) => samplingParameters.Name switch
        {
            "drop" => new SamplingResult(SamplingDecision.Drop),
            "record-only" => new SamplingResult(SamplingDecision.RecordOnly),
            _ => new SamplingResult(SamplingDecision.RecordAndSample),
        };
    }

    private static TracerProvider Build(Action<ThreadContextOptions>? configure = null, string service = "thread-context-tests") =>
        Sdk.CreateTracerProviderBuilder()
            .AddSource(Source.Name)
            .SetSampler(new ByNameSampler())
            .ConfigureResource(r => r.AddService(service, serviceVersion: "9.8.7").AddAttributes([new("deployment.environment.name", "test")]))
            .AddThreadContext(configure)
            .Build();

    [Fact]
    public void Publishes_from_build_to_dispose_then_nothing()
    {
        Assert.True(ThreadContext.IsSupported);
        using (var provider = Build())
        {
            using var activity = Source.StartActivity("work")!;
            activity.SetTag("http.route", "/things/{id}");
            var published = Published.OnThisThread();
            Assert.NotNull(published);
            Assert.True(published.Matches(activity));
            Assert.Empty(published.Attributes); // the route tag was set after the Activity started: read again only by Refresh
            activity.Stop();
            Assert.Null(Published.OnThisThread());
        }

        // Disposed with the provider: a new Activity (through another listener) publishes nothing.
        using var listener = new ActivityListener { ShouldListenTo = s => s == Source, Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded };
        ActivitySource.AddActivityListener(listener);
        using (var after = Source.StartActivity("after-dispose"))
        {
            Assert.NotNull(after);
            Assert.Null(Published.OnThisThread());
        }

        // And a second provider can start publishing again.
        using var again = Build();
        using var next = Source.StartActivity("next")!;
        Assert.True(Published.OnThisThread()!.Matches(next));
    }

    [Fact]
    public void Tags_set_before_start_are_published_with_the_ids()
    {
        using var provider = Build(o => o.AttributeTagNames.Add("tenant"));
        using var activity = Source.StartActivity("work", ActivityKind.Server, parentContext: default, tags: [new("http.request.method", "POST"), new("tenant", "acme")])!;
        var published = Published.OnThisThread();
        Assert.NotNull(published);
        Assert.True(published.Matches(activity));
        Assert.Equal("POST", published.Attributes["http.request.method"]);
        Assert.Equal("acme", published.Attributes["tenant"]);
    }

    [Fact]
    public void A_child_without_a_tag_publishes_its_parents_value_and_a_child_with_one_its_own()
    {
        using var provider = Build(o => o.AttributeTagNames.Add("tenant"));
        using var request = Source.StartActivity("request", ActivityKind.Server, parentContext: default,
            tags: [new("http.route", "/orders/{id}"), new("tenant", "acme")])!;
        using (var query = Source.StartActivity("query")!)
        {
            var published = Published.OnThisThread()!;
            Assert.True(published.Matches(query));
            Assert.Equal("/orders/{id}", published.Attributes["http.route"]);
            Assert.Equal("acme", published.Attributes["tenant"]);
        }

        using var other = Source.StartActivity("other-tenant", ActivityKind.Internal, parentContext: default(ActivityContext),
            tags: [new("tenant", "globex")]);
        var own = Published.OnThisThread()!;
        Assert.Equal("globex", own.Attributes["tenant"]);
        Assert.Equal("/orders/{id}", own.Attributes["http.route"]);
    }

    [Fact]
    public void Sampled_out_activities_publish_their_nearest_sampled_ancestor_or_nothing()
    {
        using var provider = Build();
        using var root = Source.StartActivity("root")!;
        Assert.True(root.Recorded);
        using (var dropped = Source.StartActivity("drop"))
        {
            // Dropped by the sampler: no Activity at all; the root stays published.
            Assert.Null(dropped);
            Assert.True(Published.OnThisThread()!.Matches(root));
        }

        using (var child = Source.StartActivity("sampled-child"))
        {
            Assert.True(Published.OnThisThread()!.Matches(child!));
            using var droppedGrandchild = Source.StartActivity("drop");
            Assert.True(Published.OnThisThread()!.Matches(child!));
        }

        Assert.True(Published.OnThisThread()!.Matches(root));
        root.Stop();
        Assert.Null(Published.OnThisThread());

        // A sampled-out root has no sampled ancestor: nothing is published.
        using var unsampledRoot = Source.StartActivity("record-only")!;
        Assert.True(unsampledRoot.IsAllDataRequested);
        Assert.False(unsampledRoot.Recorded);
        Assert.Null(Published.OnThisThread());
        using var sampledChild = Source.StartActivity("sampled-under-unsampled-root")!;
        Assert.True(Published.OnThisThread()!.Matches(sampledChild));
    }

    /// <summary>A legacy Activity (`new Activity(name)`, as HttpClient makes on .NET 8 and 9 when no listener wants its
    /// source: recorded and all-data from its sampled parent), which this provider does not export: the request's span
    /// stays published.</summary>
    [Fact]
    public void A_legacy_activity_publishes_the_providers_span_around_it()
    {
        using var provider = Build();
        using var request = Source.StartActivity("request")!;
        Assert.True(Published.OnThisThread()!.Matches(request));

        var legacy = new Activity("System.Net.Http.HttpRequestOut").Start();
        Assert.True(legacy.Recorded && legacy.IsAllDataRequested); // what a filter on the flags alone took for a sampled span
        Assert.Same(legacy, Activity.Current);
        Assert.True(Published.OnThisThread()!.Matches(request));
        legacy.Stop();
        Assert.True(Published.OnThisThread()!.Matches(request));
    }

    [Fact]
    public void Suppressed_instrumentation_leaves_the_callers_context_published()
    {
        using var provider = Build();
        using var outer = Source.StartActivity("outer")!;
        using (SuppressInstrumentationScope.Begin())
        {
            using var inner = Source.StartActivity("inner");
            Assert.True(inner is null || !inner.Recorded);
            Assert.True(Published.OnThisThread()!.Matches(outer));
        }

        Assert.True(Published.OnThisThread()!.Matches(outer));
    }

    [Fact]
    public async Task Continuations_after_awaits_publish_the_same_activity()
    {
        using var provider = Build();
        using var activity = Source.StartActivity("async-work")!;
        for (var i = 0; i < 20; i++)
        {
            await Task.Yield();
            Assert.True(Published.OnThisThread()!.Matches(activity));
            await Task.Delay(1);
            Assert.True(Published.OnThisThread()!.Matches(activity));
        }
    }

    [Fact]
    public void The_provider_resource_becomes_the_process_context_with_the_key_map_when_the_provider_is_built()
    {
        using var provider = Build(o => o.AttributeTagNames.Add("tenant"), service: "resource-test-service");

        // Published once the provider is built, before any Activity.
        ProcessContextReader.Snapshot? snapshot = null;
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var (read, current) = ProcessContextReader.Read(Environment.ProcessId);
            if (read == ProcessContextReader.ReadOutcome.Consistent && current!.Resource.TryGetValue("service.name", out var name) && name.StringValue == "resource-test-service")
            {
                snapshot = current;
                break;
            }

            Thread.Sleep(10);
        }

        Assert.NotNull(snapshot);
        // The provider's resource in ProcessContext.resource, OTEP 4947's keys in ProcessContext.attributes.
        var attributes = snapshot.Resource;
        Assert.Equal("resource-test-service", attributes["service.name"].StringValue);
        Assert.Equal("9.8.7", attributes["service.version"].StringValue);
        Assert.Equal("test", attributes["deployment.environment.name"].StringValue);
        Assert.Equal("opentelemetry", attributes["telemetry.sdk.name"].StringValue);
        Assert.Equal("dotnet", attributes["telemetry.sdk.language"].StringValue);
        Assert.False(string.IsNullOrEmpty(attributes["service.instance.id"].StringValue));
        Assert.DoesNotContain(attributes.Keys, k => k.StartsWith("threadlocal.", StringComparison.Ordinal));
        Assert.Equal("tlsdesc_v1_dev", snapshot.Attributes["threadlocal.schema_version"].StringValue);
        var keyMap = snapshot.KeyMap;
        Assert.Contains("http.route", keyMap);
        Assert.Contains("http.request.method", keyMap);
        Assert.Contains("tenant", keyMap);
    }

    [Fact]
    public async Task Under_the_generic_host_publishing_follows_the_hosts_lifetime()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("hosted-service"))
            .WithTracing(t => t.AddSource(Source.Name).AddThreadContext());
        using var host = builder.Build();

        using (var beforeStart = Source.StartActivity("before-start"))
        {
            Assert.Null(beforeStart); // no provider yet: nothing listens
            Assert.Null(Published.OnThisThread());
        }

        await host.StartAsync();
        using (var running = Source.StartActivity("running"))
        {
            Assert.True(Published.OnThisThread()!.Matches(running!));
        }

        await host.StopAsync();
        host.Dispose();
        using var listener = new ActivityListener { ShouldListenTo = s => s == Source, Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded };
        ActivitySource.AddActivityListener(listener);
        using var afterStop = Source.StartActivity("after-stop")!;
        Assert.Null(Published.OnThisThread());
    }

    [Fact]
    public void A_second_provider_with_thread_context_fails_to_build_and_says_why()
    {
        using var first = Build();
        var e = Assert.Throws<InvalidOperationException>(() => Build());
        Assert.Contains("AddThreadContext()", e.Message, StringComparison.Ordinal);
        Assert.Contains("already published in this process", e.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", e.Message, StringComparison.Ordinal);
        Assert.IsType<InvalidOperationException>(e.InnerException);
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("http.route", "listed twice")]
    [InlineData("threadlocal.schema_version", "namespace")]
    [InlineData("long", "UTF-8 bytes long")]
    public void Option_names_that_break_the_limits_fail_at_startup_with_the_fix(string name, string expected)
    {
        var tooLong = new string('k', ThreadContextOptions.MaxTagNameLength + 1);
        var e = Assert.Throws<ArgumentException>(() =>
            Sdk.CreateTracerProviderBuilder().AddThreadContext(o => o.AttributeTagNames.Add(name == "long" ? tooLong : name)));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void More_keys_than_a_one_byte_index_names_fail_at_startup()
    {
        var e = Assert.Throws<ArgumentException>(() => Sdk.CreateTracerProviderBuilder().AddThreadContext(o =>
        {
            for (var i = 0; i < ThreadContextKeys.MaxKeys; i++)
            {
                o.AttributeTagNames.Add($"app.key.{i}");
            }
        }));
        Assert.Contains($"over the {ThreadContextKeys.MaxKeys} keys", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("app.key.0", ThreadContextKeys.Names); // checked before anything was registered
    }
}
