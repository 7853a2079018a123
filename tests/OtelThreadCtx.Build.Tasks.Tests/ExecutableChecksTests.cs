using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks.Tests;

/// <summary>The NativeAOT executable checks over readelf/objdump output captured from real statically linked executables
/// (Fixtures/aot/: the AOT benchmark harness published default and inline, symbols and code of the C API only).</summary>
public class ExecutableChecksTests
{
    private const string Shim = "otel_thread_ctx_shim_slot";

    private static ExecutableInspection Inspection(string build, Func<string, string>? edit = null)
    {
        string Read(string name) => (edit ?? (s => s))(Fixture.Read("aot", build, name));
        return new ExecutableInspection(
            ReadElfReader.ParseSymbols(Read("dyn-syms.txt")), ReadElfReader.ParseSymbols(Read("symbols.txt")),
            ReadElfReader.ParseRelocations(Read("relocations.txt")), ReadElfReader.ParseProgramHeaders(Read("program-headers.txt")),
            ReadElfReader.ParseDynamicSection(Read("dynamic.txt")), ExecutableChecks.ParseInstructions(Read("objdump.txt")));
    }

    private static IReadOnlyList<CheckResult> Run(ExecutableInspection inspection, NativeBuildMode mode) =>
        ExecutableChecks.Run(inspection, new VerificationExpectations(mode, TargetArchitecture.X64, Shim));

    private static string[] FailedCodes(IReadOnlyList<CheckResult> results) =>
        results.Where(r => !r.Passed).Select(r => r.Code!).Distinct().Order(StringComparer.Ordinal).ToArray();

    [Theory]
    [InlineData("default-x64", NativeBuildMode.Default)]
    [InlineData("inline-x64", NativeBuildMode.Inline)]
    public void A_statically_linked_executable_passes_every_check(string build, NativeBuildMode mode)
    {
        var results = Run(Inspection(build), mode);
        Assert.All(results, r => Assert.True(r.Passed, r.Message + " | " + string.Join(" | ", r.Evidence)));
        Assert.Contains(Assert.Single(results, r => r.Id == "static-tls").Evidence, e => e.Contains("TLS", StringComparison.Ordinal));
    }

    [Fact]
    public void The_inline_executables_api_functions_hold_their_own_fs_access()
    {
        var access = Assert.Single(Run(Inspection("inline-x64"), NativeBuildMode.Inline), r => r.Id == "slot-access");
        Assert.Contains(access.Evidence, e => e.StartsWith("otel_thread_ctx_read_current: mov", StringComparison.Ordinal) && e.Contains("%fs:0xfffffffffffffff", StringComparison.Ordinal));
    }

    [Fact]
    public void A_default_executable_judged_as_inline_fails_because_the_api_calls_the_shim() =>
        Assert.Equal([DiagnosticCodes.ExecutableSlotAccessNotDirect], FailedCodes(Run(Inspection("default-x64"), NativeBuildMode.Inline)));

    [Fact]
    public void A_dynamic_tls_relocation_for_the_variable_fails_the_static_tls_check()
    {
        // As an executable built from the shared library's objects would have it: a TPOFF64 GOT entry for the variable.
        var inspection = Inspection("inline-x64", text => text.Contains("Relocation section '.rela.dyn'", StringComparison.Ordinal)
            ? text.Replace("Symbol's Name + Addend\n", "Symbol's Name + Addend\n0000000000321fd8  000000b100000012 R_X86_64_TPOFF64       0000000000000120 otel_thread_ctx_v1@@V1.0 + 0\n", StringComparison.Ordinal)
            : text);
        Assert.Contains(inspection.Relocations, r => r.SymbolBaseName == "otel_thread_ctx_v1");
        Assert.Equal([DiagnosticCodes.ExecutableTlsNotStatic], FailedCodes(Run(inspection, NativeBuildMode.Inline)));
    }

    [Fact]
    public void Without_a_symbol_table_the_access_check_fails_instead_of_passing() =>
        Assert.Equal([DiagnosticCodes.ExecutableSymbolsMissing],
            FailedCodes(Run(Inspection("inline-x64", text => text.StartsWith("Symbol table '.symtab'", StringComparison.Ordinal) ? "Symbol table '.symtab' contains 0 entries:\n" : text), NativeBuildMode.Inline)));
}
