using System.Text.Json;

namespace OtelThreadCtx.Tool.Tests;

/// <summary>docs/tool.md documents the --json schema: every property the tool writes is named there.</summary>
public sealed class DocsTests
{
    private static readonly string Docs = File.ReadAllText(Path.Combine(Paths.RepoRoot, "docs", "tool.md"));

    private static IEnumerable<string> Properties(JsonElement element, bool underMap = false)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in element.EnumerateObject())
            {
                if (!underMap)
                {
                    yield return p.Name;
                }

                // resource / attributes (process context) are maps of the target's own keys.
                var isMap = p.Name is "resource" || (p.Name == "attributes" && p.Value.ValueKind == JsonValueKind.Object);
                foreach (var inner in Properties(p.Value, isMap))
                {
                    yield return inner;
                }
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray())
            {
                foreach (var inner in Properties(item))
                {
                    yield return inner;
                }
            }
        }
    }

    [Fact]
    public async Task Every_json_property_of_check_inspect_and_watch_is_documented()
    {
        var (_, check, _) = await ToolRunner.RunJsonAsync("check", Paths.ShippedLibrary("x64"));
        await using var target = await LiveTarget.StartAsync("dotnet", [Paths.DotNetTarget, "1"]);
        var pid = target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var (_, inspect, _) = await ToolRunner.RunJsonAsync("inspect", pid);
        var (_, watch, _) = await ToolRunner.RunJsonAsync("watch", pid, "--duration", "200ms");
        var names = Properties(check).Concat(Properties(inspect)).Concat(Properties(watch)).Distinct().ToList();
        Assert.Contains("threadlocalSchemaVersion", names);
        var missing = names.Where(n => !Docs.Contains($"`{n}`", StringComparison.Ordinal) && !Docs.Contains($".{n}`", StringComparison.Ordinal) && !Docs.Contains($"`{n}[]`", StringComparison.Ordinal) && !Docs.Contains($".{n}[]`", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, "docs/tool.md does not document: " + string.Join(", ", missing));
        Assert.Equal(0, await target.StopAsync());
    }
}
