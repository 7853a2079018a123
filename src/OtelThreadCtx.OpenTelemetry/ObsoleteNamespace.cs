using System.ComponentModel;
using OpenTelemetry.Trace;

namespace OtelThreadCtx.OpenTelemetry;

/// <summary>Where <c>AddThreadContext</c> lived before it moved to <c>OpenTelemetry.Trace</c>: code that names only
/// this namespace keeps compiling, with a warning that says where the method is now.</summary>
/// <remarks>Generic on purpose: with both namespaces in scope, overload resolution prefers the non-generic
/// <see cref="global::OpenTelemetry.Trace.ThreadContextTracerProviderBuilderExtensions.AddThreadContext"/> (same
/// parameters), so neither an ambiguity nor this warning appears there.</remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class ThreadContextTracerProviderBuilderExtensions
{
    /// <summary>Forwards to <see cref="global::OpenTelemetry.Trace.ThreadContextTracerProviderBuilderExtensions.AddThreadContext"/>.</summary>
    /// <typeparam name="TBuilder">The tracer provider builder's type.</typeparam>
    /// <param name="builder">The tracer provider builder.</param>
    /// <param name="configure">Changes to the defaults; called once, here.</param>
    /// <returns>The builder.</returns>
    [Obsolete("AddThreadContext and ThreadContextOptions moved to the namespace OpenTelemetry.Trace (OpenTelemetry .NET's namespace for builder extensions). Fix: replace 'using OtelThreadCtx.OpenTelemetry;' with 'using OpenTelemetry.Trace;'.")]
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static TBuilder AddThreadContext<TBuilder>(this TBuilder builder, Action<ThreadContextOptions>? configure = null)
        where TBuilder : TracerProviderBuilder
    {
        global::OpenTelemetry.Trace.ThreadContextTracerProviderBuilderExtensions.AddThreadContext(builder, configure);
        return builder;
    }
}
