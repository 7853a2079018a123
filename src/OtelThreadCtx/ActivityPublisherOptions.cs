using System.Diagnostics;

namespace OtelThreadCtx;

/// <summary>What <see cref="ActivityThreadContextPublisher"/> publishes besides the ids.</summary>
public sealed class ActivityPublisherOptions
{
    /// <summary>Activity tag names to publish as thread-context attributes (e.g. <c>http.route</c>), in order.
    /// Each is registered in <see cref="ThreadContextKeys"/> when the publisher starts. Tags are read once per
    /// Activity, the first time it becomes current on any thread, and again by
    /// <see cref="ActivityThreadContextPublisher.Refresh"/>.</summary>
    public IList<string> AttributeTagNames { get; } = [];

    /// <summary>Which Activities may be published (null: all). While an Activity the filter rejects is current, the
    /// thread publishes its nearest in-process ancestor the filter accepts, or nothing when there is none. Called on
    /// every change of <see cref="Activity.Current"/>: keep it to a few field reads (for example
    /// <see cref="Activity.Recorded"/>), and make it give the same answer for an Activity every time.</summary>
    public Func<Activity, bool>? Filter { get; set; }

    /// <summary>An Activity that lacks one of the <see cref="AttributeTagNames"/> publishes its parent's value for it
    /// (as published when the Activity first became current): a database or HTTP client span inside a request keeps the
    /// request's <c>http.route</c>. Default: false.</summary>
    public bool InheritParentAttributes { get; set; }
}
