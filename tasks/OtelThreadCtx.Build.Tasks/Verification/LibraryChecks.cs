using System.Globalization;
using OtelThreadCtx.Build.Tasks.Diagnostics;

namespace OtelThreadCtx.Build.Tasks.Verification;

/// <summary>The checks a built library must pass, decided from parsed nm/readelf output.
/// Each check fails unless the output positively shows what it needs.</summary>
public static class LibraryChecks
{
    /// <summary>TLS relocation types other than TLSDESC, on x86-64 and aarch64.</summary>
    private static readonly string[] OtherTlsRelocationMarkers =
    [
        "DTPMOD", "DTPOFF", "TPOFF", "TLSGD", "TLSLD", "TLS_DTPREL", "TLS_DTPMOD", "TLS_TPREL", "GOTTPOFF",
    ];

    public static IReadOnlyList<CheckResult> Run(LibraryInspection inspection, VerificationExpectations expect)
    {
        ArgumentNullException.ThrowIfNull(inspection);
        ArgumentNullException.ThrowIfNull(expect);
        IReadOnlyList<CheckResult> checks =
        [
            ShimSymbol(inspection, expect),
            TlsSymbolExported(inspection, expect),
            TlsDescRelocation(inspection, expect),
            NoOtherTlsRelocation(inspection, expect),
            NonExecutableStack(inspection),
            Relro(inspection),
            BindNow(inspection),
        ];
        return expect.Libc.IsMusl ? [.. checks, OnlyMuslLibc(inspection, expect)] : checks;
    }

    /// <summary>A musl library needs musl's libc.so and nothing else: no other DT_NEEDED (libc.so.6, ld-linux, libgcc_s…),
    /// no symbol versions (glibc's GLIBC_2.x in .gnu.version_r, seen as VERNEED and as name@VERSION imports), and no
    /// program interpreter (an ld-linux path).</summary>
    public static CheckResult OnlyMuslLibc(LibraryInspection inspection, VerificationExpectations expect)
    {
        ArgumentNullException.ThrowIfNull(inspection);
        ArgumentNullException.ThrowIfNull(expect);
        var allowed = expect.Libc.SharedObjectNames;
        var needed = inspection.DynamicEntries.Where(e => e.Tag == "NEEDED").ToList();
        var foreign = needed.Where(e => !allowed.Contains(NeededName(e.Value), StringComparer.Ordinal)).Select(e => e.RawLine).ToList();
        var versionNeeds = inspection.DynamicEntries.Where(e => e.Tag is "VERNEED" or "VERNEEDNUM").Select(e => e.RawLine).ToList();
        var versionedImports = inspection.DynamicSymbols.Where(s => !s.IsDefined && s.Name.Contains('@', StringComparison.Ordinal)).Select(s => s.RawLine).ToList();
        var interpreter = inspection.ProgramHeaders.Where(h => h.Type == "INTERP").Select(h => h.RawLine).ToList();
        var bad = foreign.Concat(versionNeeds).Concat(versionedImports).Concat(interpreter).ToList();
        var names = string.Join(", ", allowed);
        if (bad.Count == 0 && needed.Count > 0)
        {
            return new CheckResult("libc-musl-only", true, null,
                $"The library needs only musl's {names}: no other DT_NEEDED, no symbol versions (no VERNEED, no name@VERSION import), no program interpreter.",
                [.. needed.Select(e => e.RawLine), $"(no VERNEED; {inspection.DynamicSymbols.Count(s => !s.IsDefined)} undefined dynamic symbols, none versioned; no INTERP)"]);
        }

        return new CheckResult("libc-musl-only", false, DiagnosticCodes.ForeignLibcDependency,
            needed.Count == 0
                ? $"The musl library has no DT_NEEDED {names}: it was not linked against musl's C library, so its imports would bind to whatever the process has. " +
                  "Fix: link with the musl libc (the SDK's musl build passes -L<musl lib folder> -lc); check OtelThreadCtxLdFlags for -nodefaultlibs."
                : $"The musl library needs more than musl's {names} (glibc's libc.so.6, ld-linux, libgcc_s, or GLIBC_2.x symbol versions): it was linked against glibc " +
                  "and would load under musl on luck, or not at all. Fix: build with clang --target=<arch>-linux-musl against musl's headers and libc.so " +
                  "(Debian: apt-get install musl-dev; OtelThreadCtxSysroot for another musl sysroot), and check OtelThreadCtxCFlags/OtelThreadCtxLdFlags for glibc paths.",
            bad.Count > 0 ? bad : ["(no NEEDED entry in the dynamic section)"]);
    }

