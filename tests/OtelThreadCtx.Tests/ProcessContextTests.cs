using System.Diagnostics;
using System.Runtime.InteropServices;
using OtelThreadCtx.ProcessContext;
using Xunit.Abstractions;

namespace OtelThreadCtx.Tests;

/// <summary>OTEP 4719 publication, read back from outside the publishing process.</summary>
public sealed class ProcessContextTests(ITestOutputHelper output)
{
    private sealed class Probe : IDisposable
    {
        public Probe(Dictionary<string, string?> environment, params string[] launcher)
        {
            string[] command = [.. launcher, "dotnet", Path.Combine(AppContext.BaseDirectory, "OtelThreadCtx.ProcessContextProbe.dll")];
            var info = new ProcessStartInfo(command[0], command[1..])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (var (k, v) in environment)
            {
                info.Environment[k] = v;
            }

            Process = Process.Start(info)!;
            Ready = Process.StandardOutput.ReadLine() ?? "(no output)";
        }

        public Process Process { get; }

        public string Ready { get; }

        public void Send(string line)
        {
            Process.StandardInput.WriteLine(line);
            Process.StandardInput.Flush();
        }

        public void Dispose()
        {
            try
            {
                Send("exit");
                if (!Process.WaitForExit(10_000))
                {
                    Process.Kill();
                }
            }
            catch (IOException)
            {
            }

            Process.Dispose();
        }
    }

    private static readonly Dictionary<string, string?> Environment = new()
    {
        ["OTEL_SERVICE_NAME"] = "probe-service",
        ["OTEL_RESOURCE_ATTRIBUTES"] = "service.version=1.2.3,deployment.environment.name=staging,service.instance.id=instance%2D7,other.key=ignored",
    };

    [Fact]
    public void An_external_reader_finds_reads_and_decodes_the_context()
    {
        var startedAtBootNs = BootClock.Nanoseconds();
        using var probe = new Probe(Environment);
        Assert.Equal("ready Memfd", probe.Ready);

        var (outcome, snapshot) = ProcessContextReader.Read(probe.Process.Id);

        Assert.Equal(ProcessContextReader.ReadOutcome.Consistent, outcome);
        output.WriteLine($"maps: {snapshot!.MapsLine}");
        Assert.EndsWith("/memfd:OTEL_CTX (deleted)", snapshot.MapsLine, StringComparison.Ordinal);
        Assert.Equal("rw-p", MapsPermissions(snapshot.MapsLine)); // MAP_PRIVATE
        Assert.Equal(SealedMode, MemfdMode(probe.Process.Id, snapshot.MapsLine)); // MFD_NOEXEC_SEAL: no exec bits
        Assert.Equal("OTEL_CTX", snapshot.Signature);
        Assert.Equal(2u, snapshot.Version);
        Assert.True(snapshot.PayloadSize > 0);
        Assert.InRange(snapshot.PublishedAtNs, startedAtBootNs, BootClock.Nanoseconds());
        output.WriteLine(snapshot.Context.ToString());

        // Where every key sits: the resource holds what the SDK, the caller and the environment give ...
        var resource = snapshot.Resource;
        Assert.Equal("probe-service", resource["service.name"].StringValue);
        Assert.Equal("1.2.3", resource["service.version"].StringValue);
        Assert.Equal("staging", resource["deployment.environment.name"].StringValue);
        Assert.Equal("instance-7", resource["service.instance.id"].StringValue);
        Assert.Equal("custom-value", resource["probe.custom"].StringValue);
        Assert.Equal(42, resource["probe.count"].IntValue);
        Assert.False(resource.ContainsKey("other.key"));
        Assert.DoesNotContain(resource.Keys, k => k.StartsWith("threadlocal.", StringComparison.Ordinal));

        // ... and ProcessContext.attributes exactly OTEP 4947's two keys.
        var attributes = snapshot.Attributes;
        Assert.Equal(["threadlocal.schema_version", "threadlocal.attribute_key_map"], snapshot.Context.Attributes.Select(a => a.Key));
        Assert.Equal("tlsdesc_v1_dev", attributes["threadlocal.schema_version"].StringValue);
        Assert.Equal(OtelThreadCtx.Protocol.Common.AnyValue.ValueOneofCase.ArrayValue, attributes["threadlocal.attribute_key_map"].ValueCase);
        Assert.Empty(snapshot.KeyMap);
    }

