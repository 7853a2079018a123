using System.Text.Json;

namespace OtelThreadCtx.Tool.Tests;

internal static class Assertions
{
    /// <summary>Every thread the target reported is in the tool's report with exactly the record it published.</summary>
    public static void RecordsMatch(JsonElement report, LiveTarget target, string[]? keyNames = null)
    {
        Assert.NotEmpty(target.Threads);
        var threads = report.GetProperty("threads").EnumerateArray().ToDictionary(t => t.GetProperty("tid").GetInt32());
        foreach (var expected in target.Threads)
        {
            Assert.True(threads.TryGetValue(expected.Tid, out var thread), $"thread {expected.Tid} missing from the report");
            Assert.True(thread.GetProperty("record").ValueKind == JsonValueKind.Object, $"thread {expected.Tid}: no record ({thread.GetProperty("error")}, {thread.GetProperty("note")})");
            var record = thread.GetProperty("record");
            Assert.Equal(expected.TraceId, record.GetProperty("traceId").GetString());
            Assert.Equal(expected.SpanId, record.GetProperty("spanId").GetString());
            Assert.Equal(expected.Flags, record.GetProperty("traceFlags").GetInt32());
            Assert.Equal(1, record.GetProperty("valid").GetInt32());
            var attributes = record.GetProperty("attributes").EnumerateArray().ToList();
            Assert.Equal(expected.Values, attributes.Select(a => a.GetProperty("value").GetString()!).ToArray());
            if (keyNames is not null)
            {
                Assert.Equal(keyNames, attributes.Select(a => a.GetProperty("key").GetString()!).ToArray());
            }

            Assert.True(thread.GetProperty("stoppedMicroseconds").GetDouble() > 0);
        }

        // Threads that published nothing have no record (never a made-up one).
        foreach (var (tid, thread) in threads.Where(t => target.Threads.All(e => e.Tid != t.Key)))
        {
            Assert.True(thread.GetProperty("record").ValueKind == JsonValueKind.Null, $"thread {tid} ({thread.GetProperty("name")}) has a record it never published");
        }
    }

    /// <summary>No thread of the process is still traced or stopped after the tool ran.</summary>
    public static void NotTraced(int pid)
    {
        foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            string status;
            try
            {
                status = File.ReadAllText(Path.Combine(task, "status"));
            }
            catch (IOException)
            {
                continue;
            }

            Assert.Contains("TracerPid:\t0\n", status, StringComparison.Ordinal);
            Assert.DoesNotContain("State:\tt", status, StringComparison.Ordinal);
        }
    }

    public static string Variable(JsonElement report, string property) => report.GetProperty("variable").GetProperty(property).GetString() ?? "";
}
