using System.Diagnostics;
using OtelThreadCtx.OpenTelemetry;

// OpenTelemetry .NET's namespace for tracer builder extensions (AddAspNetCoreInstrumentation, AddOtlpExporter, ...).
namespace OpenTelemetry.Trace;

/// <summary>The one line: <c>tracing.AddThreadContext()</c>.</summary>
public static class ThreadContextTracerProviderBuilderExtensions
{
    /// <summary>While the provider lives, every thread publishes the Activity the provider samples in that is current on
    /// it (OTEP 4947 thread context, read by out-of-process profilers), with the tags named in
    /// <see cref="ThreadContextOptions.AttributeTagNames"/>; the provider's resource is published as the process context
    /// (OTEP 4719); in ASP.NET Core apps the route is published as soon as routing selects the endpoint. Publishing
    /// starts when the provider is built (under <c>OpenTelemetry.Extensions.Hosting</c>: when the host starts) and
    /// stops when it is disposed. On a platform without the native library it does nothing and never throws.</summary>
    /// <param name="builder">The tracer provider builder.</param>
    /// <param name="configure">Changes to the defaults; called once, here.</param>
    /// <exception cref="ArgumentException">An option breaks a limit of OTEP 4947 (the message names it and the fix).</exception>
    /// <remarks>One publisher per process: building a second provider with thread context while the first lives
    /// fails with <see cref="InvalidOperationException"/>.</remarks>
    public static TracerProviderBuilder AddThreadContext(this TracerProviderBuilder builder, Action<ThreadContextOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new ThreadContextOptions();
        configure?.Invoke(options);
        ThreadContextOptionsValidator.Validate(options);
        string[] tagNames = [.. options.AttributeTagNames];
        var publishProcessContext = options.PublishProcessContext;
        var aspNetCoreRouting = options.AspNetCoreRouting;
        return builder.AddProcessor(_ => (BaseProcessor<Activity>)new ThreadContextProcessor(tagNames, publishProcessContext, aspNetCoreRouting));
    }
}
