using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace OtelThreadCtx;

/// <summary>Keeps every thread's published context equal to <see cref="Activity.Current"/> on that thread:
/// across <c>await</c> continuations, thread-pool hops and <see cref="ExecutionContext"/> restores. One publisher at
/// a time per process.</summary>
/// <remarks>
/// <para>Per Activity, the binary ids and the encoded attributes are computed once, the first time the Activity
/// becomes current on any thread (an <see cref="ActivityEntry"/>). Every later switch to it writes the thread's
/// unpublished record from that entry and swaps it in (<see cref="ThreadContext.Set(ActivityTraceId, ActivitySpanId, ActivityTraceFlags, ThreadContextAttributes?)"/>'s
/// path): no native allocation, no finalizer, no process-wide table (the entry hangs off its Activity: see <see cref="EntryProperty"/>).</para>
/// <para>Tags named in <see cref="ActivityPublisherOptions.AttributeTagNames"/> are read when the entry is made;
/// tags set later (ASP.NET Core sets <c>http.route</c> after the request Activity started) are read again by
/// <see cref="Refresh"/>.</para>
/// <para><see cref="Activity.CurrentChanged"/> fires only when code sets <see cref="Activity.Current"/>; an
/// <see cref="ExecutionContext"/> restore (an await continuation, a thread-pool work item) changes it silently. So the
/// publisher mirrors the entry into an <see cref="AsyncLocal{T}"/> of its own, whose change notification fires for
/// both, on the thread where the change happens. Setting that AsyncLocal is the one allocation per change (a new
/// ExecutionContext, as for Activity.Current itself); it is what following restores costs.</para>
/// </remarks>
public sealed class ActivityThreadContextPublisher : IDisposable
{
    private static readonly object Gate = new();
    private static ActivityThreadContextPublisher? active;

    /// <summary>Whether <see cref="OnAnyCurrentChanged"/> follows Activity.CurrentChanged (from the first Start on, for
    /// good: after a Dispose it still clears what a thread that has not switched since kept publishing).</summary>
    private static bool following;

    /// <summary>The custom property of an Activity that holds its entry, so that its ids are computed at most once whatever
    /// order it becomes current in. Read only when the entry is not the thread's last one, its parent or its last child.</summary>
    /// <remarks>Not a process-wide table: a <c>ConditionalWeakTable</c> keyed by Activity took a lock and a dependent
    /// handle per Activity, 0.5–1 µs, and every gen0 collection then paused longer, by the Activities started since the
    /// last full one (1 to 4.5 µs per start and stop after 8 million of them). The property lives and dies with its
    /// Activity, and exporters never see it.</remarks>
    internal const string EntryProperty = "OtelThreadCtx.ActivityEntry";
    private readonly AsyncLocal<ActivityEntry?> published;

    /// <summary>Taken only to store the entry of an Activity no parent entry keeps (<see cref="KeepOnActivity"/>).</summary>
    private readonly object rootGate = new();
    private readonly ThreadContextKey[] keys;
    private readonly string[] tagNames;
    private readonly Func<Activity, bool>? filter;
    private readonly bool inherit;
    private int disposed;

    /// <summary>The entry last published on the calling thread (equal to <see cref="published"/>'s value on this thread,
    /// without the ExecutionContext lookup), by this publisher or, on a thread that has not switched since, an earlier
    /// one (<see cref="ActivityEntry.Owner"/>).</summary>
    [ThreadStatic]
    private static ActivityEntry? threadEntry;

    private ActivityThreadContextPublisher(ActivityPublisherOptions options)
    {
        tagNames = [.. options.AttributeTagNames];
        keys = tagNames.Select(ThreadContextKeys.Register).ToArray();
        filter = options.Filter;
        inherit = options.InheritParentAttributes;
        published = new AsyncLocal<ActivityEntry?>(OnPublishedChanged);
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
                if (!following)
                {
                    Activity.CurrentChanged += OnAnyCurrentChanged;
                    following = true;
                }

                publisher.Publish(Activity.Current);
            }

