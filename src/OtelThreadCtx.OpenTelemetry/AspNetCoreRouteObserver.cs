using System.Diagnostics;
using System.Linq.Expressions;
using System.Reflection;

namespace OtelThreadCtx.OpenTelemetry;

/// <summary>Publishes the request's route as soon as ASP.NET Core routing selects the endpoint.</summary>
/// <remarks>
/// <para>Why this hook: <c>EndpointRoutingMiddleware</c> writes <c>Microsoft.AspNetCore.Routing.EndpointMatched</c> (payload:
/// the <c>HttpContext</c>) to the <c>Microsoft.AspNetCore</c> DiagnosticListener the moment it sets the endpoint, on the
/// request's thread, for every routed request (minimal APIs, MVC, gRPC), and only when someone listens. A startup filter
/// runs before routing and would have to add routing middleware of its own; an endpoint filter sees only endpoints
/// that opt in and runs after authorization and other middleware. The route is known here and nowhere earlier.</para>
/// <para>On the event the request's Activity (<c>IHttpActivityFeature</c>) gets <c>http.route</c> (the route template,
/// as OpenTelemetry's ASP.NET Core instrumentation sets it when the request ends) and <c>http.request.method</c> when
/// absent, and <see cref="ActivityThreadContextPublisher.Refresh"/> republishes it: on this thread now, on every later
/// continuation through the publisher's flowing entry.</para>
/// <para>This package does not reference ASP.NET Core (console and worker apps must not need its runtime): the payload
/// is read through accessors compiled once, from the types of the first payload. If they cannot be made (a trimmed
/// app, an unknown ASP.NET Core), the observer stays silent and the route is published when the request ends.</para>
/// </remarks>
internal sealed class AspNetCoreRouteObserver : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>, IDisposable
{
    public const string RouteTag = "http.route";
    public const string MethodTag = "http.request.method";
    private const string ListenerName = "Microsoft.AspNetCore";
    private const string EndpointMatched = "Microsoft.AspNetCore.Routing.EndpointMatched";

    private static readonly HashSet<string> KnownMethods = new(StringComparer.Ordinal)
    {
        "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
    };

    private readonly ActivityThreadContextPublisher publisher;
    private readonly object gate = new();
    private readonly List<IDisposable> subscriptions = [];
    private IDisposable? allListeners;
    private volatile Accessors? accessors;
    private bool accessorsFailed;
    private bool disposed;

    private AspNetCoreRouteObserver(ActivityThreadContextPublisher publisher) => this.publisher = publisher;

    /// <summary>How many requests got their route published here; for tests.</summary>
    internal int RoutesPublished => Volatile.Read(ref routesPublished);

    private int routesPublished;

    public static AspNetCoreRouteObserver Start(ActivityThreadContextPublisher publisher)
    {
        var observer = new AspNetCoreRouteObserver(publisher);
        var subscription = DiagnosticListener.AllListeners.Subscribe(observer);
        lock (observer.gate)
        {
            observer.allListeners = subscription;
        }

        return observer;
    }

    public void OnNext(DiagnosticListener value)
    {
        if (value.Name != ListenerName)
        {
            return;
        }

        lock (gate)
        {
            if (!disposed)
            {
                // Only this event: the hosting layer's own Activity creation and events stay as they were.
                subscriptions.Add(value.Subscribe(this, static name => name == EndpointMatched));
            }
        }
    }

    public void OnNext(KeyValuePair<string, object?> value)
    {
        if (value.Key != EndpointMatched || value.Value is not { } httpContext)
        {
            return;
        }

        // Made once from the first payload; when they cannot be made, every later event returns here without a lock.
        var read = accessors ?? (Volatile.Read(ref accessorsFailed) ? null : MakeAccessors(httpContext));
        if (read is null)
        {
            return;
        }

        var activity = read.Activity(httpContext) ?? Activity.Current;
        var route = read.Route(httpContext);
        if (activity is null || string.IsNullOrEmpty(route))
        {
            return;
        }

        activity.SetTag(RouteTag, route);
        if (activity.GetTagItem(MethodTag) is null && read.Method(httpContext) is { } method)
        {
            activity.SetTag(MethodTag, KnownMethods.Contains(method) ? method : "_OTHER");
        }

        publisher.Refresh(activity);
        Interlocked.Increment(ref routesPublished);
    }

