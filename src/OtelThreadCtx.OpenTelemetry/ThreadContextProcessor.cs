using System.Diagnostics;
using OpenTelemetry;

namespace OtelThreadCtx.OpenTelemetry;

/// <summary>Ties publishing to one TracerProvider's life: made when the provider is built (it starts the Activity
/// publisher and, in ASP.NET Core apps, the routing observer), shut down and disposed with the provider (it stops them).
/// The provider's resource becomes the process context as soon as it can be read: the SDK builds the resource after it
/// makes its processors and hands each processor its provider at the end of the build, so a work item queued here waits
/// for that (bounded), and the first Activity the provider records publishes it too if that comes first.</summary>
internal sealed class ThreadContextProcessor : BaseProcessor<Activity>
{
    private readonly bool publishProcessContext;
    private readonly ActivityThreadContextPublisher publisher;
    private readonly AspNetCoreRouteObserver? routing;
    private int resourcePublished;
    private int stopped;

    /// <param name="tagNames">The checked tag names (a copy: later changes to the options do not reach here).</param>
    /// <param name="publishProcessContext">Whether the provider's resource becomes the process context.</param>
    /// <param name="aspNetCoreRouting">Whether to follow ASP.NET Core routing.</param>
    public ThreadContextProcessor(IReadOnlyList<string> tagNames, bool publishProcessContext, bool aspNetCoreRouting)
    {
        this.publishProcessContext = publishProcessContext;
        // A client or database span inside a request keeps the request's route: profiles group by it.
        var publisherOptions = new ActivityPublisherOptions { Filter = IsPublished, InheritParentAttributes = true };
        foreach (var name in tagNames)
        {
            publisherOptions.AttributeTagNames.Add(name);
        }

        try
        {
            publisher = ActivityThreadContextPublisher.Start(publisherOptions);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException(
                "AddThreadContext(): thread context is already published in this process (another TracerProvider built with AddThreadContext() "
                + "is still alive, or the application started an ActivityThreadContextPublisher); a process has one publisher. Fix: call "
                + "AddThreadContext() on one TracerProvider only, or dispose the first provider (or publisher) before building another.",
                e);
        }
        if (aspNetCoreRouting && ThreadContext.IsSupported)
        {
            routing = AspNetCoreRouteObserver.Start(publisher);
        }

        if (publishProcessContext && ThreadContext.IsSupported)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static processor => processor.PublishResourceWhenBuilt(), this, preferLocal: false);
        }
    }

    /// <summary>Waits (up to 10 s: a build that failed never sets it) for the SDK to give this processor its provider,
    /// then publishes the provider's resource.</summary>
    private void PublishResourceWhenBuilt()
    {
        var deadline = Environment.TickCount64 + 10_000;
        var spin = new SpinWait();
        while (ParentProvider is null && Volatile.Read(ref stopped) == 0 && Environment.TickCount64 < deadline)
        {
            spin.SpinOnce(sleep1Threshold: 10);
        }

        if (Volatile.Read(ref stopped) == 0)
        {
            PublishResource();
        }
    }

    /// <summary>The publisher this processor runs; for tests.</summary>
    internal ActivityThreadContextPublisher Publisher => publisher;

    /// <summary>Published: Activities the provider samples in (recorded and exported), so that every span id a profile
    /// sample carries names a span the trace backend receives. An Activity sampled out (or only recorded, not sampled)
    /// or a legacy one (made with <c>new Activity(name)</c>, as HttpClient does on .NET 8 and 9 when no listener wants
    /// its source: recorded and all-data from its sampled parent, and exported only if named with
    /// <c>AddLegacySource</c>, whose sampler runs after the Activity is already current) publishes its nearest sampled
    /// ancestor in the process, or nothing. Suppressed instrumentation creates no Activity at all, so its caller's
    /// context stays published. Not told apart: an Activity of a source this provider does not listen to that another
    /// listener samples in.</summary>
    internal static bool IsPublished(Activity activity) =>
        activity.Recorded && activity.IsAllDataRequested && activity.Source.Name.Length != 0;

    public override void OnStart(Activity data)
    {
        if (Volatile.Read(ref resourcePublished) == 0)
        {
            PublishResource();
        }
    }

    /// <summary>Publishes the provider's resource once (also on demand, for tests and for apps that want it before
    /// the first Activity).</summary>
    internal void PublishResource()
    {
        if (!publishProcessContext || Interlocked.Exchange(ref resourcePublished, 1) != 0 || ParentProvider is not { } provider)
        {
            return;
        }

        var resource = provider.GetResource();
        // The SDK's resource already holds what OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES say.
        OtelProcessContext.Publish(resource.Attributes.Select(static a => new KeyValuePair<string, object?>(a.Key, a.Value)), includeEnvironment: false);
    }

    protected override bool OnShutdown(int timeoutMilliseconds)
    {
        Stop();
        return true;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Stop();
        }

        base.Dispose(disposing);
    }

    private void Stop()
    {
        if (Interlocked.Exchange(ref stopped, 1) != 0)
        {
            return;
        }

        routing?.Dispose();
        publisher.Dispose();
    }
}
