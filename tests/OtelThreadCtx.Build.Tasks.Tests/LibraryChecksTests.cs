using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks.Tests;

/// <summary>The checks' decisions over outputs captured from GNU binutils and LLVM tools on real libraries.</summary>
public class LibraryChecksTests
{
    private const string Shim = "otel_thread_ctx_shim_slot";

    private static IReadOnlyList<CheckResult> Run(string flavor, string library, NativeBuildMode mode) =>
        LibraryChecks.Run(Fixture.Inspection(flavor, library), new VerificationExpectations(mode, TargetArchitecture.X64, Shim));

    private static string[] FailedCodes(IReadOnlyList<CheckResult> results) =>
        results.Where(r => !r.Passed).Select(r => r.Code!).Distinct().Order(StringComparer.Ordinal).ToArray();

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void Inline_library_passes_every_check(string flavor)
    {
        var results = Run(flavor, "inline", NativeBuildMode.Inline);

        Assert.All(results, r => Assert.True(r.Passed, r.Message));
        var tlsdesc = Assert.Single(results, r => r.Id == "tlsdesc-relocation");
        Assert.Contains(tlsdesc.Evidence, line => line.Contains("R_X86_64_TLSDESC", StringComparison.Ordinal) && line.Contains("otel_thread_ctx_v1", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void Default_library_passes_every_check_and_shows_the_shim(string flavor)
    {
        var results = Run(flavor, "default", NativeBuildMode.Default);

        Assert.All(results, r => Assert.True(r.Passed, r.Message));
        var shim = Assert.Single(results, r => r.Id == "shim-present");
        Assert.Contains(shim.Evidence, line => line.EndsWith(" t " + Shim, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void Default_library_judged_as_inline_fails_because_the_shim_is_there(string flavor) =>
        Assert.Equal([DiagnosticCodes.ShimNotInlined], FailedCodes(Run(flavor, "default", NativeBuildMode.Inline)));

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void Inline_library_judged_as_default_fails_because_the_shim_is_missing(string flavor) =>
        Assert.Equal([DiagnosticCodes.ShimNotVisible], FailedCodes(Run(flavor, "inline", NativeBuildMode.Default)));

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void Link_without_tlsdesc_code_generation_is_caught(string flavor)
    {
        var results = Run(flavor, "inline-no-tlsdesc", NativeBuildMode.Inline);

        Assert.Equal([DiagnosticCodes.NoTlsDescRelocation, DiagnosticCodes.OtherTlsRelocation], FailedCodes(results));
        var other = Assert.Single(results, r => r.Id == "no-other-tls-relocation");
        Assert.Contains(other.Evidence, line => line.Contains("R_X86_64_DTPMOD64", StringComparison.Ordinal));
        Assert.Contains(other.Evidence, line => line.Contains("R_X86_64_DTPOFF64", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void Shim_left_behind_by_thinlto_without_gc_sections_is_caught(string flavor)
    {
        var results = Run(flavor, "inline-shim-kept", NativeBuildMode.Inline);

        Assert.Equal([DiagnosticCodes.ShimNotInlined], FailedCodes(results));
        Assert.Contains(results.Single(r => r.Id == "shim-inlined").Evidence, l => l.Contains(Shim, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void Unexported_symbol_and_missing_hardening_are_caught(string flavor)
    {
        var results = Run(flavor, "not-exported", NativeBuildMode.Default);

        Assert.False(results.Single(r => r.Id == "tls-symbol-exported").Passed);
        Assert.False(results.Single(r => r.Id == "hardening-noexecstack").Passed);
        Assert.False(results.Single(r => r.Id == "hardening-relro").Passed);
        Assert.False(results.Single(r => r.Id == "hardening-bind-now").Passed);
        Assert.Contains(DiagnosticCodes.TlsSymbolNotExported, FailedCodes(results));
        Assert.Contains(DiagnosticCodes.HardeningMissing, FailedCodes(results));
    }

    [Fact]
    public void An_empty_inspection_passes_nothing_but_the_absence_checks()
    {
        var empty = new LibraryInspection([], [], [], [], [], []);

        var results = LibraryChecks.Run(empty, new VerificationExpectations(NativeBuildMode.Default, TargetArchitecture.X64, Shim));

        Assert.Equal(["no-other-tls-relocation"], results.Where(r => r.Passed).Select(r => r.Id));
    }

    [Fact]
    public void Arm64_expects_the_aarch64_relocation()
    {
        var results = LibraryChecks.Run(Fixture.Inspection("gnu", "inline"), new VerificationExpectations(NativeBuildMode.Inline, TargetArchitecture.Arm64, Shim));

        Assert.False(results.Single(r => r.Id == "tlsdesc-relocation").Passed);
    }

    private static IReadOnlyList<CheckResult> RunMusl(string flavor, string library) =>
        LibraryChecks.Run(Fixture.Inspection(flavor, library), new VerificationExpectations(NativeBuildMode.Default, TargetArchitecture.X64, Shim) { Libc = TargetLibc.Musl });

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void Musl_library_passes_every_check_and_needs_only_musls_libc(string flavor)
    {
        var results = RunMusl(flavor, "musl-default");

        Assert.All(results, r => Assert.True(r.Passed, r.Message));
        var libc = Assert.Single(results, r => r.Id == "libc-musl-only");
        Assert.Contains(libc.Evidence, line => line.Contains("(NEEDED)", StringComparison.Ordinal) && line.EndsWith("[libc.so]", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void A_glibc_library_judged_as_musl_fails_on_libc_so_6_and_its_glibc_versions(string flavor)
    {
        var results = RunMusl(flavor, "default");

        Assert.Equal([DiagnosticCodes.ForeignLibcDependency], FailedCodes(results));
        var evidence = results.Single(r => r.Id == "libc-musl-only").Evidence;
        Assert.Contains(evidence, line => line.Contains("[libc.so.6]", StringComparison.Ordinal));
        Assert.Contains(evidence, line => line.Contains("(VERNEED)", StringComparison.Ordinal));
        Assert.Contains(evidence, line => line.Contains("@GLIBC_2.", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void A_musl_library_that_also_needs_a_glibc_library_fails(string flavor)
    {
        var results = RunMusl(flavor, "musl-glibc-needed");

        Assert.Equal([DiagnosticCodes.ForeignLibcDependency], FailedCodes(results));
        Assert.Equal(["[libm.so.6]"], results.Single(r => r.Id == "libc-musl-only").Evidence.Select(l => l[(l.LastIndexOf('[') )..]).ToArray());
    }

    [Fact]
    public void A_glibc_build_is_not_judged_by_the_musl_check() =>
        Assert.DoesNotContain(Run("gnu", "default", NativeBuildMode.Default), r => r.Id == "libc-musl-only");
}
