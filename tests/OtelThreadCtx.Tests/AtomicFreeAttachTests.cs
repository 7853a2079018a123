using System.Reflection;
using System.Text.RegularExpressions;
using CliWrap;
using CliWrap.Buffered;

namespace OtelThreadCtx.Tests;

/// <summary>Attach and detach of shared records make no atomic read-modify-write and no CPU barrier, on any thread, and
/// neither does the entry of Dispose, which the creating thread's biased Dispose never leaves: read from the machine code
/// of the built libraries (the mode under test beside the tests, x86-64, and the default arm64 build). The rare side (the
/// unbiased Dispose, a Dispose on another thread, the first attach of a record on a thread other than its creator, the
/// revocation of a bias, orphans) lives in other functions, and the same detector finds its atomics there, so it is not
/// blind.</summary>
public sealed partial class AtomicFreeAttachTests
{
    /// <summary>Exported functions an attach, a detach, a release or the biased Dispose (unchecked, and checked as the wrapper
    /// calls it) runs through.</summary>
    private static readonly string[] HotFunctions =
    [
        "otel_thread_ctx_attach_counted", "otel_thread_ctx_attach_counted_checked", "otel_thread_ctx_clear",
        "otel_thread_ctx_set", "otel_thread_ctx_attach", "otel_thread_ctx_detach", "otel_thread_ctx_record_dispose",
        "otel_thread_ctx_record_dispose_checked",
    ];

    /// <summary>Functions of the rare side, which must hold atomics (the detector's control).</summary>
    private static readonly string[] RareFunctions = ["mark_shared", "revoke_bias", "dispose_own_unbiased", "dispose_other"];

    // x86-64: any lock prefix, xchg with a memory operand (implicitly locked), mfence; cmpxchg/xadd never appear unlocked
    // in compiled atomics, but are refused too.
    [GeneratedRegex(@"^\s*[0-9a-f]+:\s+(lock\b|xchg[a-z]*\s.*\(|mfence\b|cmpxchg|xadd)", RegexOptions.Multiline)]
    private static partial Regex X64Atomic();

    // aarch64: exclusive pairs, LSE atomics, barriers, and calls to libgcc's out-of-line atomic helpers.
    [GeneratedRegex(@"^\s*[0-9a-f]+:\s+(ld[a]?x[rp]|st[l]?x[rp]|ldadd|ldclr|ldeor|ldset|ldsmax|ldsmin|ldumax|ldumin|swp|cas|dmb|dsb|bl\s.*__aarch64_)", RegexOptions.Multiline)]
    private static partial Regex Arm64Atomic();

    public static TheoryData<string> Libraries() =>
    [
        Path.Combine(AppContext.BaseDirectory, "libotel_thread_ctx.so"),
        Arm64Library,
    ];

    [Theory]
    [MemberData(nameof(Libraries))]
    public async Task Attach_detach_and_release_hold_no_atomic_instruction(string library)
    {
        Assert.True(File.Exists(library), $"{library} was not built (dotnet build native/OtelThreadCtx.Native.csproj -c Release)");
        var (arm64, functions) = await Disassemble(library, [.. HotFunctions, .. RareFunctions]);
        var atomic = arm64 ? Arm64Atomic() : X64Atomic();

        foreach (var name in HotFunctions)
        {
            Assert.True(functions.TryGetValue(name, out var body) && body.Split('\n').Length > 3, $"{name} not found in {library}");
            var found = atomic.Matches(body).Select(m => m.Value.Trim()).ToList();
            Assert.True(found.Count == 0, $"{name} in {library} holds {string.Join("; ", found)}");
        }

        foreach (var name in RareFunctions)
        {
            Assert.True(functions.TryGetValue(name, out var body), $"{name} not found in {library}");
            Assert.True(atomic.IsMatch(body), $"the detector finds no atomic in {name} ({library}):\n{body}");
        }
    }

    /// <summary>A thread that turns its bias back on fences after the compare-and-swap, before any later load (its next
    /// biased Dispose reads the record's <c>shared</c> flag): without it, on arm64 the flag could be read before the ON is
    /// visible while a marker reads the bias OFF, and both miss the other (docs/performance.md, "Fifth step", point 2).</summary>
    [Theory]
    [MemberData(nameof(Libraries))]
    public async Task Turning_the_bias_back_on_fences_after_the_compare_and_swap(string library)
    {
        Assert.True(File.Exists(library), $"{library} was not built (dotnet build native/OtelThreadCtx.Native.csproj -c Release)");
        var (arm64, functions) = await Disassemble(library, ["bias_rearm"]);
        Assert.True(functions.TryGetValue("bias_rearm", out var body), $"bias_rearm not found in {library}");

        var compareAndSwap = arm64 ? new Regex(@"\s(casal?|bl\s.*__aarch64_cas\d_(acq_rel|sync))\b") : new Regex(@"\scmpxchg");
        var fence = arm64 ? new Regex(@"\sdmb\s+ish\b") : new Regex(@"\s(mfence|lock\s+or)");
        var cas = compareAndSwap.Match(body);
        Assert.True(cas.Success, $"no compare-and-swap in bias_rearm ({library}):\n{body}");
        Assert.True(fence.IsMatch(body[cas.Index..]), $"no full fence after the compare-and-swap in bias_rearm ({library}):\n{body}");
    }