    [Fact]
    public async Task Readers_never_decode_a_torn_payload_while_keys_are_appended()
    {
        using var probe = new Probe(Environment);
        probe.Send("append 1000");
        var counts = new Dictionary<ProcessContextReader.ReadOutcome, int>();
        var done = probe.Process.StandardOutput.ReadLineAsync();
        var lastKeyCount = 0;
        var lastGeneration = -1L;
        var lastTimestamp = 0UL;
        var distinctTimestamps = 0;
        var reads = 0;
        while (!done.IsCompleted || reads == 0)
        {
            var (outcome, snapshot) = ProcessContextReader.Read(probe.Process.Id);
            reads++;
            counts[outcome] = counts.GetValueOrDefault(outcome) + 1;
            if (snapshot is null)
            {
                continue;
            }

            // A consistent read is a whole, in-order key map that never shrinks, under a timestamp that only grows.
            var keys = snapshot.KeyMap;
            Assert.Equal(Enumerable.Range(0, keys.Count).Select(i => $"probe.key.{i}"), keys);
            Assert.True(keys.Count >= lastKeyCount);
            lastKeyCount = keys.Count;
            var generation = snapshot.Resource.TryGetValue("probe.generation", out var g) ? g.IntValue : -1;
            Assert.True(generation >= lastGeneration);
            lastGeneration = generation;
            Assert.True(snapshot.PublishedAtNs >= lastTimestamp, $"timestamp went back: {snapshot.PublishedAtNs} after {lastTimestamp}");
            distinctTimestamps += snapshot.PublishedAtNs != lastTimestamp ? 1 : 0;
            lastTimestamp = snapshot.PublishedAtNs;
            Assert.True(snapshot.PublishedAtNs <= BootClock.Nanoseconds());
        }

        Assert.Equal("appended 1000", await done);
        var final = ProcessContextReader.Read(probe.Process.Id).Snapshot!;
        Assert.Equal(ThreadContextKeys.MaxKeys, final.KeyMap.Count);
        Assert.Equal(999, final.Resource["probe.generation"].IntValue);
        Assert.True(final.PublishedAtNs > lastTimestamp || distinctTimestamps > 1);
        output.WriteLine(string.Join(", ", counts.Select(kv => $"{kv.Key}: {kv.Value}")) + $"; distinct timestamps seen: {distinctTimestamps}");
        Assert.True(counts.GetValueOrDefault(ProcessContextReader.ReadOutcome.Consistent) > 0);
    }

    [Fact]
    public async Task A_forked_child_does_not_inherit_the_mapping()
    {
        var helper = await BuildForkHelperAsync();
        var handle = NativeLibrary.Load(helper);
        try
        {
            var status = OtelProcessContext.Publish();
            Assert.NotEqual(ProcessContextStatus.NotAvailable, status);
            Assert.NotNull(ProcessContextReader.FindMapping(System.Environment.ProcessId));

            var childSees = ForkChildSees(handle, "OTEL_CTX");
            var childSeesLibc = ForkChildSees(handle, "libc");

            Assert.Equal(1, childSeesLibc); // the probe itself works: a child does inherit ordinary mappings
            Assert.Equal(0, childSees);
        }
        finally
        {
            NativeLibrary.Free(handle);
        }
    }

    private static unsafe int ForkChildSees(nint library, string needle)
    {
        var function = (delegate* unmanaged<byte*, int>)NativeLibrary.GetExport(library, "otc_fork_child_sees");
        var bytes = System.Text.Encoding.ASCII.GetBytes(needle + "\0");
        fixed (byte* p = bytes)
        {
            return function(p);
        }
    }

