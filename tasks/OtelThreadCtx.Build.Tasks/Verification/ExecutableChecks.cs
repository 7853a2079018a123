using System.Globalization;
using System.Text.RegularExpressions;
using OtelThreadCtx.Build.Tasks.Diagnostics;

namespace OtelThreadCtx.Build.Tasks.Verification;

/// <summary>What readelf and objdump said about a NativeAOT executable that links the static archive in.</summary>
public sealed record ExecutableInspection(
    IReadOnlyList<ElfSymbol> DynamicSymbols,
    IReadOnlyList<ElfSymbol> Symbols,
    IReadOnlyList<ElfRelocation> Relocations,
    IReadOnlyList<ElfProgramHeader> ProgramHeaders,
    IReadOnlyList<ElfDynamicEntry> DynamicEntries,
    IReadOnlyList<(ulong Address, string Text)> Instructions)
{
    public LibraryInspection AsLibrary() => new([], [], DynamicSymbols, Relocations, ProgramHeaders, DynamicEntries);
}

/// <summary>The checks of a NativeAOT executable with the native layer linked in: the variable exported as readers need
/// it, reached with static TLS (no dynamic TLS relocation), every exported function that touches TLS doing so with a
/// thread-pointer-relative instruction of its own (inline) or through the local-exec shim (default), and the hardening of
/// the library checks. Each check fails unless the output positively shows what it needs.</summary>
public static partial class ExecutableChecks
{
    // The TLS block lies below the thread pointer (variant II): %fs:0x0 loads the pointer, negative offsets reach the block.
    // %fs:0x28 (the stack protector's canary in the TCB) is not TLS.
    [GeneratedRegex(@"%fs:(?:0x0\b|0xf{8}[0-9a-f]{8}\b|-0x)")]
    private static partial Regex X64ThreadPointer();

    [GeneratedRegex(@"\bmrs\s+x\d+,\s*tpidr_el0\b", RegexOptions.IgnoreCase)]
    private static partial Regex Arm64ThreadPointer();

    // GNU objdump: "call 4a3b0 <f>"; llvm-objdump: "bl 0x4a3b0 <f>".
    [GeneratedRegex(@"\b(?:call[q]?|bl|jmp[q]?|b)\s+(?:0x)?(?<target>[0-9a-f]+)\b")]
    private static partial Regex DirectCall();

    [GeneratedRegex(@"^\s*(?<address>[0-9a-f]+):\s+(?<text>\S.*)$")]
    private static partial Regex InstructionLine();

