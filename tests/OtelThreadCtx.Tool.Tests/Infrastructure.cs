using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using CliWrap;
using CliWrap.Buffered;

namespace OtelThreadCtx.Tool.Tests;

/// <summary>Where things are: the repository, the tool beside the tests, the built libraries.</summary>
internal static class Paths
{
    public static string RepoRoot { get; } = typeof(Paths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "OtelThreadCtxRepoRoot").Value!;

    public static string Tool => Path.Combine(AppContext.BaseDirectory, "OtelThreadCtx.Tool.dll");

    public static string DotNetTarget => Path.Combine(AppContext.BaseDirectory, "OtelThreadCtx.ToolTarget.dll");

    /// <summary>The library of the mode these tests were built in, as the OtelThreadCtx project puts it beside them.</summary>
    public static string Library => Path.Combine(AppContext.BaseDirectory, "libotel_thread_ctx.so");

    public static string ShippedLibrary(string arch) => Path.Combine(RepoRoot, "artifacts", "native", "Release", "default", $"linux-{arch}", "libotel_thread_ctx.so");

    public static string NativeInclude => Path.Combine(RepoRoot, "native", "include");

    public static string NativeSources => Path.Combine(RepoRoot, "native", "src");

    public static string Writer => Path.Combine(AppContext.BaseDirectory, "native", "writer.c");
}

/// <summary>Runs otel-thread-ctx as its own process (as CI would) and parses its --json document.</summary>
internal static class ToolRunner
{
    public static async Task<(int ExitCode, JsonElement Json, string Stderr)> RunJsonAsync(params string[] args)
    {
        var result = await Cli.Wrap("dotnet").WithArguments([Paths.Tool, .. args, "--json"]).WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token);
        JsonElement json;
        try
        {
            json = JsonDocument.Parse(result.StandardOutput).RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"otel-thread-ctx {string.Join(' ', args)} wrote no JSON (exit {result.ExitCode}): {e.Message}\nstdout: {result.StandardOutput}\nstderr: {result.StandardError}", e);
        }

        return (result.ExitCode, json, result.StandardError);
    }

    public static async Task<BufferedCommandResult> RunAsync(params string[] args) =>
        await Cli.Wrap("dotnet").WithArguments([Paths.Tool, .. args]).WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token);
}

/// <summary>C compiles done by the tests (clang, as the product's own pipeline uses).</summary>
internal static class CCompiler
{
    /// <summary>The compiler and linker eng/install-toolchain.sh installs (the product's pipeline uses the same).</summary>
    private const string Clang = "clang-19";
    private const string Lld = "--ld-path=/usr/bin/ld.lld-19";

    public static Task<string> CompileAsync(string output, params string[] args) => CompileWithAsync(Clang, output, args);

    private static async Task<string> CompileWithAsync(string compiler, string output, string[] args)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        var result = await Cli.Wrap(compiler).WithArguments([.. args, "-o", output]).WithValidation(CommandResultValidation.None).ExecuteBufferedAsync();
        Assert.True(result.ExitCode == 0, $"{compiler} {string.Join(' ', args)} failed: {result.StandardError}");
        return output;
    }

    /// <summary>The product's C sources as a shared library, with the TLS dialect (and model) given.</summary>
    public static Task<string> LibraryAsync(string dir, params string[] flags) =>
        CompileAsync(Path.Combine(dir, "libotel_thread_ctx.so"), [
            "-std=c11", "-O2", "-fPIC", "-shared", "-fvisibility=hidden", .. flags, "-I", Paths.NativeInclude,
            Path.Combine(Paths.NativeSources, "otel_thread_ctx.c"), Path.Combine(Paths.NativeSources, "tls_shim.c"),
            "-Wl,-z,relro,-z,now,-z,noexecstack", Lld]);

    /// <summary>The product's C sources as a musl shared library (musl-gcc) and writer.c linked against it: the writer's
    /// interpreter is ld-musl, so the process runs on musl's loader, TLS and DTV.</summary>
    public static async Task<string> MuslWriterAsync(string dir, string dialect)
    {
        await CompileWithAsync("musl-gcc", Path.Combine(dir, "libotel_thread_ctx.so"), [
            "-std=c11", "-O2", "-fPIC", "-shared", "-fvisibility=hidden", $"-mtls-dialect={dialect}", "-I", Paths.NativeInclude,
            Path.Combine(Paths.NativeSources, "otel_thread_ctx.c"), Path.Combine(Paths.NativeSources, "tls_shim.c"), "-Wl,-z,relro,-z,now"]);
        return await CompileWithAsync("musl-gcc", Path.Combine(dir, "writer"), ["-O1", "-pthread", "-I", Paths.NativeInclude, Paths.Writer, "-L", dir, "-lotel_thread_ctx", $"-Wl,-rpath,{dir}"]);
    }

    /// <summary>writer.c linked against the library in <paramref name="libraryDir"/>.</summary>
    public static Task<string> WriterAgainstAsync(string libraryDir, string output) =>
        CompileAsync(output, ["-O1", "-pthread", Lld, "-I", Paths.NativeInclude, Paths.Writer, "-L", libraryDir, "-lotel_thread_ctx", $"-Wl,-rpath,{libraryDir}"]);

    /// <summary>writer.c with the product's sources in the executable itself, the variable exported in .dynsym. Linked by
    /// GNU ld, the PIE keeps a TPOFF64 GOT entry for its exported variable (initial-exec); with -ftls-model=local-exec and
    /// lld the offset is in the code (local-exec, the reader takes it from PT_TLS / link_map).</summary>
    public static Task<string> WriterDefiningVariableAsync(string output, bool localExec = false) =>
        CompileAsync(output, ["-O1", "-pthread", "-fPIE", "-pie", "-rdynamic", "-DDIRECT_SLOT", .. (localExec ? new[] { "-ftls-model=local-exec", Lld } : []), "-I", Paths.NativeInclude, "-I", Paths.NativeSources, Paths.Writer,
            Path.Combine(Paths.NativeSources, "otel_thread_ctx.c"), Path.Combine(Paths.NativeSources, "tls_shim.c")]);
}

