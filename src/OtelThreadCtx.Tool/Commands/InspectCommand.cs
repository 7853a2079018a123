using System.CommandLine;
using OtelThreadCtx.Tool.Live;
using OtelThreadCtx.Tool.Output;
using Spectre.Console;

namespace OtelThreadCtx.Tool.Commands;

/// <summary>`otel-thread-ctx inspect &lt;pid&gt;`: the process context and every thread's record, read once.</summary>
internal static class InspectCommand
{
    public static Command Create(Option<bool> json)
    {
        var pid = new Argument<int>("pid") { Description = "The process to read (Linux x86-64 or aarch64, same architecture as this tool)." };
        var command = new Command("inspect", "Read a live process as a profiler does: its OTEP 4719 process context, where otel_thread_ctx_v1 is, and every thread's record (each thread stopped for microseconds).")
        {
            pid,
            json,
        };
        command.SetAction(result => Run(result.GetValue(pid), result.GetValue(json)));
        return command;
    }

    public static int Run(int pid, bool json)
    {
        using var cancel = new Cancellation();
        Inspector inspector;
        List<ThreadReport> threads;
        try
        {
            inspector = Inspector.Open(pid);
            threads = inspector.SampleAll(cancel.Token);
        }
        catch (TargetException e)
        {
            return Fail(pid, e.Message, e.ExitCode, json);
        }
        catch (PtracePermissionException e)
        {
            return Fail(pid, e.Message, ExitCodes.PermissionDenied, json);
        }

        var problems = new List<string>();
        var context = inspector.Context;
        if (context.Error is not null)
        {
            problems.Add("process context: " + context.Error);
        }

        problems.AddRange(context.Problems.Select(p => "process context: " + p));
        if (inspector.Variable.Report.Error is { } ve)
        {
            problems.Add("thread context: " + ve);
        }

        problems.AddRange(threads.Where(t => t.Error is not null).Select(t => $"thread {t.Tid}: {t.Error}"));
        problems.AddRange(threads.Where(t => t.Record is not null).SelectMany(t => t.Record!.Problems.Where(p => !p.StartsWith("valid =", StringComparison.Ordinal)).Select(p => $"thread {t.Tid}: {p}")));
        if (cancel.Token.IsCancellationRequested)
        {
            problems.Add("interrupted: not every thread was read");
        }

        var report = new InspectReport(Json.ToolName, Json.SchemaVersion, "inspect", pid, problems.Count == 0, context, inspector.Variable.Report, threads, Inspector.Stops(threads.Select(t => t.StoppedMicroseconds)), problems);
        if (json)
        {
            Json.Write(report, ToolJsonContext.Default.InspectReport);
        }
        else
        {
            Render(report);
        }

        return report.Ok ? ExitCodes.Ok : ExitCodes.NotConformant;
    }

    private static int Fail(int pid, string message, int code, bool json)
    {
        if (json)
        {
            var none = ProcessContextReport.Missing("not read");
            var variable = new VariableReport(false, null, null, null, null, null, null, null, null, "not read");
            Json.Write(new InspectReport(Json.ToolName, Json.SchemaVersion, "inspect", pid, false, none, variable, [], new StopStatistics(0, 0, 0, 0), [message]), ToolJsonContext.Default.InspectReport);
        }
        else
        {
            Console.Error.WriteLine($"otel-thread-ctx: {message}");
        }

        return code;
    }

    public static void RenderContext(ProcessContextReport c)
    {
        var table = new Table().Title("process context (OTEP 4719)").AddColumns("attribute", "value");
        if (c.Decoded)
        {
            table.AddRow("mapping", Markup.Escape($"{c.Mapping}, version {c.Version}, {c.PayloadSize} bytes, published at {c.MonotonicPublishedAtNs} ns (CLOCK_BOOTTIME)"));
            foreach (var (k, v) in c.Resource)
            {
                table.AddRow("resource " + Markup.Escape(k), Markup.Escape(v));
            }

            table.AddRow(ProcessContextReader.SchemaVersionKey, Markup.Escape(c.ThreadlocalSchemaVersion ?? "(missing)"));
            table.AddRow(ProcessContextReader.KeyMapKey, Markup.Escape(c.AttributeKeyMap is null ? "(missing)" : string.Join(", ", c.AttributeKeyMap.Select((k, i) => $"{i}={k}"))));
            foreach (var (k, v) in c.Attributes)
            {
                table.AddRow(Markup.Escape(k), Markup.Escape(v));
            }
        }
        else
        {
            table.AddRow(c.Found ? "error" : "missing", "[red]" + Markup.Escape(c.Error ?? "") + "[/]");
        }

        AnsiConsole.Write(table);
    }

    private static void Render(InspectReport r)
    {
        RenderContext(r.ProcessContext);
        var v = r.Variable;
        AnsiConsole.MarkupLine(v.Found
            ? Markup.Escape($"otel_thread_ctx_v1: {v.Module}, {v.Model}, {v.Tls} TLS ({v.Libc}): {v.Detail}")
            : "[red]otel_thread_ctx_v1: " + Markup.Escape(v.Error ?? "") + "[/]");
        var keys = r.Threads.SelectMany(t => t.Record?.Attributes ?? []).Select(a => a.Key ?? $"#{a.KeyIndex}").Distinct().ToList();
        var table = new Table().AddColumns("tid", "name", "trace id", "span id", "flags", "valid").AddColumns(keys.Select(k => new TableColumn(Markup.Escape(k))).ToArray()).AddColumn("stopped µs");
        foreach (var t in r.Threads)
        {
            var cells = new List<string> { t.Tid.ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(t.Name) };
            if (t.Record is { } rec)
            {
                cells.AddRange([rec.TraceId, rec.SpanId, rec.TraceFlags.ToString("x2", System.Globalization.CultureInfo.InvariantCulture), rec.Valid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                cells.AddRange(keys.Select(k => Markup.Escape(rec.Attributes.LastOrDefault(a => (a.Key ?? $"#{a.KeyIndex}") == k)?.Value ?? "")));
            }
            else
            {
                cells.Add(t.Error is null ? "[grey]no record[/]" : "[red]" + Markup.Escape(t.Error) + "[/]");
                cells.AddRange(Enumerable.Repeat("", 3 + keys.Count));
            }

            cells.Add(t.StoppedMicroseconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture));
            table.AddRow(cells.ToArray());
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Markup.Escape($"{r.Stops.Threads} threads stopped: mean {r.Stops.MeanMicroseconds} µs, median {r.Stops.MedianMicroseconds} µs, max {r.Stops.MaxMicroseconds} µs each"));
        foreach (var p in r.Problems)
        {
            AnsiConsole.MarkupLine("[red]problem:[/] " + Markup.Escape(p));
        }
    }
}