    /// <summary>readelf prints NEEDED as "Shared library: [libc.so]"; llvm-readelf as "Shared library: [libc.so]" too.</summary>
    private static string NeededName(string value)
    {
        var open = value.IndexOf('[', StringComparison.Ordinal);
        var close = value.LastIndexOf(']');
        return open >= 0 && close > open ? value[(open + 1)..close] : value.Trim();
    }

    public static CheckResult ShimSymbol(LibraryInspection inspection, VerificationExpectations expect)
    {
        var lines = inspection.Symbols.Concat(inspection.DynamicSymbolsNm)
            .Where(s => string.Equals(s.BaseName, expect.ShimSymbol, StringComparison.Ordinal))
            .Select(s => s.RawLine)
            .ToList();
        var counted = string.Create(CultureInfo.InvariantCulture,
            $"nm listed {inspection.Symbols.Count} symbols and nm -D {inspection.DynamicSymbolsNm.Count} dynamic symbols");

        if (expect.Mode == NativeBuildMode.Inline)
        {
            return lines.Count == 0
                ? new CheckResult("shim-inlined", true, null, $"'{expect.ShimSymbol}' is absent: the accessor was inlined and its out-of-line copy removed ({counted}).", [$"(no line names {expect.ShimSymbol}; {counted})"])
                : new CheckResult("shim-inlined", false, DiagnosticCodes.ShimNotInlined,
                    $"The inline build still contains the TLS shim '{expect.ShimSymbol}': callers may still call it instead of reaching otel_thread_ctx_v1 directly. " +
                    "Fix: compile every source with -flto=thin -ffunction-sections and link with -flto=thin -Wl,--gc-sections through ld.lld (the SDK's defaults); check OtelThreadCtxCFlags/OtelThreadCtxLdFlags for flags that undo them.",
                    lines);
        }

        if (inspection.Symbols.Count == 0)
        {
            return new CheckResult("shim-present", false, DiagnosticCodes.ShimNotVisible,
                $"The default build has no symbol table to look for '{expect.ShimSymbol}' in (stripped?), so the check cannot see the shim. Fix: do not strip the library (remove -s from OtelThreadCtxLdFlags).",
                [counted]);
        }

        return lines.Count > 0
            ? new CheckResult("shim-present", true, null, $"'{expect.ShimSymbol}' is present, as a default build should have it.", lines)
            : new CheckResult("shim-present", false, DiagnosticCodes.ShimNotVisible,
                $"The default build has no symbol '{expect.ShimSymbol}', so the inline check could not tell an inlined shim from a renamed one. Fix: set OtelThreadCtxShimSymbol to the accessor's name.",
                [$"(no line names {expect.ShimSymbol}; {counted})"]);
    }

    public static CheckResult TlsSymbolExported(LibraryInspection inspection, VerificationExpectations expect)
    {
        var entries = inspection.DynamicSymbols.Where(s => string.Equals(s.BaseName, expect.TlsSymbol, StringComparison.Ordinal)).ToList();
        var good = entries.Where(s => s.Type == "TLS" && s.Bind == "GLOBAL" && s.Visibility == "DEFAULT" && s.Size == 8 && s.IsDefined).ToList();
        if (good.Count > 0)
        {
            return new CheckResult("tls-symbol-exported", true, null, $"'{expect.TlsSymbol}' is in .dynsym as TLS, GLOBAL, DEFAULT, 8 bytes, defined.", good.Select(s => s.RawLine).ToList());
        }

        var evidence = entries.Count > 0 ? entries.Select(s => s.RawLine).ToList() : [$"(no .dynsym entry names {expect.TlsSymbol} among {inspection.DynamicSymbols.Count})"];
        return new CheckResult("tls-symbol-exported", false, DiagnosticCodes.TlsSymbolNotExported,
            $"'{expect.TlsSymbol}' is not exported as readers need it (.dynsym, TLS, GLOBAL, DEFAULT visibility, size 8, defined). " +
            $"Fix: define it with __attribute__((visibility(\"default\"))) _Thread_local and list it under 'global:' in the version script (OtelThreadCtxVersionScript).",
            evidence);
    }

