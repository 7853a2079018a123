using System.Text.Json;
using CliWrap;
using CliWrap.Buffered;

namespace OtelThreadCtx.Tool.Tests;

/// <summary>`inspect` on real processes: what the tool reads equals what each thread says it published.</summary>
public sealed class InspectTests
{
    private static readonly string[] DotNetKeys = ["http.route", "enduser.id"];

    private static Task<LiveTarget> StartDotNetAsync(IReadOnlyDictionary<string, string?>? environment = null) =>
        LiveTarget.StartAsync("dotnet", [Paths.DotNetTarget, "3"], environment);

    [Fact]
    public async Task Jit_app_process_context_and_every_thread_record()
    {
        await using var target = await StartDotNetAsync();
        var (exit, json, stderr) = await ToolRunner.RunJsonAsync("inspect", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(exit == 0, $"exit {exit}: {json.GetProperty("problems")} {stderr}");
        var context = json.GetProperty("processContext");
        Assert.True(context.GetProperty("decoded").GetBoolean());
        Assert.Equal("tool-target", context.GetProperty("resource").GetProperty("service.name").GetString());
        Assert.Equal("tlsdesc_v1_dev", context.GetProperty("threadlocalSchemaVersion").GetString());
        Assert.Equal(DotNetKeys, context.GetProperty("attributeKeyMap").EnumerateArray().Select(k => k.GetString()).Take(2).ToArray());
        Assert.Equal("tlsdesc", Assertions.Variable(json, "model"));
        Assert.Equal("static", Assertions.Variable(json, "tls"));
        Assert.Equal("glibc", Assertions.Variable(json, "libc"));
        Assertions.RecordsMatch(json, target, DotNetKeys);
        Assertions.NotTraced(target.Pid);
        Assert.Equal(0, await target.StopAsync());
    }

    /// <summary>The table, written to a pipe (a CI log), carries each 32-digit trace id whole on one line (it was 80
    /// columns wide there and wrapped them).</summary>
    [Fact]
    public async Task The_table_written_to_a_pipe_keeps_every_trace_id_on_one_line()
    {
        await using var target = await StartDotNetAsync();
        var pid = target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var (_, json, _) = await ToolRunner.RunJsonAsync("inspect", pid);
        var traceIds = System.Text.RegularExpressions.Regex.Matches(json.GetRawText(), "\"traceId\":\\s*\"([0-9a-f]{32})\"").Select(m => m.Groups[1].Value).ToArray();
        Assert.NotEmpty(traceIds);
        var table = await ToolRunner.RunAsync("inspect", pid);
        foreach (var traceId in traceIds)
        {
            Assert.Contains(traceId, table.StandardOutput, StringComparison.Ordinal);
        }

        Assert.Equal(0, await target.StopAsync());
    }

    [Fact]
    public async Task Tlsdesc_resolved_dynamically_is_read_through_the_dtv()
    {
        await using var target = await StartDotNetAsync(new Dictionary<string, string?> { ["GLIBC_TUNABLES"] = "glibc.rtld.optional_static_tls=0" });
        var (_, json, _) = await ToolRunner.RunJsonAsync("inspect", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("tlsdesc", Assertions.Variable(json, "model"));
        Assert.Equal("dynamic", Assertions.Variable(json, "tls"));
        Assert.True(json.GetProperty("variable").GetProperty("moduleId").GetUInt64() > 1);
        Assertions.RecordsMatch(json, target);
        Assertions.NotTraced(target.Pid);
        Assert.Equal(0, await target.StopAsync());
    }

    [Fact]
    public async Task C_program_loading_the_library_without_process_context()
    {
        using var dir = new TempDir();
        var writer = await CCompiler.WriterAgainstAsync(Path.GetDirectoryName(Paths.Library)!, dir["writer"]);
        await using var target = await LiveTarget.StartAsync(writer, ["3"]);
        var (exit, json, _) = await ToolRunner.RunJsonAsync("inspect", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1, exit);
        Assert.False(json.GetProperty("processContext").GetProperty("found").GetBoolean());
        Assert.Contains(json.GetProperty("problems").EnumerateArray(), p => p.GetString()!.Contains("no OTEL_CTX mapping", StringComparison.Ordinal));
        Assert.Equal("tlsdesc", Assertions.Variable(json, "model"));
        Assertions.RecordsMatch(json, target);
        Assert.Equal(0, await target.StopAsync());
    }

    [Fact]
    public async Task Traditional_dialect_library_is_read_as_general_dynamic()
    {
        using var dir = new TempDir();
        var libraryDir = Directory.CreateDirectory(dir["gnu"]).FullName;
        await CCompiler.LibraryAsync(libraryDir, "-mtls-dialect=gnu");
        var writer = await CCompiler.WriterAgainstAsync(libraryDir, dir["writer"]);
        await using var target = await LiveTarget.StartAsync(writer, ["3"]);
        var (_, json, _) = await ToolRunner.RunJsonAsync("inspect", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("general-dynamic", Assertions.Variable(json, "model"));
        Assert.Equal("dynamic", Assertions.Variable(json, "tls"));
        Assertions.RecordsMatch(json, target);
        Assert.Equal(0, await target.StopAsync());
    }

    [Theory]
    [InlineData("initial-exec")]
    [InlineData("local-exec")]
    public async Task Executable_defining_the_variable_is_read_through_its_model(string model)
    {
        using var dir = new TempDir();
        var writer = await CCompiler.WriterDefiningVariableAsync(dir["writer"], model == "local-exec");
        await using var target = await LiveTarget.StartAsync(writer, ["3"]);
        var (_, json, _) = await ToolRunner.RunJsonAsync("inspect", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(model, Assertions.Variable(json, "model"));
        Assert.Equal("static", Assertions.Variable(json, "tls"));
        Assertions.RecordsMatch(json, target);
        Assert.Equal(0, await target.StopAsync());
    }

    /// <summary>musl: TLSDESC (musl resolves every library loaded at startup into static TLS) and the traditional dialect,
    /// read through musl's DTV (one pointer per module, its pointer beside the thread's self pointer).</summary>
    [Theory]
    [InlineData("gnu2", "tlsdesc", "static")]
    [InlineData("gnu", "general-dynamic", "dynamic")]
    public async Task Musl_process_is_read_through_its_own_tls_layout(string dialect, string model, string tls)
    {
        using var dir = new TempDir();
        var writer = await CCompiler.MuslWriterAsync(dir.Path, dialect);
        await using var target = await LiveTarget.StartAsync(writer, ["3"]);
        var (_, json, _) = await ToolRunner.RunJsonAsync("inspect", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("musl", Assertions.Variable(json, "libc"));
        Assert.Equal(model, Assertions.Variable(json, "model"));
        Assert.Equal(tls, Assertions.Variable(json, "tls"));
        Assertions.RecordsMatch(json, target);
        Assertions.NotTraced(target.Pid);
        Assert.Equal(0, await target.StopAsync());
    }

    [Fact]
    public async Task Garbage_in_the_target_is_reported_and_the_target_is_unharmed()
    {
        using var dir = new TempDir();
        var writer = await CCompiler.WriterDefiningVariableAsync(dir["writer-le"]);
        await using var target = await LiveTarget.StartAsync(writer, ["3", "garbage"]);
        var (exit, json, _) = await ToolRunner.RunJsonAsync("inspect", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1, exit);
        var threads = json.GetProperty("threads").EnumerateArray().ToDictionary(t => t.GetProperty("tid").GetInt32());
        var badSize = threads[target.Threads[0].Tid];
        Assert.Contains(badSize.GetProperty("record").GetProperty("problems").EnumerateArray(), p => p.GetString()!.Contains("attrs_data_size 5000", StringComparison.Ordinal));
        var unmapped = threads[target.Threads[1].Tid];
        Assert.Equal("0x10", unmapped.GetProperty("recordAddress").GetString());
        Assert.Contains("unreadable", unmapped.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(target.Threads[2].SpanId, threads[target.Threads[2].Tid].GetProperty("record").GetProperty("spanId").GetString());
        Assertions.NotTraced(target.Pid);
        Assert.Equal(0, await target.StopAsync());
    }

    /// <summary>The cross-check: gdb, through libthread_db, reads each thread's slot and record header; the tool must agree.</summary>
    [Fact]
    public async Task Every_record_equals_what_gdb_reads_through_libthread_db()
    {
        await using var target = await StartDotNetAsync();
        var (_, json, _) = await ToolRunner.RunJsonAsync("inspect", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        const string Script = """
            python
            import gdb
            for t in gdb.selected_inferior().threads():
                t.switch()
                p = int(gdb.parse_and_eval("(unsigned long)(*(void**)&otel_thread_ctx_v1)"))
                data = bytes(gdb.selected_inferior().read_memory(p, 28)) if p else b""
                print("GDB %d 0x%x %s" % (t.ptid[1], p, data.hex()))
            end
            """;
        using var dir = new TempDir();
        await File.WriteAllTextAsync(dir["read.gdb"], Script);
        var gdb = await Cli.Wrap("gdb").WithArguments(["-p", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "-batch", "-nx", "-ex", "set debuginfod enabled off", "-x", dir["read.gdb"]])
            .WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token);
        var seen = gdb.StandardOutput.Split('\n').Where(l => l.StartsWith("GDB ", StringComparison.Ordinal)).Select(l => l.Split(' ')).ToDictionary(p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(seen.Count >= target.Threads.Count, $"gdb read {seen.Count} threads: {gdb.StandardOutput} {gdb.StandardError}");
        var compared = 0;
        foreach (var thread in json.GetProperty("threads").EnumerateArray())
        {
            if (!seen.TryGetValue(thread.GetProperty("tid").GetInt32(), out var g))
            {
                continue;
            }

            compared++;
            var record = thread.GetProperty("record");
            if (g[2] == "0x0")
            {
                Assert.Equal(JsonValueKind.Null, record.ValueKind);
                continue;
            }

            Assert.Equal(g[2], thread.GetProperty("recordAddress").GetString());
            var header = Convert.FromHexString(g[3]);
            Assert.Equal(Convert.ToHexStringLower(header, 0, 16), record.GetProperty("traceId").GetString());
            Assert.Equal(Convert.ToHexStringLower(header, 16, 8), record.GetProperty("spanId").GetString());
            Assert.Equal(header[24], record.GetProperty("valid").GetInt32());
            Assert.Equal(header[25], record.GetProperty("traceFlags").GetInt32());
            Assert.Equal(BitConverter.ToUInt16(header, 26), record.GetProperty("attrsDataSize").GetInt32());
        }

        Assert.True(compared >= target.Threads.Count);
        Assertions.NotTraced(target.Pid);
        Assert.Equal(0, await target.StopAsync());
    }

    [Fact]
    public async Task No_such_process_is_an_input_error()
    {
        var result = await ToolRunner.RunAsync("inspect", "2147483");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("no process 2147483", result.StandardError, StringComparison.Ordinal);
    }
}