            return publisher;
        }
    }

    /// <summary>How many entries (ids + attributes computed from an Activity) this publisher made; for tests and diagnostics.</summary>
    internal int EntriesMade => Volatile.Read(ref entriesMade);

    private int entriesMade;

    /// <summary>Stops following Activity changes and stops publishing on the calling thread. Other threads
    /// stop publishing at their next Activity change (explicit, or an ExecutionContext switch) or when they exit.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        lock (Gate)
        {
            if (ReferenceEquals(active, this))
            {
                Volatile.Write(ref active, null);
            }
        }

        if (ThreadContext.IsSupported)
        {
            published.Value = null;
            threadEntry = null;
            ThreadContext.Clear();
        }
    }

    /// <summary>Re-reads <paramref name="activity"/>'s tags (for tags set after the Activity started, such as
    /// <c>http.route</c>) and publishes them on the calling thread if the Activity is current here. Other threads
    /// pick them up at their next switch to the Activity.</summary>
    public void Refresh(Activity activity)
    {
        ArgumentNullException.ThrowIfNull(activity);
        if (!ThreadContext.IsSupported || Volatile.Read(ref disposed) != 0 || !Accepted(activity, filter))
        {
            return;
        }

        var entry = EntryFor(activity, threadEntry);
        var own = ReadTags(activity);
        // The parent's values for the tags it lacks, as when the entry was made (a route set on the request later still
        // reaches its children at their next Refresh or first sight).
        entry.Attributes = Inherited(entry) is { } inherited ? ThreadContextAttributes.Merge(own, inherited) : own;
        if (ReferenceEquals(Activity.Current, activity))
        {
            threadEntry = entry;
            entry.Publish();
        }
    }

    /// <summary>An explicit change of Activity.Current on this thread: the running publisher publishes the new one. With
    /// none running, a thread that still publishes what a disposed one set (it has not switched since) stops.</summary>
    private static void OnAnyCurrentChanged(object? sender, ActivityChangedEventArgs e)
    {
        if (Volatile.Read(ref active) is { } publisher)
        {
            publisher.Publish(e.Current);
        }
        else if (threadEntry is { } stale)
        {
            threadEntry = null;
            stale.Owner.published.Value = null;
            ThreadContext.Clear();
        }
    }

    /// <summary>Sets the flowing value; its change notification does the publishing. The entry published last on this
    /// thread is the hint for finding the new one (its parent, its child or itself); one thread-static access covers
    /// reading and updating it.</summary>
    private void Publish(Activity? activity)
    {
        activity = NearestAccepted(activity, filter);

        ref var hint = ref threadEntry;
        var entry = activity is not null && Volatile.Read(ref disposed) == 0 ? EntryFor(activity, hint) : null;
        hint = entry;
        published.Value = entry;
    }

    /// <summary>The Activity itself if it is accepted, else its nearest in-process ancestor that is.</summary>
    private static Activity? NearestAccepted(Activity? activity, Func<Activity, bool>? filter)
    {
        while (activity is not null && !Accepted(activity, filter))
        {
            activity = activity.Parent;
        }

        return activity;
    }

    /// <summary>W3C ids (an Activity with hierarchical ids has no trace id or span id: it would publish zeros) and the
    /// filter's yes.</summary>
    private static bool Accepted(Activity activity, Func<Activity, bool>? filter) =>
        activity.IdFormat == ActivityIdFormat.W3C && (filter is null || FilterAccepts(filter, activity));

    /// <summary>The application's filter runs inside Activity.Start, Stop and the Current setter: an exception from it
    /// would come out of those, in code that never called this library. It counts as a no.</summary>
    private static bool FilterAccepts(Func<Activity, bool> filter, Activity activity)
    {
        try
        {
            return filter(activity);
        }
#pragma warning disable CA1031 // any exception of the application's filter: that Activity is not published
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    }

    /// <summary>Runs on the thread whose context changed: an explicit set (from <see cref="OnAnyCurrentChanged"/>), or an
    /// ExecutionContext restore. The hint is left alone: after a restore it may be stale, which costs the next explicit
    /// switch one property lookup, never a wrong record.</summary>
    private void OnPublishedChanged(AsyncLocalValueChangedArgs<ActivityEntry?> change)
    {
        if (change.CurrentValue is { } entry && Volatile.Read(ref disposed) == 0)
        {
            entry.Publish();
        }
        else
        {
            ThreadContext.Clear();
        }
    }

    /// <summary>The Activity's entry. The usual switches find it without a lookup: the entry published here (a
    /// restore), its parent's (an Activity stopped) or its most recent child's (back into a child); otherwise the
    /// Activity's property, and only a first sight computes ids and attributes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ActivityEntry EntryFor(Activity activity, ActivityEntry? near)
    {
        // The hint is one per thread, whichever publisher set it: one that an earlier publisher (disposed since) left on a
        // thread that has not switched since names that publisher's entries, with its attributes.
        if (near is not null && !ReferenceEquals(near.Owner, this))
        {
            near = null;
        }

        if (near is not null)
        {
            if (ReferenceEquals(near.Activity, activity))
            {
                return near;
            }

            if (near.Parent is { } parent && ReferenceEquals(parent.Activity, activity))
            {
                return parent;
            }

            if (near.LastChild is { } child && ReferenceEquals(child.Activity, activity))
            {
                return child;
            }
        }

        return EntryFromProperty(activity, near);
    }

    private ActivityEntry EntryFromProperty(Activity activity, ActivityEntry? near)
    {
        if (Own(activity) is { } own)
        {
            return own;
        }

        var parent = activity.Parent;
        ActivityEntry? parentEntry;
        if (near is not null && parent is not null && ReferenceEquals(parent, near.Activity))
        {
            parentEntry = near;
        }
        else
        {
            // The entry flowing in this execution context: exact where the hint is stale (an await resumed here).
            var flowing = published.Value;
            if (flowing is not null && ReferenceEquals(flowing.Activity, activity))
            {
                return flowing;
            }

            parentEntry = parent is null ? null : flowing is not null && ReferenceEquals(flowing.Activity, parent) ? flowing : Existing(parent);
        }

        if (parentEntry?.LastChild is { } last && ReferenceEquals(last.Activity, activity))
        {
            return last;
        }

        var made = new ActivityEntry(this, activity, ReadTags(activity));
        var entry = parentEntry is not null ? AdoptChild(parentEntry, made) : KeepOnActivity(activity, made);
        if (ReferenceEquals(entry, made))
        {
            entriesMade++; // diagnostics only: no atomic operation per Activity (threads may race and undercount)
            if (Inherited(entry) is { } inherited)
            {
                entry.Attributes = ThreadContextAttributes.Merge(entry.Attributes, inherited);
            }

            if (near is not null && near.Parent is null && ReferenceEquals(near.Activity.Parent, activity))
            {
                // The child was seen first (the publisher started inside it): link it to this, its parent, now.
                near.Parent = entry;
                entry.LastChild ??= near;
            }
        }

        return entry;
    }

    /// <summary>Makes <paramref name="child"/> the last child of <paramref name="parent"/>, which finds it from then on. The
    /// child it displaces is kept by its own Activity from now on, unless that Activity stopped: siblings that run at the
    /// same time (a fan-out) pay for a custom property, a sequence of children never does. The swap is atomic: two threads
    /// adopting siblings at once each get a different displaced child, and neither is lost.</summary>
    private static ActivityEntry AdoptChild(ActivityEntry parent, ActivityEntry child)
    {
        child.Parent = parent;
        var displaced = Interlocked.Exchange(ref parent.LastChild, child);
        if (displaced is not null && !ReferenceEquals(displaced.Activity, child.Activity) && !displaced.Activity.IsStopped)
        {
            displaced.Activity.SetCustomProperty(EntryProperty, displaced);
        }

        return child;
    }

    /// <summary>An entry no parent entry keeps: the Activity keeps it. Two threads that see a new Activity at the same moment
    /// both make one; the first stored is the one both use.</summary>
    private ActivityEntry KeepOnActivity(Activity activity, ActivityEntry made)
    {
        lock (rootGate)
        {
            if (Own(activity) is { } raced)
            {
                return raced;
            }

            activity.SetCustomProperty(EntryProperty, made);
            return made;
        }
    }

    /// <summary>The entry <paramref name="activity"/> keeps itself, if it is this publisher's (one that a disposed publisher
    /// left is not: its attributes may differ, and this publisher replaces it).</summary>
    private ActivityEntry? Own(Activity activity) =>
        activity.GetCustomProperty(EntryProperty) is ActivityEntry entry && ReferenceEquals(entry.Owner, this) ? entry : null;

    /// <summary>The entry this publisher made for <paramref name="activity"/>, if any: up to the nearest Activity that keeps
    /// its entry itself, then down the last children, one per level.</summary>
    private ActivityEntry? Existing(Activity activity)
    {
        var depth = 0;
        ActivityEntry? entry = null;
        for (var at = activity; at is not null && depth <= MaxLookupDepth; at = at.Parent, depth++)
        {
            if (Own(at) is { } own)
            {
                entry = own;
                break;
            }
        }

        for (; entry is not null && depth > 0; depth--)
        {
            entry = entry.LastChild;
        }

        return entry is not null && ReferenceEquals(entry.Activity, activity) ? entry : null;
    }

    /// <summary>How far up a lookup goes. Past it, an Activity's entry is made again on a thread that has not seen it (a
    /// thread where it flows uses the flowing one, which <see cref="Refresh"/> reaches too).</summary>
    private const int MaxLookupDepth = 64;

    /// <summary>What <paramref name="entry"/> inherits when <see cref="ActivityPublisherOptions.InheritParentAttributes"/> is
    /// set: the attributes of its parent's entry, or of the nearest ancestor's that has one; null otherwise.</summary>
    private ThreadContextAttributes? Inherited(ActivityEntry entry) =>
        inherit ? (entry.Parent ?? NearestEntryAbove(entry.Activity))?.Attributes : null;

    /// <summary>The entry of the nearest in-process ancestor that has one (an ancestor the filter rejects has none): up to
    /// the nearest that keeps its entry itself, then down the last children while they are ancestors.</summary>
    private ActivityEntry? NearestEntryAbove(Activity activity)
    {
        List<Activity>? path = null;
        for (var parent = activity.Parent; parent is not null && (path?.Count ?? 0) <= MaxLookupDepth; parent = parent.Parent)
        {
            if (Own(parent) is { } found)
            {
                for (var i = (path?.Count ?? 0) - 1; i >= 0 && found.LastChild is { } next && ReferenceEquals(next.Activity, path![i]); i--)
                {
                    found = next;
                }

                return found;
            }

            (path ??= []).Add(parent);
        }

        return null;
    }

    /// <summary>A tag's value as text; null (the tag is left out) when the application's object throws from its
    /// conversion, which would otherwise come out of Activity.Start.</summary>
    private static string? TagText(object value)
    {
        if (value is string text)
        {
            return text;
        }

        try
        {
            return Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty;
        }
#pragma warning disable CA1031 // any exception of the application's ToString: the tag is not published
        catch (Exception)
#pragma warning restore CA1031
        {
            return null;
        }
    }

    private ThreadContextAttributes? ReadTags(Activity activity)
    {
        if (keys.Length == 0)
        {
            return null;
        }

        ThreadContextAttributesBuilder? builder = null;
        for (var i = 0; i < keys.Length; i++)
        {
            if (activity.GetTagItem(tagNames[i]) is { } value && TagText(value) is { } text)
            {
                builder ??= new ThreadContextAttributesBuilder();
                builder.Add(keys[i], text);
            }
        }

        return builder?.Build();
    }
}