    /// <summary>The handoff of a record from <c>pending</c> to <c>counted</c> is ordered for a scan that runs meanwhile
    /// (docs/performance.md, "the hazard moves after P"): on arm64, where stores and loads reorder, the attach clears
    /// <c>pending</c> with a store-release after it stored <c>counted</c>, and the scans (Dispose, orphans) read
    /// <c>pending</c> with a load-acquire. Neither is a read-modify-write or a barrier instruction.</summary>
    [Fact]
    public async Task The_hazard_handoff_is_a_store_release_read_by_a_load_acquire_on_arm64()
    {
        await AssertEachArm64FunctionHolds(["otel_thread_ctx_attach_counted", "otel_thread_ctx_attach_counted_checked"], @"\sstlr\s+xzr,");
        await AssertEachArm64FunctionHolds(["dispose_scan", "release_orphan", "otel_thread_ctx_record_orphan_end"], @"\sldar\s+x\d+,");
    }

    /// <summary>A block reused for a new record shows its new user value with its LIVE word (docs/performance.md, "a
    /// reused block"): on arm64 the record's creation stores the word with a store-release (64-bit <c>stlr</c>) after
    /// the user value, and the attach loads the word with a load-acquire (64-bit <c>ldar</c>) before it reads the user
    /// value, so a stale attach never takes the new record for the one it expected.</summary>
    [Fact]
    public async Task A_reused_blocks_word_is_a_store_release_read_by_a_load_acquire_on_arm64()
    {
        await AssertEachArm64FunctionHolds(["otel_thread_ctx_record_new_bound", "otel_thread_ctx_record_new_user"], @"\sstlr\s+x\d+,");
        await AssertEachArm64FunctionHolds(["otel_thread_ctx_attach_counted", "otel_thread_ctx_attach_counted_checked"], @"\sldar\s+x\d+,");
    }

    /// <summary>Each of <paramref name="names"/> in the default arm64 build holds an instruction matching
    /// <paramref name="instruction"/>.</summary>
    private static async Task AssertEachArm64FunctionHolds(string[] names, string instruction)
    {
        Assert.True(File.Exists(Arm64Library), $"{Arm64Library} was not built (dotnet build src/OtelThreadCtx -c Release)");
        var (arm64, functions) = await Disassemble(Arm64Library, names);
        Assert.True(arm64, Arm64Library);
        foreach (var name in names)
        {
            Assert.True(functions.TryGetValue(name, out var body), $"{name} not found in {Arm64Library}");
            Assert.Matches(new Regex(instruction), body);
        }
    }

    private static string Arm64Library => Path.Combine(RepositoryRoot, "artifacts", "native", "Release", "default", "linux-arm64", "libotel_thread_ctx.so");

    /// <summary>Each function's disassembly (llvm-objdump, which reads both architectures).</summary>
    private static async Task<(bool Arm64, Dictionary<string, string> Functions)> Disassemble(string library, string[] names)
    {
        var result = await Cli.Wrap("llvm-objdump-19")
            .WithArguments(["-d", "--no-show-raw-insn", "--disassemble-symbols=" + string.Join(',', names), library])
            .ExecuteBufferedAsync();
        var functions = new Dictionary<string, string>(StringComparer.Ordinal);
        string? current = null;
        var body = new System.Text.StringBuilder();
        foreach (var line in result.StandardOutput.Split('\n'))
        {
            var header = Regex.Match(line, @"^[0-9a-f]+ <([^>]+)>:");
            if (header.Success)
            {
                if (current is not null)
                {
                    functions[current] = body.ToString();
                }

                current = header.Groups[1].Value;
                body.Clear();
            }
            else if (current is not null)
            {
                body.Append(line).Append('\n');
            }
        }

        if (current is not null)
        {
            functions[current] = body.ToString();
        }

        return (result.StandardOutput.Contains("elf64-littleaarch64", StringComparison.Ordinal), functions);
    }

    private static string RepositoryRoot =>
        typeof(AtomicFreeAttachTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;
}