/// <summary>What a target thread says it published.</summary>
internal sealed record Expected(int Tid, string TraceId, string SpanId, int Flags, string[] Values);

/// <summary>
/// A process the test starts and reads while it runs: it prints "thread &lt;tid&gt; &lt;trace&gt; &lt;span&gt; &lt;flags&gt; &lt;values…&gt;" per
/// thread, then "ready &lt;pid&gt;", and ends on "exit" (its stdin); disposal ends it (killed if it does not).
/// </summary>
internal sealed class LiveTarget : IAsyncDisposable
{
    private readonly TaskCompletionSource _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _kill = new();
    private readonly StringBuilder _stderr = new();
    private CommandTask<CommandResult>? _task;

    public int Pid { get; private set; }

    public List<Expected> Threads { get; } = [];

    public string Stderr => _stderr.ToString();

    /// <summary>The first line a server writes that matches <paramref name="ready"/> (its address, say).</summary>
    public string? ReadyLine { get; private set; }

    public static Task<LiveTarget> StartAsync(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null) =>
        StartAsync(program, args, environment, line => line.StartsWith("ready ", StringComparison.Ordinal));

    public static async Task<LiveTarget> StartAsync(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment, Func<string, bool> ready)
    {
        var target = new LiveTarget();
        var lines = Channel.CreateUnbounded<string>();
        var command = Cli.Wrap(program).WithArguments(args).WithValidation(CommandResultValidation.None)
            .WithEnvironmentVariables(environment ?? new Dictionary<string, string?>())
            .WithStandardInputPipe(PipeSource.Create(async (stream, ct) =>
            {
                await target._exit.Task.WaitAsync(ct);
                await stream.WriteAsync("exit\n"u8.ToArray(), ct);
            }))
            .WithStandardOutputPipe(PipeTarget.ToDelegate(line => lines.Writer.TryWrite(line)))
            .WithStandardErrorPipe(PipeTarget.ToStringBuilder(target._stderr));
        target._task = command.ExecuteAsync(target._kill.Token);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            while (true)
            {
                var line = await lines.Reader.ReadAsync(timeout.Token);
                var parts = line.Split(' ');
                if (parts[0] == "thread")
                {
                    target.Threads.Add(new Expected(int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), parts[2], parts[3], int.Parse(parts[4], System.Globalization.CultureInfo.InvariantCulture), parts[5..]));
                }
                else if (ready(line))
                {
                    target.ReadyLine = line;
                    target.Pid = target._task.ProcessId;
                    return target;
                }
            }
        }
        catch (OperationCanceledException)
        {
            await target.DisposeAsync();
            throw new InvalidOperationException($"{program} did not get ready: {target.Stderr}");
        }
    }

    public bool IsRunning => _task is { Task.IsCompleted: false };

    /// <summary>Ends the process the polite way; its exit code (0 = it ran to the end unharmed).</summary>
    public async Task<int> StopAsync()
    {
        _exit.TrySetResult();
        var result = await _task!.Task.WaitAsync(TimeSpan.FromSeconds(30));
        return result.ExitCode;
    }

    /// <summary>False for a server that does not read stdin: disposal kills it at once.</summary>
    public bool EndsOnExitCommand { get; set; } = true;

    public async ValueTask DisposeAsync()
    {
        _exit.TrySetResult();
        if (_task is not null)
        {
            try
            {
                await _task.Task.WaitAsync(EndsOnExitCommand ? TimeSpan.FromSeconds(15) : TimeSpan.Zero);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
                await _kill.CancelAsync();
                try
                {
                    await _task.Task;
                }
                catch (OperationCanceledException)
                {
                }
            }
        }

        _kill.Dispose();
    }
}

/// <summary>A temporary directory per test.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("otel-thread-ctx-tool-tests-").FullName;

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