    private static Task<string> BuildForkHelperAsync() =>
        BuildNativeHelperAsync("fork_probe.c", $"otc-fork-probe-{System.Environment.ProcessId}.so", "-shared", "-fPIC");

    private static async Task<string> BuildNativeHelperAsync(string source, string name, params string[] flags)
    {
        var output = Path.Combine(Path.GetTempPath(), name);
        using var gcc = Process.Start(new ProcessStartInfo("gcc", ["-std=c11", "-D_GNU_SOURCE", "-O1", "-Wall", "-Werror", .. flags, "-o", output, Path.Combine(AppContext.BaseDirectory, "native", source)])
        {
            RedirectStandardError = true,
        })!;
        var errors = await gcc.StandardError.ReadToEndAsync();
        await gcc.WaitForExitAsync();
        Assert.True(gcc.ExitCode == 0, errors);
        return output;
    }

    /// <summary>The memfd's file mode, from the mapping's /proc/&lt;pid&gt;/map_files entry: 0666 when it was made with
    /// MFD_NOEXEC_SEAL, 0777 without (memfd_create's documented modes).</summary>
    private const int SealedMode = 0b110_110_110, UnsealedMode = 0b111_111_111;

    private static int MemfdMode(int pid, string mapsLine) =>
        (int)File.GetUnixFileMode($"/proc/{pid}/map_files/{mapsLine[..mapsLine.IndexOf(' ', StringComparison.Ordinal)]}") & 0b111_111_111;

