using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using CliWrap;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>NativeAOT apps that link the native layer in (issue 21): a consumer of the packed package published with
/// PublishAot=true, default and inline, x64 and arm64. Each app is published once for the whole class
/// (<see cref="NativeAotStaticApps"/>, ~1 min each); the tests read the executable and the running process from outside.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed partial class NativeAotStaticTests(PackageFeed feed, NativeAotStaticApps apps, ITestOutputHelper output) : IClassFixture<NativeAotStaticApps>
{
    private const string Qemu = "/usr/bin/qemu-aarch64-static";
    private const string CrossLibc = "/usr/aarch64-linux-gnu";
    private const int Threads = 3;

    /// <summary>The reference reader's binaries (../shared/conformance, built by its build.sh); absent on a CI runner,
    /// which has no network to build it.</summary>
    private static readonly string ReferenceReader = Environment.GetEnvironmentVariable("OTEL_CTX_REFERENCE_READER_BIN") is { Length: > 0 } bin ? bin : "/tmp/ctxr/bin";

    private static string Output(CliWrap.Buffered.BufferedCommandResult r) => r.StandardOutput + r.StandardError;

    [Theory]
    [InlineData("default", "linux-x64")]
    [InlineData("inline", "linux-x64")]
    [InlineData("default", "linux-arm64")]
    [InlineData("inline", "linux-arm64")]
    public async Task The_publish_links_the_archive_in_and_the_report_beside_the_executable_verifies_it(string mode, string rid)
    {
        var app = await apps.GetAsync(feed, mode, rid);
        Assert.False(File.Exists(Path.Combine(app.PublishDirectory, "libotel_thread_ctx.so")), "the shared library was published beside a statically linked executable");
        var needed = await Tools.OutputOfAsync("readelf", "-W", "-d", app.Executable);
        Assert.DoesNotContain("otel_thread_ctx", needed, StringComparison.Ordinal);

        // .dynsym: the variable as OTEP 4947 readers need it.
        var dynsym = await Tools.OutputOfAsync("readelf", "-W", "--dyn-syms", app.Executable);
        Assert.Matches(@"\s8\s+TLS\s+GLOBAL\s+DEFAULT\s+\d+\s+otel_thread_ctx_v1\b", dynsym);
        var relocations = await Tools.OutputOfAsync("readelf", "-W", "-r", app.Executable);
        Assert.DoesNotContain("otel_thread_ctx_v1", relocations, StringComparison.Ordinal);

        using var report = JsonDocument.Parse(File.ReadAllText(app.Executable + ".verification.json"));
        var root = report.RootElement;
        output.WriteLine(root.ToString());
        Assert.True(root.GetProperty("passed").GetBoolean());
        Assert.Equal(mode, root.GetProperty("mode").GetString());
        Assert.Equal(rid, root.GetProperty("target").GetString());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(app.Executable))), root.GetProperty("sha256").GetString());
        var checks = root.GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("id").GetString()!, c => c);
        Assert.Equal(["hardening-bind-now", "hardening-noexecstack", "hardening-relro", "slot-access", "static-tls", "tls-symbol-exported"], checks.Keys.Order(StringComparer.Ordinal));
        Assert.All(checks.Values, c => Assert.True(c.GetProperty("passed").GetBoolean(), c.ToString()));
        var evidence = checks["slot-access"].GetProperty("evidence").EnumerateArray().Select(e => e.GetString()!).ToList();
        var access = rid == "linux-arm64" ? "tpidr_el0" : "%fs:";
        if (mode == "inline")
        {
            // The API functions hold the thread-pointer access themselves; the shim is gone, and the link was lld's.
            Assert.Contains(evidence, e => e.StartsWith("otel_thread_ctx_set: ", StringComparison.Ordinal) && e.Contains(access, StringComparison.OrdinalIgnoreCase));
            Assert.Contains(evidence, e => e.StartsWith("otel_thread_ctx_read_current: ", StringComparison.Ordinal) && e.Contains(access, StringComparison.OrdinalIgnoreCase));
            Assert.DoesNotContain("otel_thread_ctx_shim_slot", await Tools.OutputOfAsync("nm", app.Executable + ".dbg"), StringComparison.Ordinal);
            Assert.Contains("Linker: Debian LLD", await Tools.OutputOfAsync("readelf", "-p", ".comment", app.Executable), StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains(evidence, e => e.StartsWith("otel_thread_ctx_shim_slot: ", StringComparison.Ordinal) && e.Contains(access, StringComparison.OrdinalIgnoreCase));
            Assert.Contains(evidence, e => e == "otel_thread_ctx_read_current: calls otel_thread_ctx_shim_slot");
        }

        // The managed code calls the C API directly (DirectPInvoke), and the shared-library path was trimmed away.
        var symbols = await Tools.OutputOfAsync("nm", app.Executable + ".dbg");
        Assert.DoesNotContain("NativeLibraryCheck", symbols, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("default")]
    [InlineData("inline")]
    public async Task Gdb_and_the_tool_read_every_threads_record_from_the_running_executable(string mode)
    {
        var app = await apps.GetAsync(feed, mode, "linux-x64");
        await using var running = await RunningApp.StartAsync(app.Executable, [Threads.ToString(CultureInfo.InvariantCulture)], output);
        Assert.Equal(Threads, running.Threads.Count);

        // gdb, through libthread_db: each thread's slot and the record's header.
        var gdb = await Tools.RunAsync("gdb", ["-p", running.Pid.ToString(CultureInfo.InvariantCulture), "-batch", "-nx", "-ex", "set debuginfod enabled off", "-ex",
            "python\nfor t in gdb.selected_inferior().threads():\n  t.switch()\n  p = int(gdb.parse_and_eval('(unsigned long)(*(void**)&otel_thread_ctx_v1)'))\n  d = bytes(gdb.selected_inferior().read_memory(p, 28)).hex() if p else ''\n  print('GDB %d %s' % (t.ptid[1], d))\nend"]);
        output.WriteLine(Output(gdb));
        var seen = GdbLine().Matches(gdb.StandardOutput).ToDictionary(m => int.Parse(m.Groups["tid"].Value, CultureInfo.InvariantCulture), m => m.Groups["record"].Value);
        foreach (var thread in running.Threads)
        {
            Assert.True(seen.TryGetValue(thread.Tid, out var record), $"gdb read nothing for thread {thread.Tid}:\n{Output(gdb)}");
            Assert.Equal(thread.TraceId + thread.SpanId, record[..48]);
            Assert.Equal("01", record[48..50]);
            Assert.Equal(thread.Flags.ToString("x2", CultureInfo.InvariantCulture), record[50..52]);
        }

        // The project's reader (#17): the variable located as local-exec in the executable, every record decoded.
        var tool = Directory.GetFiles(Repo.Path("src", "OtelThreadCtx.Tool", "bin", "Release"), "OtelThreadCtx.Tool.dll", SearchOption.AllDirectories).Single();
        var inspect = await Tools.RunAsync("dotnet", [tool, "inspect", running.Pid.ToString(CultureInfo.InvariantCulture), "--json"]);
        output.WriteLine(Output(inspect));
        Assert.True(inspect.ExitCode == 0, Output(inspect));
        using var json = JsonDocument.Parse(inspect.StandardOutput);
        var variable = json.RootElement.GetProperty("variable");
        Assert.Equal(app.Executable, variable.GetProperty("module").GetString());
        Assert.Equal("local-exec", variable.GetProperty("model").GetString());
        Assert.Equal("static", variable.GetProperty("tls").GetString());
        var records = json.RootElement.GetProperty("threads").EnumerateArray().ToDictionary(t => t.GetProperty("tid").GetInt32());
        foreach (var thread in running.Threads)
        {
            var record = records[thread.Tid].GetProperty("record");
            Assert.Equal(thread.TraceId, record.GetProperty("traceId").GetString());
            Assert.Equal(thread.SpanId, record.GetProperty("spanId").GetString());
            Assert.Equal(thread.Values, record.GetProperty("attributes").EnumerateArray().Select(a => a.GetProperty("value").GetString()!).ToArray());
            Assert.Equal(["http.route", "enduser.id"], record.GetProperty("attributes").EnumerateArray().Select(a => a.GetProperty("key").GetString()!).ToArray());
        }

        Assert.Equal(0, await running.StopAsync());
    }

    [SkippableTheory]
    [InlineData("default")]
    [InlineData("inline")]
    public async Task The_reference_reader_accepts_the_executable_and_validates_the_running_process(string mode)
    {
        Skip.IfNot(File.Exists(Path.Combine(ReferenceReader, "validate")), $"the reference reader is not built ({ReferenceReader}; /work/shared/conformance/build.sh builds it)");
        var app = await apps.GetAsync(feed, mode, "linux-x64");
        var check = await Tools.RunAsync(Path.Combine(ReferenceReader, "check-elf"), ["--executable", app.Executable]);
        output.WriteLine(Output(check));
        Assert.True(check.ExitCode == 0, Output(check));
        Assert.Matches(@"otel_thread_ctx_v1\s*\|\s*yes\s*\|\s*Static TLS\s*\|\s*✓ PASS", check.StandardOutput);

        await using var running = await RunningApp.StartAsync(app.Executable, [Threads.ToString(CultureInfo.InvariantCulture)], output);
        var validate = await Tools.RunAsync(Path.Combine(ReferenceReader, "validate"), [running.Pid.ToString(CultureInfo.InvariantCulture)]);
        output.WriteLine(Output(validate));
        Assert.True(validate.ExitCode == 0, Output(validate));
        Assert.Contains("Static TLS", Output(validate), StringComparison.Ordinal);
        // It reports the first thread with a record: one of ours, with its ids and attributes.
        var ok = ValidateLine().Match(validate.StandardOutput);
        Assert.True(ok.Success, Output(validate));
        var thread = running.Threads.Single(t => t.Tid == int.Parse(ok.Groups["tid"].Value, CultureInfo.InvariantCulture));
        Assert.Equal($"trace_id={thread.TraceId}, span_id={thread.SpanId}, http.route={thread.Values[0]}, enduser.id={thread.Values[1]}", ok.Groups["labels"].Value);
        Assert.Equal(0, await running.StopAsync());
    }

    [Theory]
    [InlineData("default")]
    [InlineData("inline")]
    public async Task The_arm64_executable_runs_under_qemu_and_publishes_on_every_thread(string mode)
    {
        var app = await apps.GetAsync(feed, mode, "linux-arm64");
        Assert.Contains("AArch64", await Tools.OutputOfAsync("readelf", "-h", app.Executable), StringComparison.Ordinal);
        await using var running = await RunningApp.StartAsync(Qemu, ["-L", CrossLibc, app.Executable, Threads.ToString(CultureInfo.InvariantCulture)], output);
        Assert.Equal(Threads, running.Threads.Count);
        Assert.Contains("supported=True", running.ReadyLine, StringComparison.Ordinal);
        Assert.Equal(0, await running.StopAsync());
    }

    [Fact]
    public async Task An_inline_static_link_forced_onto_gnu_ld_stops_with_OTC1114_and_publishes_nothing()
    {
        using var project = new ConsumerProject(feed, extraProperties: "<PublishAot>true</PublishAot><InvariantGlobalization>true</InvariantGlobalization>");
        var publishDir = Path.Combine(project.Directory, "publish");
        var publish = await project.DotnetAsync(null, "publish", "-c", "Release", "-r", "linux-x64", "-o", publishDir, "-p:OtelThreadCtxInline=true", "-p:LinkerFlavor=bfd");
        output.WriteLine(Output(publish));
        Assert.NotEqual(0, publish.ExitCode);
        Assert.Contains("error OTC1114: LinkerFlavor is 'bfd', but the inline NativeAOT static link hands the linker LLVM bitcode", publish.StandardOutput, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(publishDir, "App")), "an executable was published");
    }

    [GeneratedRegex(@"^GDB (?<tid>\d+) (?<record>[0-9a-f]{56})$", RegexOptions.Multiline)]
    private static partial Regex GdbLine();

    [GeneratedRegex(@"VALIDATE OK: \[v2\] thread=(?<tid>\d+), labels=\[(?<labels>[^\]]*)\]")]
    private static partial Regex ValidateLine();
}