    public static CheckResult TlsDescRelocation(LibraryInspection inspection, VerificationExpectations expect)
    {
        var wanted = expect.Architecture.TlsDescRelocation;
        var lines = inspection.Relocations
            .Where(r => r.Type == wanted && string.Equals(r.SymbolBaseName, expect.TlsSymbol, StringComparison.Ordinal))
            .Select(r => r.RawLine).ToList();
        if (lines.Count > 0)
        {
            return new CheckResult("tlsdesc-relocation", true, null, $"{lines.Count} {wanted} relocation(s) name '{expect.TlsSymbol}'.", lines);
        }

        var naming = inspection.Relocations.Where(r => string.Equals(r.SymbolBaseName, expect.TlsSymbol, StringComparison.Ordinal)).Select(r => r.RawLine).ToList();
        var fix = expect.Mode == NativeBuildMode.Inline
            ? "Fix: with ThinLTO the dialect is chosen at link time: link with -Wl,-mllvm,-enable-tlsdesc through ld.lld 18.1 or newer (the SDK does this; check OtelThreadCtxLdFlags)."
            : "Fix: compile the shim with -mtls-dialect=gnu2 (GCC, or clang 19+).";
        return new CheckResult("tlsdesc-relocation", false, DiagnosticCodes.NoTlsDescRelocation,
            $"No {wanted} relocation names '{expect.TlsSymbol}': readers expect the TLSDESC dialect. {fix}",
            naming.Count > 0 ? naming : [$"(no relocation names {expect.TlsSymbol} among {inspection.Relocations.Count})"]);
    }

    public static CheckResult NoOtherTlsRelocation(LibraryInspection inspection, VerificationExpectations expect)
    {
        var lines = inspection.Relocations
            .Where(r => string.Equals(r.SymbolBaseName, expect.TlsSymbol, StringComparison.Ordinal)
                        && OtherTlsRelocationMarkers.Any(m => r.Type.Contains(m, StringComparison.Ordinal)))
            .Select(r => r.RawLine).ToList();
        return lines.Count == 0
            ? new CheckResult("no-other-tls-relocation", true, null, $"No traditional-dialect TLS relocation (DTPMOD/DTPOFF/TPOFF…) names '{expect.TlsSymbol}'.", [$"(checked {inspection.Relocations.Count} relocations)"])
            : new CheckResult("no-other-tls-relocation", false, DiagnosticCodes.OtherTlsRelocation,
                $"'{expect.TlsSymbol}' is also reached through the traditional TLS dialect (__tls_get_addr), which TLSDESC readers do not follow. " +
                "Fix: inline build: link with -Wl,-mllvm,-enable-tlsdesc (LLD 18.1+); default build: compile every source that touches it with -mtls-dialect=gnu2.",
                lines);
    }

    public static CheckResult NonExecutableStack(LibraryInspection inspection)
    {
        var stack = inspection.ProgramHeaders.Where(h => h.Type == "GNU_STACK").ToList();
        if (stack.Count == 1 && !stack[0].Flags.Contains('E', StringComparison.Ordinal))
        {
            return new CheckResult("hardening-noexecstack", true, null, "GNU_STACK is not executable.", [stack[0].RawLine]);
        }

        return new CheckResult("hardening-noexecstack", false, DiagnosticCodes.HardeningMissing,
            "The library asks for an executable stack (GNU_STACK with E, or none). Fix: link with -Wl,-z,noexecstack and remove assembly without .note.GNU-stack.",
            stack.Count > 0 ? stack.Select(h => h.RawLine).ToList() : ["(no GNU_STACK program header)"]);
    }

    public static CheckResult Relro(LibraryInspection inspection)
    {
        var relro = inspection.ProgramHeaders.Where(h => h.Type == "GNU_RELRO").Select(h => h.RawLine).ToList();
        return relro.Count > 0
            ? new CheckResult("hardening-relro", true, null, "GNU_RELRO is present.", relro)
            : new CheckResult("hardening-relro", false, DiagnosticCodes.HardeningMissing, "No GNU_RELRO segment. Fix: link with -Wl,-z,relro.", ["(no GNU_RELRO program header)"]);
    }

    public static CheckResult BindNow(LibraryInspection inspection)
    {
        var now = inspection.DynamicEntries
            .Where(e => e.Tag == "BIND_NOW"
                        || (e.Tag == "FLAGS" && e.Value.Contains("BIND_NOW", StringComparison.Ordinal))
                        || (e.Tag == "FLAGS_1" && e.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("NOW")))
            .Select(e => e.RawLine).ToList();
        return now.Count > 0
            ? new CheckResult("hardening-bind-now", true, null, "Symbols are bound at load time (BIND_NOW).", now)
            : new CheckResult("hardening-bind-now", false, DiagnosticCodes.HardeningMissing, "The dynamic section has no BIND_NOW flag. Fix: link with -Wl,-z,now.", ["(no FLAGS BIND_NOW, FLAGS_1 NOW or BIND_NOW entry)"]);
    }
}

