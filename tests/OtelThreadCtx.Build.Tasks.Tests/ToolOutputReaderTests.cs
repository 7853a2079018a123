using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks.Tests;

public class ToolOutputReaderTests
{
    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void Dynamic_symbols_parse_with_tls_variable(string flavor)
    {
        var symbols = ReadElfReader.ParseSymbols(Fixture.Read(flavor, "inline", "dyn-syms.txt"));

        var tls = Assert.Single(symbols, s => s.Name == "otel_thread_ctx_v1");
        Assert.Equal(("TLS", "GLOBAL", "DEFAULT", 8UL), (tls.Type, tls.Bind, tls.Visibility, tls.Size));
        Assert.True(tls.IsDefined);
        Assert.Contains(symbols, s => s.BaseName == "free" && !s.IsDefined);
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void Relocations_parse_with_sections_and_symbols(string flavor)
    {
        var relocations = ReadElfReader.ParseRelocations(Fixture.Read(flavor, "inline", "relocs.txt"));

        Assert.Contains(relocations, r => r.Section == ".rela.dyn" && r.Type == "R_X86_64_TLSDESC" && r.SymbolName == "otel_thread_ctx_v1");
        Assert.Contains(relocations, r => r.Type == "R_X86_64_RELATIVE" && r.SymbolName is null);
        Assert.Contains(relocations, r => r.Section == ".rela.plt" && r.SymbolBaseName == "free");
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void Program_headers_and_dynamic_section_parse(string flavor)
    {
        var headers = ReadElfReader.ParseProgramHeaders(Fixture.Read(flavor, "inline", "program-headers.txt"));
        var dynamic = ReadElfReader.ParseDynamicSection(Fixture.Read(flavor, "inline", "dynamic.txt"));

        Assert.Equal("RW", Assert.Single(headers, h => h.Type == "GNU_STACK").Flags);
        Assert.Contains(headers, h => h.Type == "GNU_RELRO");
        Assert.Contains(headers, h => h.Type == "LOAD" && h.Flags == "RE");
        Assert.Contains(dynamic, e => e.Tag == "FLAGS" && e.Value.Contains("BIND_NOW", StringComparison.Ordinal));
        Assert.Contains(dynamic, e => e.Tag == "NEEDED");
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("llvm")]
    public void Nm_output_parses_defined_and_undefined_symbols(string flavor)
    {
        var symbols = NmReader.Parse(Fixture.Read(flavor, "default", "nm.txt"));
        var dynamic = NmReader.Parse(Fixture.Read(flavor, "default", "nm-D.txt"));

        Assert.Contains(symbols, s => s.Name == "otel_thread_ctx_shim_slot" && s.Type == 't');
        Assert.Contains(symbols, s => s.Name == "otel_thread_ctx_attach" && s.Type == 'T');
        Assert.Contains(dynamic, s => s.BaseName == "free" && s.Type == 'U' && s.Address is null);
        Assert.DoesNotContain(dynamic, s => s.Name == "otel_thread_ctx_shim_slot");
    }

    [Fact]
    public void Stripped_library_reports_no_symbols_on_standard_error() =>
        Assert.True(NmReader.ReportsNoSymbols("nm: libx.so: no symbols\n"));

    [Theory]
    [InlineData("readelf: Error: Not an ELF file - it has the wrong magic bytes at the start")]
    [InlineData("     9: 0000000000000000 eight TLS GLOBAL DEFAULT 15 otel_thread_ctx_v1")]
    public void Unrecognised_symbol_lines_fail_with_the_raw_line(string line)
    {
        var e = Assert.Throws<ToolOutputException>(() => ReadElfReader.ParseSymbols(line));

        Assert.Equal(line, e.Line);
    }

    [Fact]
    public void Unrecognised_relocation_lines_fail_with_the_raw_line()
    {
        const string text = "Relocation section '.rela.dyn' at offset 0x7c8 contains 1 entry:\n    Offset             Info             Type               Symbol's Value  Symbol's Name + Addend\nsomething unexpected here\n";

        var e = Assert.Throws<ToolOutputException>(() => ReadElfReader.ParseRelocations(text));

        Assert.Equal("something unexpected here", e.Line);
    }

    [Fact]
    public void Program_header_output_without_a_table_is_an_error() =>
        Assert.Throws<ToolOutputException>(() => ReadElfReader.ParseProgramHeaders("There are no program headers in this file.\n"));

    [Fact]
    public void Nm_garbage_is_an_error() =>
        Assert.Throws<ToolOutputException>(() => NmReader.Parse("0000000000001d00\n"));
}
