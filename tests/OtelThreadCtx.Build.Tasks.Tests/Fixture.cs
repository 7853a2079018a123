using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks.Tests;

/// <summary>Tool outputs captured from real nm/readelf runs (Fixtures/regenerate.sh).</summary>
internal static class Fixture
{
    public static string Read(params string[] parts) =>
        File.ReadAllText(Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]));

    public static LibraryInspection Inspection(string flavor, string library) => new(
        NmReader.Parse(Read(flavor, library, "nm.txt")),
        NmReader.Parse(Read(flavor, library, "nm-D.txt")),
        ReadElfReader.ParseSymbols(Read(flavor, library, "dyn-syms.txt")),
        ReadElfReader.ParseRelocations(Read(flavor, library, "relocs.txt")),
        ReadElfReader.ParseProgramHeaders(Read(flavor, library, "program-headers.txt")),
        ReadElfReader.ParseDynamicSection(Read(flavor, library, "dynamic.txt")));
}