/// <summary>The disassembly check of an inline build with a Rust (or any foreign) layer: every exported function that
/// touches the TLS slot holds the TLSDESC sequence itself, and none calls the shim or an out-of-line accessor.</summary>
public static class ExportedFunctionChecks
{
    public static CheckResult Inlined(IReadOnlyList<DisassembledFunction> functions, LibraryInspection inspection, VerificationExpectations expect)
    {
        ArgumentNullException.ThrowIfNull(functions);
        ArgumentNullException.ThrowIfNull(inspection);
        ArgumentNullException.ThrowIfNull(expect);
        var exported = inspection.DynamicSymbols.Where(s => s.Type == "FUNC" && s.IsDefined && s.Bind == "GLOBAL").Select(s => s.BaseName).ToHashSet(StringComparer.Ordinal);
        var byName = functions.GroupBy(f => f.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        // Functions (not exported) that hold the sequence: an accessor left out of line, whatever its name.
        var accessors = functions.Where(f => !exported.Contains(f.Name) && DisassemblyReader.TlsDescSequence(f, expect.Architecture.Name) is not null)
            .Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        accessors.Add(expect.ShimSymbol);
        // GOT slots the linker filled with a local function's address (R_X86_64_RELATIVE / R_AARCH64_RELATIVE, addend =
        // the function): a call through one of them to an accessor is an out-of-line call too.
        var functionsAt = functions.GroupBy(f => f.Address).ToDictionary(g => g.Key, g => g.First().Name);
        var slotTargets = new Dictionary<ulong, string>();
        foreach (var relocation in inspection.Relocations.Where(r => r.Type.EndsWith("_RELATIVE", StringComparison.Ordinal)))
        {
            var fields = relocation.RawLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 4
                && ulong.TryParse(fields[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var slot)
                && ulong.TryParse(fields[^1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var target)
                && functionsAt.TryGetValue(target, out var targetName))
            {
                slotTargets[slot] = targetName;
            }
        }

        var evidence = new List<string>();
        var bad = new List<string>();
        var touching = 0;
        foreach (var name in exported.Order(StringComparer.Ordinal))
        {
            if (!byName.TryGetValue(name, out var function))
            {
                evidence.Add($"{name}: not in the disassembly");
                continue;
            }

            var sequence = DisassemblyReader.TlsDescSequence(function, expect.Architecture.Name);
            var accessorCalls = DisassemblyReader.Calls(function)
                .Concat(DisassemblyReader.IndirectCallSlots(function).Where(slotTargets.ContainsKey).Select(slot => slotTargets[slot]))
                .Where(accessors.Contains).Distinct(StringComparer.Ordinal).ToList();
            var shimCalls = accessorCalls.Where(c => string.Equals(c, expect.ShimSymbol, StringComparison.Ordinal)).ToList();
            if (shimCalls.Count > 0 || (sequence is null && accessorCalls.Count > 0))
            {
                // The shim itself, or (with no sequence of its own) another function that reaches the slot for it.
                bad.Add(name);
                evidence.Add($"{name}: CALLS {string.Join(", ", shimCalls.Count > 0 ? shimCalls : accessorCalls)} (the slot is reached out of line)");
            }
            else if (sequence is not null)
            {
                touching++;
                // A cold helper of its own that also reaches TLS (first-use set-up) is not the accessor: this function
                // holds the sequence itself.
                var also = accessorCalls.Count > 0 ? $" (also calls {string.Join(", ", accessorCalls)}, which holds its own)" : string.Empty;
                evidence.Add($"{name}: TLSDESC inline: {sequence}{also}");
            }
            else
            {
                evidence.Add($"{name}: does not touch the slot");
            }
        }

        if (bad.Count == 0 && touching > 0)
        {
            return new CheckResult("exported-functions-inline", true, null,
                $"{touching} of {exported.Count} exported functions reach the slot through an inline TLSDESC sequence; none calls the shim or an out-of-line accessor.", evidence);
        }

        return new CheckResult("exported-functions-inline", false, DiagnosticCodes.ExportedFunctionNotInlined,
            bad.Count > 0
                ? $"Exported functions {string.Join(", ", bad)} call the slot accessor instead of holding the TLSDESC sequence: the shim was not inlined into them. " +
                  "Fix: build the crate with -Clinker-plugin-lto and one codegen unit (the SDK does; check OtelThreadCtxRustFlag), compile the shim with -flto=thin, and link through an LLD that reads both (rustc's LLVM or newer)."
                : "No exported function holds a TLSDESC sequence: none reaches otel_thread_ctx_v1 inline. Fix: export the functions that publish (version script) and build the inline way (see OTC4001's fix).",
            evidence);
    }
}
