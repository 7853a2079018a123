using System.Diagnostics;
using System.Text;
using OtelThreadCtx;

// Usage: OtelThreadCtx.ApiProbe --expect-supported | --expect-noop
// Calls every public API once or more, on several threads. Supported: what a reader sees matches what was written.
// No-op: every call returns its documented no-op result. Either way nothing may throw.
var expectSupported = args.Contains("--expect-supported");
if (!expectSupported && !args.Contains("--expect-noop"))
{
    Console.Error.WriteLine("usage: OtelThreadCtx.ApiProbe --expect-supported | --expect-noop");
    return 2;
}

var failures = new List<string>();
void Check(bool ok, string what)
{
    if (!ok)
    {
        failures.Add(what);
    }
}

static byte[] Published()
{
    var buffer = new byte[ThreadContextRecord.Size];
    return buffer[..ThreadContext.ReadCurrent(buffer)];
}

string SpanOf(byte[] bytes) => bytes.Length >= 24 ? Convert.ToHexStringLower(bytes, 16, 8) : "";

try
{
    Console.WriteLine($"IsSupported={ThreadContext.IsSupported} arch={System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}");
    Console.WriteLine($"UnavailableReason={ThreadContext.UnavailableReason ?? "(none)"}");
    Check(ThreadContext.IsSupported == expectSupported, $"IsSupported is {ThreadContext.IsSupported}");
    Check((ThreadContext.UnavailableReason is null) == ThreadContext.IsSupported, "UnavailableReason is set exactly when unsupported");

    // Keys and attribute blocks: pure managed, the same everywhere.
    var route = ThreadContextKeys.Register("http.route");
    var builder = new ThreadContextAttributesBuilder();
    Check(builder.Add(route, "/orders/{id}") == AttributeResult.Written, "attribute block");
    var attributes = builder.Build();

    // Shared records: create, fill, attach, read back, update in place, detach, dispose.
    var traceId = ActivityTraceId.CreateRandom();
    var spanId = ActivitySpanId.CreateRandom();
    var record = new ThreadContextRecord();
    record.SetIds(traceId, spanId, ActivityTraceFlags.Recorded);
    var added = record.AddAttribute(route, "/orders/{id}");
    Check(added == (expectSupported ? AttributeResult.Written : AttributeResult.Unsupported), $"AddAttribute returned {added}");
    record.ClearAttributes();
    var previous = ThreadContext.Attach(record);
    Check(previous is null, "Attach returned a previous record");
    Check(SpanOf(Published()) == (expectSupported ? spanId.ToHexString() : ""), "attached record read back");
    Check(ReferenceEquals(ThreadContext.Current, expectSupported ? record : null), "Current");
    var newSpan = ActivitySpanId.CreateRandom();
    Check(ThreadContext.UpdateIds(traceId, newSpan, ActivityTraceFlags.None) == expectSupported, "UpdateIds");
    using (var update = ThreadContext.BeginUpdate())
    {
        Check(update.IsActive == expectSupported, "BeginUpdate");
    }

    Check(SpanOf(Published()) == (expectSupported ? newSpan.ToHexString() : ""), "in-place update read back");
    Check(ReferenceEquals(ThreadContext.Detach(), expectSupported ? record : null), "Detach");
    Check(record.AttachCount == 0, "AttachCount after detach");
    Check(!record.IsDisposed, "IsDisposed before Dispose");
    record.Dispose();
    Check(record.IsDisposed, "IsDisposed after Dispose");
    record.Dispose(); // a second Dispose does nothing
    Check(record.IsDisposed, "IsDisposed after a second Dispose");
    using (var fromActivity = new ThreadContextRecord(new Activity("probe").Start()))
    {
        ThreadContext.Attach(fromActivity);
        ThreadContext.Attach(null);
    }

    // The thread-owned path, on several threads at once.
    var threads = Enumerable.Range(0, 4).Select(i => new Thread(() =>
    {
        for (var n = 0; n < 1000; n++)
        {
            var context = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
            switch (n % 3)
            {
                case 0: ThreadContext.Set(context.TraceId, context.SpanId, context.TraceFlags, attributes); break;
                case 1: ThreadContext.Set(in context, attributes); break;
                default:
                    var t = new byte[16];
                    var s = new byte[8];
                    context.TraceId.CopyTo(t);
                    context.SpanId.CopyTo(s);
                    ThreadContext.Set(t, s, 1, attributes);
                    break;
            }

            var bytes = Published();
            if (SpanOf(bytes) != (expectSupported ? context.SpanId.ToHexString() : ""))
            {
                lock (failures)
                {
                    failures.Add($"thread {i}: Set read back {SpanOf(bytes)}");
                }

                break;
            }
        }

        ThreadContext.Clear();
    })).ToList();
    threads.ForEach(t => t.Start());
    threads.ForEach(t => t.Join());
    Check(Published().Length == 0, "Clear");

    // The Activity publisher, across awaits, with a tag set after start.
    using var source = new ActivitySource("OtelThreadCtx.ApiProbe");
    using var listener = new ActivityListener
    {
        ShouldListenTo = s => s.Name == source.Name,
        Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
    };
    ActivitySource.AddActivityListener(listener);
    var options = new ActivityPublisherOptions();
    options.AttributeTagNames.Add("http.route");
    using (var publisher = ActivityThreadContextPublisher.Start(options))
    {
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async i =>
        {
            using var activity = source.StartActivity($"flow-{i}")!;
            for (var step = 0; step < 5; step++)
            {
                await Task.Yield();
                var seen = SpanOf(Published());
                if (seen != (expectSupported ? activity.SpanId.ToHexString() : ""))
                {
                    lock (failures)
                    {
                        failures.Add($"flow {i} step {step}: published {seen}");
                    }
                }
            }

            activity.SetTag("http.route", "/late");
            publisher.Refresh(activity);
            var bytes = Published();
            var late = bytes.Length > 30 ? Encoding.UTF8.GetString(bytes, 30, bytes[29]) : "";
            lock (failures)
            {
                Check(late == (expectSupported ? "/late" : ""), $"flow {i}: refreshed tag read back '{late}'");
            }
        }));
    }

    // The process context (OTEP 4719): published wherever Linux allows it, never an exception.
    var status = OtelProcessContext.Publish([new("service.name", "api-probe")]);
    Console.WriteLine($"process context: {status}");
    Check(!OperatingSystem.IsLinux() || status != OtelThreadCtx.ProcessContext.ProcessContextStatus.NotPublished, "process context not published on Linux");
}
catch (Exception e)
{
    failures.Add($"threw {e}");
}

foreach (var failure in failures)
{
    Console.WriteLine($"FAIL: {failure}");
}

Console.WriteLine(failures.Count == 0 ? "probe: every expectation held" : $"probe: {failures.Count} expectation(s) failed");
return failures.Count == 0 ? 0 : 1;
