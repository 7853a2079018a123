using System.Diagnostics.Tracing;

namespace OtelThreadCtx.Tests;

/// <summary>How many GC handles the process holds, as the runtime reports it after a collection (the <c>GCHandleCount</c> of
/// its <c>GCHeapStats</c> event, Microsoft-Windows-DotNETRuntime, GC keyword).</summary>
internal sealed class GcHandleCount : EventListener
{
    private const string RuntimeSource = "Microsoft-Windows-DotNETRuntime";
    private const EventKeywords GcKeyword = (EventKeywords)0x1;

    private readonly object gate = new();
    private int reports;
    private long last = -1;

    /// <summary>Collects, then waits (up to 10 s) for the runtime's report of that collection.</summary>
    public long AfterFullCollection()
    {
        int seen;
        lock (gate)
        {
            seen = reports;
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        lock (gate)
        {
            // Two reports: one per collection above; the second comes after the finalizers ran.
            while (reports < seen + 2)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !Monitor.Wait(gate, left))
                {
                    throw new TimeoutException($"The runtime reported no GCHeapStats event within 10 s ({reports - seen} of 2).");
                }
            }

            return last;
        }
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == RuntimeSource)
        {
            EnableEvents(eventSource, EventLevel.Informational, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (eventData.EventName?.StartsWith("GCHeapStats", StringComparison.Ordinal) != true || eventData.PayloadNames is not { } names)
        {
            return;
        }

        var at = names.IndexOf("GCHandleCount");
        if (at < 0 || eventData.Payload is not { } payload)
        {
            return;
        }

        lock (gate)
        {
            last = Convert.ToInt64(payload[at], System.Globalization.CultureInfo.InvariantCulture);
            reports++;
            Monitor.PulseAll(gate);
        }
    }
}
