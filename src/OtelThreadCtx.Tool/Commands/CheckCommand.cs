using System.CommandLine;
using OtelThreadCtx.Tool.Output;
using Spectre.Console;

namespace OtelThreadCtx.Tool.Commands;

/// <summary>`otel-thread-ctx check &lt;file&gt;…`.</summary>
internal static class CheckCommand
{
    public static Command Create(Option<bool> json)
    {
        var files = new Argument<string[]>("file") { Arity = ArgumentArity.OneOrMore, Description = "Shared libraries or executables (x86-64 or aarch64)." };
        var command = new Command("check", "Check built files as a reader sees them on disk: the otel_thread_ctx_v1 symbol, its TLS access model, hardening, and the build's .verification.json.")
        {
            files,
            json,
        };
        command.SetAction(result => Run(result.GetValue(files) ?? [], result.GetValue(json)));
        return command;
    }

    public static int Run(IReadOnlyList<string> paths, bool json)
    {
        var reports = paths.Select(Checker.Check).ToList();
        var ok = reports.All(r => r.Ok);
        if (json)
        {
            Json.Write(new CheckReport(Json.ToolName, Json.SchemaVersion, "check", ok, reports), ToolJsonContext.Default.CheckReport);
        }
        else
        {
            Render(reports);
        }

        return reports.Any(r => r.Error is not null) ? ExitCodes.InputError : ok ? ExitCodes.Ok : ExitCodes.NotConformant;
    }

    private static void Render(List<FileReport> reports)
    {
        foreach (var r in reports)
        {
            // A file that could not be read (or is no ELF file) was not checked: say so, not that it failed the checks (exit 3, not 1).
            var verdict = r.Error is not null ? "[red]could not be checked[/]" : r.Ok ? "[green]conforms[/]" : "[red]does not conform[/]";
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(r.Path)}[/]: {verdict}");
            if (r.Error is not null)
            {
                AnsiConsole.MarkupLine($"  [red]{Markup.Escape(r.Error)}[/]");
                continue;
            }

            var table = new Table().AddColumns("check", "result");
            table.AddRow("machine / kind", Markup.Escape($"{r.Machine} {r.Kind}"));
            if (r.Symbol is { Found: true } s)
            {
                table.AddRow("symbol", Markup.Escape($"{s.Name}: {s.Type} {s.Bind} {s.Visibility} size {s.Size}"));
            }
            else
            {
                table.AddRow("symbol", "[red]missing[/]");
            }

            foreach (var a in r.AccessModels)
            {
                table.AddRow("access model", (a.Acceptable ? "[green]" : "[red]") + Markup.Escape($"{a.Model}: {a.Verdict} ({a.Relocations} relocations)") + "[/]");
            }

            if (r.Hardening is { } h)
            {
                table.AddRow("hardening", Markup.Escape($"relro {Yes(h.Relro)}, bind-now {Yes(h.BindNow)}, non-exec stack {Yes(h.NonExecutableStack)}"));
            }

            if (r.Verification is { } v)
            {
                table.AddRow("verification.json", (v.Matches ? "[green]sha256 matches[/]" : "[red]sha256 differs[/]") + Markup.Escape($" ({v.Path})"));
            }

            AnsiConsole.Write(table);
            foreach (var p in r.Problems)
            {
                AnsiConsole.MarkupLine($"  [red]problem:[/] {Markup.Escape(p)}");
            }

            foreach (var w in r.Warnings)
            {
                AnsiConsole.MarkupLine($"  [yellow]warning:[/] {Markup.Escape(w)}");
            }
        }
    }

    private static string Yes(bool b) => b ? "yes" : "no";
}