/// <summary>The apps of <see cref="NativeAotStaticTests"/>, each published once (by mode and RID) and shared by its tests.</summary>
public sealed class NativeAotStaticApps : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<PublishedApp>>> apps = new(StringComparer.Ordinal);
    private readonly ConcurrentBag<ConsumerProject> projects = [];

    public sealed record PublishedApp(string PublishDirectory, string Executable);

    public Task<PublishedApp> GetAsync(PackageFeed feed, string mode, string rid) =>
        apps.GetOrAdd($"{mode}-{rid}", _ => new Lazy<Task<PublishedApp>>(() => PublishAsync(feed, mode, rid))).Value;

    private async Task<PublishedApp> PublishAsync(PackageFeed feed, string mode, string rid)
    {
        // The tool's target program: N threads each publish a known record (ids, two attributes) and print it, then wait.
        var project = new ConsumerProject(feed, extraProperties:
            "<PublishAot>true</PublishAot><InvariantGlobalization>true</InvariantGlobalization><AllowUnsafeBlocks>true</AllowUnsafeBlocks><TreatWarningsAsErrors>true</TreatWarningsAsErrors>",
            body: File.ReadAllText(Repo.Path("tests", "OtelThreadCtx.ToolTarget", "Program.cs")),
            directoryPrefix: "otc aot consumer "); // a space in every path: ILCompiler passes native libraries to the linker unquoted
        projects.Add(project);
        var publishDir = Path.Combine(project.Directory, "publish");
        var publish = await project.DotnetAsync(null, "publish", "-c", "Release", "-r", rid, "-o", publishDir, $"-p:OtelThreadCtxInline={(mode == "inline" ? "true" : "false")}");
        Assert.True(publish.ExitCode == 0, publish.StandardOutput + publish.StandardError);
        // Warnings as errors, and none of the trimming or AOT analysis warnings (ILxxxx) either.
        Assert.DoesNotMatch(@"warning (IL|CS|CA)\d{4}", publish.StandardOutput);
        Assert.Contains("OtelThreadCtx: NativeAOT static link", publish.StandardOutput, StringComparison.Ordinal);
        // The executable's verification names its report by its full path, as every other path the build prints (a user
        // trial found it relative to the project).
        Assert.Matches(@"\w+ \(linux-(x64|arm64)\) verified: \d+/\d+ checks passed \[[^\]]*\]; report: " + Regex.Escape(Path.Combine(project.ProjectDirectory, "bin")), publish.StandardOutput);
        return new PublishedApp(publishDir, Path.Combine(publishDir, "App"));
    }

    public void Dispose()
    {
        foreach (var project in projects)
        {
            project.Dispose();
        }
    }
}

