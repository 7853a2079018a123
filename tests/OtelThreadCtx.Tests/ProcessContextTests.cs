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
        public Probe(Dictionary<string, string?> environment)
        {
            var info = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "OtelThreadCtx.ProcessContextProbe.dll")])
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
        using var probe = new Probe(Environment);
        Assert.Equal("ready Memfd", probe.Ready);

        var (outcome, snapshot) = ProcessContextReader.Read(probe.Process.Id);

        Assert.Equal(ProcessContextReader.ReadOutcome.Consistent, outcome);
        output.WriteLine($"maps: {snapshot!.MapsLine}");
        Assert.EndsWith("/memfd:OTEL_CTX (deleted)", snapshot.MapsLine, StringComparison.Ordinal);
        Assert.Equal("OTEL_CTX", snapshot.Signature);
        Assert.Equal(2u, snapshot.Version);
        Assert.True(snapshot.PayloadSize > 0);
        var nowNs = (ulong)(DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
        Assert.InRange(snapshot.PublishedAtNs, nowNs - 600_000_000_000UL, nowNs + 1_000_000_000UL);
        var attributes = ProcessContextReader.Attributes(snapshot.Resource!);
        output.WriteLine(snapshot.Resource!.ToString());
        Assert.Equal("probe-service", attributes["service.name"].StringValue);
        Assert.Equal("1.2.3", attributes["service.version"].StringValue);
        Assert.Equal("staging", attributes["deployment.environment.name"].StringValue);
        Assert.Equal("instance-7", attributes["service.instance.id"].StringValue);
        Assert.False(attributes.ContainsKey("other.key"));
        Assert.Equal("custom-value", attributes["probe.custom"].StringValue);
        Assert.Equal(42, attributes["probe.count"].IntValue);
        Assert.Equal("tlsdesc_v1_dev", attributes["threadlocal.schema_version"].StringValue);
        Assert.Empty(attributes["threadlocal.attribute_key_map"].ArrayValue.Values);
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

            // A consistent read is a whole, in-order key map that never shrinks.
            var keys = ProcessContextReader.Attributes(snapshot.Resource!)["threadlocal.attribute_key_map"].ArrayValue.Values.Select(v => v.StringValue).ToList();
            Assert.Equal(Enumerable.Range(0, keys.Count).Select(i => $"probe.key.{i}"), keys);
            Assert.True(keys.Count >= lastKeyCount);
            lastKeyCount = keys.Count;
            var generation = ProcessContextReader.Attributes(snapshot.Resource!).TryGetValue("probe.generation", out var g) ? g.IntValue : -1;
            Assert.True(generation >= lastGeneration);
            lastGeneration = generation;
        }

        Assert.Equal("appended 1000", await done);
        var final = ProcessContextReader.Read(probe.Process.Id);
        var finalAttributes = ProcessContextReader.Attributes(final.Snapshot!.Resource!);
        Assert.Equal(ThreadContextKeys.MaxKeys, finalAttributes["threadlocal.attribute_key_map"].ArrayValue.Values.Count);
        Assert.Equal(999, finalAttributes["probe.generation"].IntValue);
        output.WriteLine(string.Join(", ", counts.Select(kv => $"{kv.Key}: {kv.Value}")));
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

    private static async Task<string> BuildForkHelperAsync()
    {
        var output = Path.Combine(Path.GetTempPath(), $"otc-fork-probe-{System.Environment.ProcessId}.so");
        using var gcc = Process.Start(new ProcessStartInfo("gcc", ["-std=c11", "-D_GNU_SOURCE", "-O1", "-shared", "-fPIC", "-o", output, Path.Combine(AppContext.BaseDirectory, "native", "fork_probe.c")])
        {
            RedirectStandardError = true,
        })!;
        var errors = await gcc.StandardError.ReadToEndAsync();
        await gcc.WaitForExitAsync();
        Assert.True(gcc.ExitCode == 0, errors);
        return output;
    }

    private sealed class FaultySystem(bool refuseMemfd, bool refuseName) : IProcessContextSystem
    {
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
