using System.CommandLine;
using Spectre.Console;
using OtelThreadCtx.Tool;
using OtelThreadCtx.Tool.Commands;

var json = new Option<bool>("--json") { Description = "Write one JSON document (schema: docs/tool.md) instead of tables.", Recursive = true };
var root = new RootCommand("otel-thread-ctx: see what a profiler sees. Reads OpenTelemetry thread context (OTEP 4947) and process context (OTEP 4719) from built files and live processes.")
{
    json,
};
root.Subcommands.Add(CheckCommand.Create(json));
root.Subcommands.Add(InspectCommand.Create(json));
root.Subcommands.Add(WatchCommand.Create(json));

// Piped or redirected (a CI log, a file, grep), tables were 80 columns wide and wrapped each 32-digit trace id over
// several lines. There the width is $COLUMNS, else wide enough for the widest row.
if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out var columns) && columns > 0 ? columns : 240;
}

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"otel-thread-ctx: {error.Message}");
    }

    Console.Error.WriteLine("Run 'otel-thread-ctx --help' for usage.");
    return ExitCodes.Usage;
}

return parsed.Invoke();
