using System.Security.Cryptography;
using System.Text.Json;
using OtelThreadCtx.Tool.Elf;
using OtelThreadCtx.Tool.Output;

namespace OtelThreadCtx.Tool.Commands;

/// <summary>`check`: a file's conformance with OTEP 4947 as a reader sees it on disk.</summary>
internal static class Checker
{
    public static FileReport Check(string path)
    {
        var image = ElfImage.TryLoad(path, out var error);
        if (image is null)
        {
            return new FileReport(path, false, error, null, null, null, [], null, null, [error!], []);
        }

        var problems = new List<string>();
        var warnings = new List<string>();
        if (image.Machine == ElfMachine.Other)
        {
            warnings.Add($"machine {image.MachineName}: OTEP 4947 readers handle x86-64 and aarch64");
        }

        var kind = image.IsProgram ? "executable" : image.IsSharedObject ? "shared-library" : "other";
        var all = image.Symbols.Where(s => s.Name == TlsAccessModels.SymbolName).ToList();
        var symbol = all.FirstOrDefault(s => s.Defined) ?? all.FirstOrDefault();
        SymbolReport symbolReport;
        var access = new List<AccessReport>();
        if (symbol is null)
        {
            symbolReport = new SymbolReport(TlsAccessModels.SymbolName, false, null, null, null, 0, 0);
            problems.Add($"{TlsAccessModels.SymbolName} is not in .dynsym: readers cannot find it (export it with default visibility)");
        }
        else
        {
            symbolReport = new SymbolReport(symbol.Name, true, symbol.Type.ToString(), symbol.Bind.ToString(), symbol.Visibility.ToString(), symbol.Size, symbol.Value);
            if (!symbol.Defined)
            {
                problems.Add($"{symbol.Name} is undefined here (a reference, not the definition)");
            }

            if (symbol.Type != LibObjectFile.Elf.ElfSymbolType.Tls)
            {
                problems.Add($"{symbol.Name} has type {symbol.Type}, expected TLS");
            }

            if (symbol.Bind is not (LibObjectFile.Elf.ElfSymbolBind.Global or LibObjectFile.Elf.ElfSymbolBind.Weak))
            {
                problems.Add($"{symbol.Name} has binding {symbol.Bind}, expected GLOBAL (or WEAK)");
            }

            if (symbol.Visibility != LibObjectFile.Elf.ElfSymbolVisibility.Default)
            {
                problems.Add($"{symbol.Name} has visibility {symbol.Visibility}, expected DEFAULT");
            }

            if (symbol.Size != 8)
            {
                problems.Add($"{symbol.Name} has size {symbol.Size}, expected 8 (one pointer)");
            }

            foreach (var a in TlsAccessModels.Classify(image, symbol))
            {
                var (verdict, ok) = TlsAccessModels.Verdict(a.Model, image.IsProgram);
                access.Add(new AccessReport(TlsAccessModels.Name(a.Model), verdict, ok, a.Relocations.Count));
                if (!ok)
                {
                    problems.Add($"access model {TlsAccessModels.Name(a.Model)}: {verdict}");
                }
            }

            if (access.Count == 0 && symbol.Defined)
            {
                warnings.Add($"no TLS relocation uses {symbol.Name}: nothing in this file writes it");
            }
        }

        var hardening = new HardeningReport(image.Relro, image.BindNow, image.HasGnuStack && !image.ExecutableStack);
        if (!hardening.Relro)
        {
            warnings.Add("no PT_GNU_RELRO (link with -z relro)");
        }

        if (!hardening.BindNow && image.HasDynamicSegment)
        {
            warnings.Add("no BIND_NOW (link with -z now)");
        }

        if (!hardening.NonExecutableStack)
        {
            warnings.Add("stack is executable or PT_GNU_STACK is missing (link with -z noexecstack)");
        }

        var verification = Verify(path, image.FileBytes, problems);
        return new FileReport(path, problems.Count == 0, null, image.Machine switch
        {
            ElfMachine.X64 => "x86_64",
            ElfMachine.Arm64 => "aarch64",
            _ => image.MachineName,
        }, kind, symbolReport, access, hardening, verification, problems, warnings);
    }

    private static VerificationReport? Verify(string path, byte[] bytes, List<string> problems)
    {
        var reportPath = path + ".verification.json";
        if (!File.Exists(reportPath))
        {
            return null;
        }

        var actual = Hex.Lower(SHA256.HashData(bytes));
        string? expected = null;
        bool? passed = null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(reportPath));
            if (doc.RootElement.TryGetProperty("sha256", out var sha) && sha.ValueKind == JsonValueKind.String)
            {
                expected = sha.GetString();
            }

            if (doc.RootElement.TryGetProperty("passed", out var p) && p.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                passed = p.GetBoolean();
            }
        }
        catch (JsonException e)
        {
            problems.Add($"{reportPath} is not valid JSON: {e.Message}");
        }

        var matches = string.Equals(expected, actual, StringComparison.OrdinalIgnoreCase);
        if (!matches)
        {
            problems.Add($"{reportPath} records sha256 {expected ?? "(none)"} but the file's is {actual}: the library changed after it was verified");
        }

        if (passed == false)
        {
            problems.Add($"{reportPath} says the build's verification failed");
        }

        return new VerificationReport(reportPath, expected, actual, matches, passed);
    }
}