    public void OnCompleted()
    {
    }

    public void OnError(Exception error)
    {
    }

    public void Dispose()
    {
        lock (gate)
        {
            disposed = true;
            allListeners?.Dispose();
            foreach (var subscription in subscriptions)
            {
                subscription.Dispose();
            }

            subscriptions.Clear();
        }
    }

    private Accessors? MakeAccessors(object httpContext)
    {
        lock (gate)
        {
            if (accessors is null && !accessorsFailed)
            {
                try
                {
                    accessors = Accessors.For(httpContext.GetType());
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or MissingMemberException or TypeLoadException or NotSupportedException)
                {
                    accessors = null;
                }

                Volatile.Write(ref accessorsFailed, accessors is null);
            }

            return accessors;
        }
    }

    /// <summary>Reads of an <c>HttpContext</c>, compiled from its types: the matched route template
    /// (<c>(GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText</c>), the request method, and the request's Activity
    /// (<c>Features.Get&lt;IHttpActivityFeature&gt;()?.Activity</c>).</summary>
    private sealed record Accessors(Func<object, string?> Route, Func<object, string?> Method, Func<object, Activity?> Activity)
    {
        public static Accessors? For(Type payloadType)
        {
            var httpContextType = BaseNamed(payloadType, "Microsoft.AspNetCore.Http.HttpContext");
            var getEndpoint = httpContextType?.Assembly.GetType("Microsoft.AspNetCore.Http.EndpointHttpContextExtensions")
                ?.GetMethod("GetEndpoint", BindingFlags.Public | BindingFlags.Static, [httpContextType]);
            var routeEndpointType = FindType("Microsoft.AspNetCore.Routing.RouteEndpoint");
            var activityFeatureType = FindType("Microsoft.AspNetCore.Http.Features.IHttpActivityFeature");
            if (httpContextType is null || getEndpoint is null || routeEndpointType is null)
            {
                return null;
            }

            var payload = Expression.Parameter(typeof(object), "httpContext");
            var context = Expression.Convert(payload, httpContextType);

            var endpoint = Expression.Variable(routeEndpointType, "endpoint");
            var route = Expression.Lambda<Func<object, string?>>(
                Expression.Block(
                    [endpoint],
                    Expression.Assign(endpoint, Expression.TypeAs(Expression.Call(getEndpoint, context), routeEndpointType)),
                    Expression.Condition(
                        Expression.Equal(endpoint, Expression.Constant(null, routeEndpointType)),
                        Expression.Constant(null, typeof(string)),
                        Expression.Property(Expression.Property(endpoint, "RoutePattern"), "RawText"))),
                payload).Compile();

            var method = Expression.Lambda<Func<object, string?>>(
                Expression.Property(Expression.Property(context, "Request"), "Method"), payload).Compile();

            Func<object, Activity?> activity = static _ => null;
            if (activityFeatureType is not null)
            {
                var features = Expression.Property(context, "Features");
                var get = features.Type.GetMethod("Get", Type.EmptyTypes)?.MakeGenericMethod(activityFeatureType);
                if (get is not null)
                {
                    var feature = Expression.Variable(activityFeatureType, "feature");
                    activity = Expression.Lambda<Func<object, Activity?>>(
                        Expression.Block(
                            [feature],
                            Expression.Assign(feature, Expression.Call(features, get)),
                            Expression.Condition(
                                Expression.Equal(feature, Expression.Constant(null, activityFeatureType)),
                                Expression.Constant(null, typeof(Activity)),
                                Expression.Property(feature, "Activity"))),
                        payload).Compile();
                }
            }

            return new Accessors(route, method, activity);
        }

        private static Type? BaseNamed(Type? type, string fullName)
        {
            for (; type is not null; type = type.BaseType)
            {
                if (type.FullName == fullName)
                {
                    return type;
                }
            }

            return null;
        }

        private static Type? FindType(string fullName)
        {
            foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
            {
                if (assembly.GetType(fullName) is { } type)
                {
                    return type;
                }
            }

            return null;
        }
    }
}