/// <summary>One thread's record as the target program printed it: "thread &lt;tid&gt; &lt;trace&gt; &lt;span&gt; &lt;flags&gt; &lt;values…&gt;".</summary>
internal sealed record PublishedThread(int Tid, string TraceId, string SpanId, int Flags, string[] Values);

/// <summary>The target program while it runs: started, read up to its "ready" line, ended by "exit" on its stdin (killed
/// on disposal if it does not end).</summary>
internal sealed class RunningApp : IAsyncDisposable
{
    private readonly TaskCompletionSource release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource kill = new();
    private readonly System.Text.StringBuilder stderr = new();
    private CommandTask<CommandResult>? task;

    public int Pid { get; private set; }

    public List<PublishedThread> Threads { get; } = [];

    public string ReadyLine { get; private set; } = string.Empty;

    public static async Task<RunningApp> StartAsync(string program, IEnumerable<string> args, ITestOutputHelper output)
    {
        var app = new RunningApp();
        var lines = System.Threading.Channels.Channel.CreateUnbounded<string>();
        app.task = Cli.Wrap(program).WithArguments(args).WithValidation(CommandResultValidation.None)
            .WithStandardInputPipe(PipeSource.Create(async (stream, ct) =>
            {
                await app.release.Task.WaitAsync(ct);
                await stream.WriteAsync("exit\n"u8.ToArray(), ct);
            }))
            .WithStandardOutputPipe(PipeTarget.ToDelegate(line => lines.Writer.TryWrite(line)))
            .WithStandardErrorPipe(PipeTarget.ToStringBuilder(app.stderr))
            .ExecuteAsync(app.kill.Token);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            while (true)
            {
                var line = await lines.Reader.ReadAsync(timeout.Token);
                output.WriteLine(line);
                var parts = line.Split(' ');
                if (parts[0] == "thread")
                {
                    app.Threads.Add(new PublishedThread(int.Parse(parts[1], CultureInfo.InvariantCulture), parts[2], parts[3], int.Parse(parts[4], CultureInfo.InvariantCulture), parts[5..]));
                }
                else if (parts[0] == "ready")
                {
                    app.ReadyLine = line;
                    app.Pid = int.Parse(parts[1], CultureInfo.InvariantCulture);
                    return app;
                }
            }
        }
        catch (OperationCanceledException)
        {
            await app.DisposeAsync();
            throw new InvalidOperationException($"{program} did not get ready: {app.stderr}");
        }
    }

    public async Task<int> StopAsync()
    {
        release.TrySetResult();
        return (await task!.Task.WaitAsync(TimeSpan.FromSeconds(30))).ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        release.TrySetResult();
        if (task is not null)
        {
            try
            {
                await task.Task.WaitAsync(TimeSpan.FromSeconds(15));
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
                await kill.CancelAsync();
                try
                {
                    await task.Task;
                }
                catch (OperationCanceledException)
                {
                }
            }
        }

        kill.Dispose();
    }
}