    private static string MapsPermissions(string mapsLine) => mapsLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];

    /// <summary>The probe under a seccomp filter (native/seccomp_run.c) that makes the kernel refuse some calls.
    /// W^X off: the runtime's own double mapping uses memfd_create too.</summary>
    private static readonly Lazy<Task<string>> SeccompLauncher = new(() => BuildNativeHelperAsync("seccomp_run.c", $"otc-seccomp-run-{System.Environment.ProcessId}"));

    private static async Task<Probe> ProbeUnderSeccompAsync(string rules)
    {
        var launcher = await SeccompLauncher.Value;
        return new Probe(new(Environment) { ["DOTNET_EnableWriteXorExecute"] = "0" }, launcher, rules);
    }

    [Fact]
    public async Task Kernel_refusing_MFD_NOEXEC_SEAL_gets_the_retry_without_it()
    {
        using var probe = await ProbeUnderSeccompAsync("noexec-seal");
        Assert.Equal("ready Memfd", probe.Ready);

        var (outcome, snapshot) = ProcessContextReader.Read(probe.Process.Id);

        Assert.Equal(ProcessContextReader.ReadOutcome.Consistent, outcome);
        Assert.EndsWith("/memfd:OTEL_CTX (deleted)", snapshot!.MapsLine, StringComparison.Ordinal);
        Assert.Equal(UnsealedMode, MemfdMode(probe.Process.Id, snapshot.MapsLine));
        Assert.Equal("probe-service", snapshot.Resource["service.name"].StringValue);
    }

    [Fact]
    public async Task Kernel_refusing_to_name_mappings_still_publishes_through_the_memfd()
    {
        using var probe = await ProbeUnderSeccompAsync("vma-name");
        Assert.Equal("ready Memfd", probe.Ready);

        var (outcome, snapshot) = ProcessContextReader.Read(probe.Process.Id);

        Assert.Equal(ProcessContextReader.ReadOutcome.Consistent, outcome);
        Assert.EndsWith("/memfd:OTEL_CTX (deleted)", snapshot!.MapsLine, StringComparison.Ordinal);
        Assert.Equal(["threadlocal.schema_version", "threadlocal.attribute_key_map"], snapshot.Attributes.Keys);
    }

    [Fact]
    public async Task Kernel_refusing_memfd_falls_back_to_an_anonymous_mapping_that_only_a_name_makes_usable()
    {
        using var probe = await ProbeUnderSeccompAsync("memfd");

        if (KernelNamesAnonymousMappings())
        {
            Assert.Equal("ready AnonymousMapping", probe.Ready);
            var (outcome, snapshot) = ProcessContextReader.Read(probe.Process.Id);
            Assert.Equal(ProcessContextReader.ReadOutcome.Consistent, outcome);
            Assert.EndsWith("[anon:OTEL_CTX]", snapshot!.MapsLine, StringComparison.Ordinal);
            Assert.Equal("probe-service", snapshot.Resource["service.name"].StringValue);
        }
        else
        {
            // No CONFIG_ANON_VMA_NAME: the anonymous fallback cannot be named, so the OTEP says no context at all.
            output.WriteLine($"kernel {System.Environment.OSVersion.VersionString} cannot name anonymous mappings");
            Assert.Equal("ready NotAvailable", probe.Ready);
            Assert.Null(ProcessContextReader.FindMapping(probe.Process.Id));
        }
    }

    [Fact]
    public async Task Kernel_refusing_memfd_and_naming_means_no_context_and_no_failure()
    {
        using var probe = await ProbeUnderSeccompAsync("memfd,vma-name");

        Assert.Equal("ready NotAvailable", probe.Ready);
        Assert.Null(ProcessContextReader.FindMapping(probe.Process.Id));
        probe.Send("append 3");
        Assert.Equal("appended 3", probe.Process.StandardOutput.ReadLine());
    }

    private sealed class FaultySystem(bool refuseMemfd, bool refuseName, ulong? frozenClock = null) : IProcessContextSystem
    {
        public ulong BootTimeNanoseconds() => frozenClock ?? LinuxProcessContextSystem.Instance.BootTimeNanoseconds();

        public nint MapMemfd(string name, nuint length) => refuseMemfd ? 0 : LinuxProcessContextSystem.Instance.MapMemfd(name, length);

        public nint MapAnonymous(nuint length) => LinuxProcessContextSystem.Instance.MapAnonymous(length);

        public void Unmap(nint address, nuint length) => LinuxProcessContextSystem.Instance.Unmap(address, length);

        public bool DontFork(nint address, nuint length) => LinuxProcessContextSystem.Instance.DontFork(address, length);

        public bool Name(nint address, nuint length, string name) => !refuseName && LinuxProcessContextSystem.Instance.Name(address, length, name);
    }

    private static string? MapsLineAt(nint address) =>
        File.ReadLines("/proc/self/maps").FirstOrDefault(l => l.StartsWith(((ulong)address).ToString("x", System.Globalization.CultureInfo.InvariantCulture) + "-", StringComparison.Ordinal));

    /// <summary>Whether this kernel names anonymous mappings (CONFIG_ANON_VMA_NAME, Linux 5.17+).</summary>
    private static bool KernelNamesAnonymousMappings()
    {
        var system = LinuxProcessContextSystem.Instance;
        var scratch = system.MapAnonymous(4096);
        try
        {
            return system.Name(scratch, 4096, "OTC_PROBE");
        }
        finally
        {
            system.Unmap(scratch, 4096);
        }
    }

    [Fact]
    public void Memfd_refused_falls_back_to_a_named_anonymous_mapping()
    {
        using var writer = new ProcessContextWriter(new FaultySystem(refuseMemfd: true, refuseName: false));

        var status = writer.Publish([1, 2, 3]);

        if (KernelNamesAnonymousMappings())
        {
            Assert.Equal(ProcessContextStatus.AnonymousMapping, status);
            Assert.EndsWith("[anon:OTEL_CTX]", MapsLineAt(writer.Address), StringComparison.Ordinal);
        }
        else
        {
            // This kernel cannot name the fallback mapping, so readers could not find it: reported, not published.
            output.WriteLine($"kernel {System.Environment.OSVersion.VersionString} refuses PR_SET_VMA_ANON_NAME: fallback reported as NotAvailable");
            Assert.Equal(ProcessContextStatus.NotAvailable, status);
            Assert.Equal(0, writer.Address);
        }
    }

    [Fact]
    public void Naming_refused_still_publishes_through_the_memfd()
    {
        using var writer = new ProcessContextWriter(new FaultySystem(refuseMemfd: false, refuseName: true));

        Assert.Equal(ProcessContextStatus.Memfd, writer.Publish([1, 2, 3]));
        Assert.Contains("/memfd:OTEL_CTX", MapsLineAt(writer.Address), StringComparison.Ordinal);
    }

    [Fact]
    public void Memfd_and_naming_both_refused_is_reported_as_not_available_without_an_exception()
    {
        using var writer = new ProcessContextWriter(new FaultySystem(refuseMemfd: true, refuseName: true));

        Assert.Equal(ProcessContextStatus.NotAvailable, writer.Publish([1, 2, 3]));
        Assert.Equal(0, writer.Address);
        Assert.Equal(ProcessContextStatus.NotAvailable, writer.Publish([4]));
    }

    private static unsafe ulong PublishedAt(ProcessContextWriter writer) => *(ulong*)(writer.Address + 16);

    [Fact]
    public void Every_update_gets_a_new_timestamp_even_within_one_clock_tick()
    {
        using var writer = new ProcessContextWriter(new FaultySystem(refuseMemfd: false, refuseName: false, frozenClock: 1_000));

        var seen = new List<ulong>();
        for (var i = 0; i < 5; i++)
        {
            writer.Publish([(byte)i]);
            seen.Add(PublishedAt(writer));
        }

        Assert.Equal([1_000UL, 1_001, 1_002, 1_003, 1_004], seen);
    }

    [Fact]
    public void The_timestamp_is_CLOCK_BOOTTIME()
    {
        using var writer = new ProcessContextWriter(LinuxProcessContextSystem.Instance);
        var before = BootClock.Nanoseconds();

        writer.Publish([1]);

        Assert.InRange(PublishedAt(writer), before, BootClock.Nanoseconds());
    }

    [Fact]
    public void The_payload_schema_is_the_published_ProcessContext_message()
    {
        // The descriptor generated from Protos/: the message and field names, numbers and types opentelemetry-proto
        // publishes in opentelemetry/proto/processcontext/v1development/process_context.proto.
        var message = OtelThreadCtx.Protocol.ProcessContextV1Development.ProcessContext.Descriptor;
        Assert.Equal("opentelemetry.proto.processcontext.v1development.ProcessContext", message.FullName);
        var fields = message.Fields.InFieldNumberOrder().Select(f => (f.FieldNumber, f.Name, f.IsRepeated, f.MessageType.FullName));
        Assert.Equal(
            [(1, "resource", false, "opentelemetry.proto.resource.v1.Resource"), (2, "attributes", true, "opentelemetry.proto.common.v1.KeyValue")],
            fields);
    }

    [Fact]
    public void Threadlocal_keys_given_as_resource_attributes_never_reach_the_resource()
    {
        var payload = ProcessContextPayload.Encode([new("service.name", "a"), new("threadlocal.schema_version", "forged"), new("service.name", "b")], ["k"]);

        var context = OtelThreadCtx.Protocol.ProcessContextV1Development.ProcessContext.Parser.ParseFrom(payload);

        Assert.Equal([("service.name", "a")], context.Resource.Attributes.Select(a => (a.Key, a.Value.StringValue)));
        Assert.Equal("tlsdesc_v1_dev", context.Attributes.Single(a => a.Key == "threadlocal.schema_version").Value.StringValue);
        Assert.Equal(["k"], context.Attributes.Single(a => a.Key == "threadlocal.attribute_key_map").Value.ArrayValue.Values.Select(v => v.StringValue));
    }

    [Fact]
    public void Environment_attributes_follow_the_specification_variables()
    {
        var env = new Dictionary<string, string?>
        {
            ["OTEL_RESOURCE_ATTRIBUTES"] = "service.name=from-list, service.version=2.0 ,k=v,broken",
            ["OTEL_SERVICE_NAME"] = "from-variable",
        };

        var attributes = ResourceAttributes.FromEnvironment(name => env.GetValueOrDefault(name));

        Assert.Equal("from-variable", attributes["service.name"]);
        Assert.Equal("2.0", attributes["service.version"]);
        Assert.Equal(2, attributes.Count);
    }
}
