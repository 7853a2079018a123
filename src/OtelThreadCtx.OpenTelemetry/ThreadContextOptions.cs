using OtelThreadCtx;
using OtelThreadCtx.OpenTelemetry;

// OpenTelemetry .NET's namespace for tracer builder extensions and their options: `using OpenTelemetry.Trace;`, which an
// app that configures tracing already has, brings AddThreadContext into scope.
namespace OpenTelemetry.Trace;

/// <summary>What <see cref="ThreadContextTracerProviderBuilderExtensions.AddThreadContext"/> publishes. Checked once,
/// when <c>AddThreadContext</c> is called: a name that breaks a limit of OTEP 4947 fails there, at startup.</summary>
public sealed class ThreadContextOptions
{
    /// <summary>The attribute names a profiler groups samples by most often, published by default.</summary>
    public static IReadOnlyList<string> DefaultAttributeTagNames { get; } = [AspNetCoreRouteObserver.RouteTag, AspNetCoreRouteObserver.MethodTag];

    /// <summary>Activity tags published as thread-context attributes, in order (default: <c>http.route</c>,
    /// <c>http.request.method</c>). Each becomes a key of the process context's <c>threadlocal.attribute_key_map</c>.
    /// At most <see cref="ThreadContextKeys.MaxKeys"/> distinct keys in the process; names are non-empty, unique, at most
    /// <see cref="MaxTagNameLength"/> UTF-8 bytes, and not in the reserved <c>threadlocal.</c> namespace.</summary>
    public IList<string> AttributeTagNames { get; } = [.. DefaultAttributeTagNames];

    /// <summary>Publish the provider's resource as the OTEP 4719 process context (default: true). Turn off when the
    /// application publishes it itself through <see cref="OtelProcessContext.Publish"/>.</summary>
    public bool PublishProcessContext { get; set; } = true;

    /// <summary>In ASP.NET Core applications, set <c>http.route</c> (the matched route template) and
    /// <c>http.request.method</c> on the request's Activity as soon as routing selects the endpoint, and publish them
    /// then (default: true). Without it the route is known only when the request ends.</summary>
    public bool AspNetCoreRouting { get; set; } = true;

    /// <summary>The longest tag name accepted, in UTF-8 bytes (<see cref="ThreadContextKeys.MaxNameLength"/>).</summary>
    public const int MaxTagNameLength = ThreadContextKeys.MaxNameLength;
}