/// <summary>What the publisher writes for one Activity: its ids in binary, its flags and attributes, computed once.
/// Linked to its parent's entry and its most recent child's, so that Start/Stop switches need no lookup.</summary>
internal sealed unsafe class ActivityEntry
{
    /// <summary>The publisher that made it (the thread's hint may be another's).</summary>
    public readonly ActivityThreadContextPublisher Owner;
    public readonly Activity Activity;
    public readonly byte Flags;

    /// <summary>Replaced whole by <see cref="ActivityThreadContextPublisher.Refresh"/>; read whole by any thread.</summary>
    public ThreadContextAttributes? Attributes;
    public ActivityEntry? Parent;
    public ActivityEntry? LastChild;

    /// <summary>Trace id (16 bytes) then span id (8), as the record holds them; written once, read by the library in place.</summary>
    private BinaryIds ids;

    public ActivityEntry(ActivityThreadContextPublisher owner, Activity activity, ThreadContextAttributes? attributes)
    {
        Owner = owner;
        Activity = activity;
        ids.TraceId = HexIds.TraceId(activity.TraceId);
        ids.SpanId = HexIds.SpanId(activity.SpanId);
        Flags = (byte)activity.ActivityTraceFlags;
        Attributes = attributes;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Publish()
    {
        fixed (BinaryIds* p = &ids)
        {
            ThreadContext.Publish((byte*)&p->TraceId, (byte*)&p->SpanId, Flags, Attributes);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct BinaryIds
    {
        public Vector128<byte> TraceId;
        public ulong SpanId;
    }
}
