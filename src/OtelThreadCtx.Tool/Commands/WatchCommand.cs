using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using OtelThreadCtx.Tool.Live;
using OtelThreadCtx.Tool.Output;
using Spectre.Console;

namespace OtelThreadCtx.Tool.Commands;

/// <summary>`otel-thread-ctx watch &lt;pid&gt;`: samples every thread repeatedly, as a profiler would, and counts what it sees.</summary>
internal static class WatchCommand
{
    public static Command Create(Option<bool> json)
    {
        var pid = new Argument<int>("pid") { Description = "The process to sample." };
        var hz = new Option<int>("--hz") { Description = "Sampling rounds per second (every thread once per round).", DefaultValueFactory = _ => 99 };
        var duration = new Option<TimeSpan>("--duration")
        {
            Description = "How long to sample: 10s, 500ms, 2m (default 10s). Ctrl+C stops earlier.",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(10),
            CustomParser = r => ParseDuration(r.Tokens.Count == 0 ? "10s" : r.Tokens[0].Value, r),
        };
        var command = new Command("watch", "Sample a live process's threads repeatedly and show counts per trace and per attribute value, the share of valid records, and the reader's own cost.")
        {
            pid,
            hz,
            duration,
            json,
        };
        hz.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 10000)
            {
                r.AddError("--hz must be between 1 and 10000");
            }
        });
        command.SetAction(result => Run(result.GetValue(pid), result.GetValue(hz), result.GetValue(duration), result.GetValue(json)));
        return command;
    }

    private static TimeSpan ParseDuration(string text, System.CommandLine.Parsing.ArgumentResult result)
    {
        var units = new (string Suffix, double Seconds)[] { ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600) };
        foreach (var (suffix, seconds) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal) && double.TryParse(text[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n > 0)
            {
                return TimeSpan.FromSeconds(n * seconds);
            }
        }

        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero)
        {
            return span;
        }

        result.AddError($"--duration '{text}': expected a positive duration such as 10s, 500ms or 2m");
        return default;
    }

    private sealed class Tally
    {
        public int Rounds;
        public int Samples;
        public int WithRecord;
        public int Valid;
        public readonly Dictionary<string, int> Traces = new(StringComparer.Ordinal);
        public readonly Dictionary<(string Key, string Value), int> Attributes = [];
        public readonly List<double> Stops = [];
        public readonly HashSet<string> Problems = new(StringComparer.Ordinal);

        public void Add(ThreadReport t)
        {
            Samples++;
            if (t.StoppedMicroseconds > 0)
            {
                Stops.Add(t.StoppedMicroseconds);
            }

            if (t.Error is not null && !t.Error.StartsWith("thread exited", StringComparison.Ordinal))
            {
                Problems.Add(t.Error);
            }

            if (t.Record is not { } r)
            {
                return;
            }

            WithRecord++;
            if (r.Valid != 1)
            {
                return;
            }

            Valid++;
            if (r.TraceId != new string('0', 32))
            {
                Traces[r.TraceId] = Traces.GetValueOrDefault(r.TraceId) + 1;
            }

            // A repeated key: the last entry wins.
            foreach (var a in r.Attributes.GroupBy(a => a.KeyIndex).Select(g => g.Last()))
            {
                var key = (a.Key ?? $"#{a.KeyIndex}", a.Value);
                Attributes[key] = Attributes.GetValueOrDefault(key) + 1;
            }
        }
    }

    public static int Run(int pid, int hz, TimeSpan duration, bool json)
    {
        using var cancel = new Cancellation();
        Inspector inspector;
        try
        {
            inspector = Inspector.Open(pid);
        }
        catch (TargetException e)
        {
            Console.Error.WriteLine($"otel-thread-ctx: {e.Message}");
            return e.ExitCode;
        }

        if (inspector.Variable.Location is null)
        {
            Console.Error.WriteLine($"otel-thread-ctx: otel_thread_ctx_v1: {inspector.Variable.Report.Error}");
            return ExitCodes.NotConformant;
        }

        var tally = new Tally();
        var period = TimeSpan.FromSeconds(1.0 / hz);
        var clock = Stopwatch.StartNew();
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        var lastRefresh = TimeSpan.Zero;
        var lastDraw = TimeSpan.Zero;
        try
        {
            if (json || Console.IsOutputRedirected)
            {
                Loop(null);
            }
            else
            {
                AnsiConsole.Live(Build(inspector, tally, clock.Elapsed, 0)).Start(Loop);
            }
        }
        catch (PtracePermissionException e)
        {
            Console.Error.WriteLine($"otel-thread-ctx: {e.Message}");
            return ExitCodes.PermissionDenied;
        }

        var elapsed = clock.Elapsed;
        var cpuShare = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds / Math.Max(elapsed.TotalSeconds, 1e-9);
        var report = Summary(pid, hz, inspector, tally, elapsed, cpuShare);
        if (json)
        {
            Json.Write(report, ToolJsonContext.Default.WatchReport);
        }
        else
        {
            AnsiConsole.Write(Build(inspector, tally, elapsed, cpuShare));
        }

        return report.Ok ? ExitCodes.Ok : ExitCodes.NotConformant;

        void Loop(LiveDisplayContext? live)
        {
            var next = clock.Elapsed;
            while (clock.Elapsed < duration && !cancel.Token.IsCancellationRequested)
            {
                if (!Directory.Exists($"/proc/{pid}"))
                {
                    tally.Problems.Add("the process exited");
                    break;
                }

                foreach (var t in inspector.SampleAll(cancel.Token))
                {
                    tally.Add(t);
                }

                tally.Rounds++;
                if (clock.Elapsed - lastRefresh > TimeSpan.FromSeconds(1))
                {
                    inspector.RefreshContext();
                    lastRefresh = clock.Elapsed;
                }

                if (live is not null && clock.Elapsed - lastDraw > TimeSpan.FromMilliseconds(250))
                {
                    live.UpdateTarget(Build(inspector, tally, clock.Elapsed, (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds / clock.Elapsed.TotalSeconds));
                    lastDraw = clock.Elapsed;
                }

                next += period;
                var wait = next - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    cancel.Token.WaitHandle.WaitOne(wait);
                }
                else
                {
                    next = clock.Elapsed;
                }
            }
        }
    }

    private static WatchReport Summary(int pid, int hz, Inspector inspector, Tally tally, TimeSpan elapsed, double cpuShare)
    {
        var problems = tally.Problems.ToList();
        if (inspector.Context.Error is not null)
        {
            problems.Add("process context: " + inspector.Context.Error);
        }

        return new WatchReport(
            Json.ToolName,
            Json.SchemaVersion,
            "watch",
            pid,
            problems.Count == 0,
            hz,
            Math.Round(elapsed.TotalSeconds, 3),
            tally.Rounds,
            tally.Samples,
            tally.WithRecord,
            tally.Valid,
            tally.Samples == 0 ? 0 : Math.Round((double)tally.Valid / tally.Samples, 4),
            tally.Traces.OrderByDescending(kv => kv.Value).Select(kv => new TraceCount(kv.Key, kv.Value)).ToList(),
            tally.Attributes.OrderBy(kv => kv.Key.Key, StringComparer.Ordinal).ThenByDescending(kv => kv.Value).Select(kv => new AttributeCount(kv.Key.Key, kv.Key.Value, kv.Value)).ToList(),
            Inspector.Stops(tally.Stops),
            Math.Round(cpuShare, 4),
            inspector.Variable.Report,
            problems);
    }

    private static Rows Build(Inspector inspector, Tally tally, TimeSpan elapsed, double cpuShare)
    {
        var stops = Inspector.Stops(tally.Stops);
        var header = new Markup(Markup.Escape($"pid {inspector.Pid}: {tally.Rounds} rounds, {tally.Samples} samples in {elapsed.TotalSeconds:0.0}s; valid records {tally.Valid} ({(tally.Samples == 0 ? 0 : 100.0 * tally.Valid / tally.Samples):0.0}% of samples); reader: {cpuShare * 100:0.0}% of a CPU, threads stopped {stops.MedianMicroseconds} µs median, {stops.MaxMicroseconds} µs max"));
        var traces = new Table().Title("per trace").AddColumns("trace id", "samples");
        foreach (var kv in tally.Traces.OrderByDescending(kv => kv.Value).Take(10))
        {
            traces.AddRow(kv.Key, kv.Value.ToString(CultureInfo.InvariantCulture));
        }

        var attributes = new Table().Title("per attribute value").AddColumns("key", "value", "samples");
        foreach (var kv in tally.Attributes.OrderByDescending(kv => kv.Value).Take(20))
        {
            attributes.AddRow(Markup.Escape(kv.Key.Key), Markup.Escape(kv.Key.Value), kv.Value.ToString(CultureInfo.InvariantCulture));
        }

        return new Rows(header, traces, attributes);
    }
}
