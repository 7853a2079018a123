namespace OtelThreadCtx;

/// <summary>What <see cref="ActivityThreadContextPublisher"/> publishes besides the ids.</summary>
public sealed class ActivityPublisherOptions
{
    /// <summary>Activity tag names to publish as thread-context attributes (e.g. <c>http.route</c>), in order.
    /// Each is registered in <see cref="ThreadContextKeys"/> when the publisher starts. Tags are read once per
    /// Activity, the first time it becomes current on any thread; later tag changes are not republished.</summary>
    public IList<string> AttributeTagNames { get; } = [];
}