    /// <summary>The instruction lines of <c>objdump -d --no-show-raw-insn</c> (GNU or LLVM), by address; function headers
    /// are not needed (a stripped executable has none): the symbol table gives the ranges.</summary>
    public static IReadOnlyList<(ulong Address, string Text)> ParseInstructions(string objdumpOutput)
    {
        ArgumentNullException.ThrowIfNull(objdumpOutput);
        return objdumpOutput.Split('\n').Select(l => InstructionLine().Match(l)).Where(m => m.Success)
            .Select(m => (ulong.Parse(m.Groups["address"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture), m.Groups["text"].Value.Trim())).ToList();
    }

    public static IReadOnlyList<CheckResult> Run(ExecutableInspection inspection, VerificationExpectations expect)
    {
        ArgumentNullException.ThrowIfNull(inspection);
        ArgumentNullException.ThrowIfNull(expect);
        var library = inspection.AsLibrary();
        return
        [
            LibraryChecks.TlsSymbolExported(library, expect),
            StaticTls(inspection, expect),
            SlotAccess(inspection, expect),
            LibraryChecks.NonExecutableStack(library),
            LibraryChecks.Relro(library),
            LibraryChecks.BindNow(library),
        ];
    }

    /// <summary>The variable lives in the executable's own TLS segment and no relocation names it: the access model is
    /// local-exec or initial-exec (static TLS), which OTEP 4947 allows only for a variable the executable defines.</summary>
    public static CheckResult StaticTls(ExecutableInspection inspection, VerificationExpectations expect)
    {
        var naming = inspection.Relocations.Where(r => string.Equals(r.SymbolBaseName, expect.TlsSymbol, StringComparison.Ordinal)).Select(r => r.RawLine).ToList();
        var tls = inspection.ProgramHeaders.Where(h => h.Type == "TLS").Select(h => h.RawLine).ToList();
        var defined = inspection.DynamicSymbols.Where(s => string.Equals(s.BaseName, expect.TlsSymbol, StringComparison.Ordinal) && s.IsDefined && s.Type == "TLS").ToList();
        if (naming.Count == 0 && tls.Count == 1 && defined.Count > 0)
        {
            return new CheckResult("static-tls", true, null,
                $"'{expect.TlsSymbol}' is defined in the executable's TLS segment (offset 0x{defined[0].Value.ToString("x", CultureInfo.InvariantCulture)}) and no relocation names it: static TLS (local-exec), no TLSDESC, DTPMOD or TPOFF relocation.",
                [.. tls, .. defined.Select(d => d.RawLine), $"(none of {inspection.Relocations.Count} relocations names {expect.TlsSymbol})"]);
        }

        return new CheckResult("static-tls", false, DiagnosticCodes.ExecutableTlsNotStatic,
            $"'{expect.TlsSymbol}' is not reached with static TLS in the executable: " +
            (naming.Count > 0 ? "relocations still name it (TLSDESC, DTPMOD or TPOFF: the objects were built for a shared library)" : defined.Count == 0 ? "the executable does not define it" : "the executable has no single TLS segment") +
            ". Fix: link the static archive the NativeAOT targets build (-fPIE -ftls-model=local-exec), not the shared library's objects; check OtelThreadCtxCFlags and LinkerArg items for -fPIC or -ftls-model.",
            naming.Count > 0 ? naming : tls.Count > 0 ? tls : ["(no TLS program header)"]);
    }

    /// <summary>Inline: every exported function that touches TLS holds its own thread-pointer-relative instruction and calls
    /// no accessor (the shim, or any function of the executable that reaches TLS for it). Default: the exported functions
    /// call the shim, whose one access is thread-pointer relative. Neither mode may hold a TLSDESC call or __tls_get_addr.</summary>
    public static CheckResult SlotAccess(ExecutableInspection inspection, VerificationExpectations expect)
    {
        var arm64 = expect.Architecture == TargetArchitecture.Arm64;
        var threadPointer = arm64 ? Arm64ThreadPointer() : X64ThreadPointer();
        var functions = inspection.Symbols.Where(s => s.Type == "FUNC" && s.IsDefined && s.Size > 0)
            .GroupBy(s => s.Value).Select(g => g.First()).OrderBy(s => s.Value).ToList();
        if (functions.Count == 0)
        {
            return new CheckResult("slot-access", false, DiagnosticCodes.ExecutableSymbolsMissing,
                "Neither the executable nor its debug file (.dbg) has a symbol table, so the disassembly cannot tell the shim or an out-of-line accessor from the API. " +
                "Fix: keep NativeAOT's symbols (StripSymbols=true keeps them in <app>.dbg beside the executable; do not delete it before the check runs, and do not set NativeDebugSymbols=false).",
                [$"(no FUNC symbol among {inspection.Symbols.Count})"]);
        }

        IReadOnlyList<(ulong Address, string Text)> Body(ElfSymbol f) => inspection.Instructions.Where(i => i.Address >= f.Value && i.Address < f.Value + f.Size).ToList();
        ElfSymbol? At(ulong address) => functions.LastOrDefault(f => f.Value <= address && address < f.Value + f.Size);
        bool Dynamic(IReadOnlyList<(ulong Address, string Text)> body, ElfSymbol f) =>
            DisassemblyReader.TlsDescSequence(new DisassembledFunction(f.Name, body.Select(b => b.Text).ToList(), f.Value), expect.Architecture.Name) is not null
            || body.Any(b => b.Text.Contains("__tls_get_addr", StringComparison.Ordinal));

        var exported = inspection.DynamicSymbols.Where(s => s.Type == "FUNC" && s.IsDefined && s.Bind == "GLOBAL").Select(s => s.BaseName).ToHashSet(StringComparer.Ordinal);
        var evidence = new List<string>();
        var bad = new List<string>();
        var touching = 0;
        var shim = functions.FirstOrDefault(f => string.Equals(f.BaseName, expect.ShimSymbol, StringComparison.Ordinal));
        if (expect.Mode == NativeBuildMode.Default)
        {
            var body = shim is null ? [] : Body(shim);
            var access = body.FirstOrDefault(b => threadPointer.IsMatch(b.Text));
            if (shim is null || access.Text is null || Dynamic(body, shim))
            {
                bad.Add(expect.ShimSymbol);
                evidence.Add(shim is null ? $"{expect.ShimSymbol}: not in the symbol table" : $"{expect.ShimSymbol}: no thread-pointer-relative instruction of its own, or a TLSDESC/__tls_get_addr call: {string.Join(" ; ", body.Select(b => b.Text))}");
            }
            else
            {
                evidence.Add($"{expect.ShimSymbol}: {access.Text}");
            }
        }
        else if (shim is not null)
        {
            bad.Add(expect.ShimSymbol);
            evidence.Add($"{expect.ShimSymbol}: still in the executable (inline mode removes it)");
        }

        foreach (var name in exported.Order(StringComparer.Ordinal))
        {
            if (functions.FirstOrDefault(f => string.Equals(f.BaseName, name, StringComparison.Ordinal)) is not { } function)
            {
                evidence.Add($"{name}: not in the symbol table");
                continue;
            }

            var body = Body(function);
            var access = body.FirstOrDefault(b => threadPointer.IsMatch(b.Text));
            var accessors = body.Select(b => DirectCall().Match(b.Text)).Where(m => m.Success)
                .Select(m => At(ulong.Parse(m.Groups["target"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture)))
                .Where(t => t is not null && t.Value != function.Value && !exported.Contains(t.BaseName)
                            && (string.Equals(t.BaseName, expect.ShimSymbol, StringComparison.Ordinal) || Body(t).Any(b => threadPointer.IsMatch(b.Text)) || Dynamic(Body(t), t)))
                .Select(t => t!.Name).Distinct(StringComparer.Ordinal).ToList();
            if (Dynamic(body, function))
            {
                bad.Add(name);
                evidence.Add($"{name}: a TLSDESC call or __tls_get_addr (dynamic TLS)");
            }
            else if (expect.Mode == NativeBuildMode.Inline && accessors.Count > 0)
            {
                bad.Add(name);
                evidence.Add($"{name}: CALLS {string.Join(", ", accessors)} (TLS reached out of line)");
            }
            else if (access.Text is not null)
            {
                touching++;
                evidence.Add($"{name}: {access.Text}");
            }
            else if (accessors.Count > 0)
            {
                touching++;
                evidence.Add($"{name}: calls {string.Join(", ", accessors)}");
            }
            else
            {
                evidence.Add($"{name}: does not touch TLS");
            }
        }

        var how = arm64 ? "mrs …, tpidr_el0" : "%fs:";
        if (bad.Count == 0 && touching > 0)
        {
            return new CheckResult("slot-access", true, null,
                expect.Mode == NativeBuildMode.Inline
                    ? $"{touching} of {exported.Count} exported functions reach TLS with a thread-pointer-relative instruction of their own ({how}); none calls the shim or another accessor, none holds a TLSDESC call."
                    : $"{touching} of {exported.Count} exported functions reach TLS through the shim, whose access is thread-pointer relative ({how}); no TLSDESC call or __tls_get_addr.",
                evidence);
        }

        return new CheckResult("slot-access", false, DiagnosticCodes.ExecutableSlotAccessNotDirect,
            bad.Count > 0
                ? $"{string.Join(", ", bad)}: the slot is not reached the static way ({how} in the function itself{(expect.Mode == NativeBuildMode.Inline ? ", no call to an accessor" : " of the shim")}). " +
                  (expect.Mode == NativeBuildMode.Inline
                      ? "Fix: the inline archive must be ThinLTO bitcode linked by lld (LinkerFlavor=lld), so that the shim is inlined and removed (-Wl,--gc-sections); check OtelThreadCtxCFlags and LinkerArg items."
                      : "Fix: compile the archive with -ftls-model=local-exec (the NativeAOT targets do); check OtelThreadCtxCFlags.")
                : "No exported function touches TLS: the C API is missing from the executable's exports. Fix: export the map file's functions (the NativeAOT targets pass them to ILC as --export-dynamic-symbol).",
            evidence);
    }
}
