using System.Diagnostics;

namespace OtelThreadCtx;

/// <summary>Keeps every thread's published context equal to <see cref="Activity.Current"/> on that thread:
/// across <c>await</c> continuations, thread-pool hops and <see cref="ExecutionContext"/> restores (it follows
/// <see cref="Activity.CurrentChanged"/>). Each Activity's record is built once, the first time it becomes
/// current, and swapped in by pointer afterwards. One publisher at a time per process.</summary>
/// <remarks><see cref="Activity.CurrentChanged"/> fires only when code sets <see cref="Activity.Current"/>; when the
/// runtime restores an <see cref="ExecutionContext"/> (an await continuation, a thread-pool work item) it changes
/// silently. So the publisher mirrors the Activity's record into an <see cref="AsyncLocal{T}"/> of its own, whose
/// change notification fires for both, on the thread where the change happens.</remarks>
public sealed class ActivityThreadContextPublisher : IDisposable
{
    private const string RecordProperty = "OtelThreadCtx.Record";
    private static readonly object Gate = new();
    private static ActivityThreadContextPublisher? active;

    private readonly AsyncLocal<ThreadContextRecord?> published;
    private readonly ThreadContextKey[] keys;
    private readonly string[] tagNames;
    private int disposed;

    private ActivityThreadContextPublisher(ActivityPublisherOptions options)
    {
        tagNames = [.. options.AttributeTagNames];
        keys = tagNames.Select(ThreadContextKeys.Register).ToArray();
        published = new AsyncLocal<ThreadContextRecord?>(OnPublishedChanged);
    }

    /// <summary>Starts publishing. Dispose the result to stop.</summary>
    /// <exception cref="InvalidOperationException">A publisher is already running.</exception>
    public static ActivityThreadContextPublisher Start(ActivityPublisherOptions? options = null)
    {
        lock (Gate)
        {
            if (active is not null)
            {
                throw new InvalidOperationException("An ActivityThreadContextPublisher is already running in this process; dispose it before starting another.");
            }

            var publisher = new ActivityThreadContextPublisher(options ?? new ActivityPublisherOptions());
            active = publisher;
            if (ThreadContext.IsSupported)
            {
                // Readers look for thread context only once the key map is published.
                OtelProcessContext.EnsurePublished();
                Activity.CurrentChanged += publisher.OnCurrentChanged;
                publisher.Publish(Activity.Current);
            }

            return publisher;
        }
    }

    /// <summary>Stops following Activity changes and stops publishing on the calling thread. Other threads
    /// stop publishing at their next Activity change or when they exit.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        lock (Gate)
        {
            Activity.CurrentChanged -= OnCurrentChanged;
            if (ReferenceEquals(active, this))
            {
                active = null;
            }
        }

        if (ThreadContext.IsSupported)
        {
            published.Value = null;
            ThreadContext.Detach();
        }
    }

    /// <summary>Re-reads <paramref name="activity"/>'s tags into a new record (for tags set after the Activity
    /// started, such as <c>http.route</c>) and publishes it on the calling thread if the Activity is current here.
    /// Other threads pick the new record up at their next switch to the Activity.</summary>
    public void Refresh(Activity activity)
    {
        ArgumentNullException.ThrowIfNull(activity);
        if (!ThreadContext.IsSupported || Volatile.Read(ref disposed) != 0)
        {
            return;
        }

        lock (activity)
        {
            activity.SetCustomProperty(RecordProperty, null);
        }

        if (ReferenceEquals(Activity.Current, activity))
        {
            Publish(activity);
        }
    }

    private void OnCurrentChanged(object? sender, ActivityChangedEventArgs e) => Publish(e.Current);

    /// <summary>Sets the flowing value; its change notification does the attach.</summary>
    private void Publish(Activity? activity) =>
        published.Value = activity is null || Volatile.Read(ref disposed) != 0 ? null : RecordFor(activity);

    /// <summary>Runs on the thread whose context changed: an explicit set, or an ExecutionContext restore.</summary>
    private void OnPublishedChanged(AsyncLocalValueChangedArgs<ThreadContextRecord?> change)
    {
        if (change.CurrentValue is { } record && Volatile.Read(ref disposed) == 0 && !record.IsDisposed)
        {
            ThreadContext.Attach(record);
        }
        else if (ThreadContext.Current is not null)
        {
            ThreadContext.Detach();
        }
    }

    /// <summary>The Activity's record, built once and kept with the Activity; freed by its finalizer when the
    /// Activity is gone and no thread publishes it.</summary>
    private ThreadContextRecord RecordFor(Activity activity)
    {
        if (activity.GetCustomProperty(RecordProperty) is ThreadContextRecord existing)
        {
            return existing;
        }

        var record = new ThreadContextRecord(activity);
        for (var i = 0; i < keys.Length; i++)
        {
            if (activity.GetTagItem(tagNames[i]) is { } value)
            {
                record.AddAttribute(keys[i], value as string ?? Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty);
            }
        }

        lock (activity)
        {
            if (activity.GetCustomProperty(RecordProperty) is ThreadContextRecord raced)
            {
                record.Dispose();
                return raced;
            }

            activity.SetCustomProperty(RecordProperty, record);
        }

        return record;
    }
}
