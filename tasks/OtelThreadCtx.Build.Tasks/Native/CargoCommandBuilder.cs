using OtelThreadCtx.Build.Tasks.Processes;

namespace OtelThreadCtx.Build.Tasks.Native;

/// <summary>Builds the cargo command that turns a crate into the static library the link takes: release profile,
/// offline, target folder under obj/, and the rustc flags of the mode, set through CARGO_ENCODED_RUSTFLAGS (which wins
/// over RUSTFLAGS and every config file, so that nothing in the environment changes what is verified).</summary>
public static class CargoCommandBuilder
{
    /// <summary>Inline: rustc writes LLVM bitcode into the static library (for the linker's LTO) and keeps the crate in one
    /// module, so that the shim's accessor can be inlined into every exported function.</summary>
    public static readonly IReadOnlyList<string> InlineRustFlags = ["-Clinker-plugin-lto", "-Ccodegen-units=1"];

    /// <summary>Default: ordinary objects, the shim called.</summary>
    public static readonly IReadOnlyList<string> DefaultRustFlags = ["-Ccodegen-units=1"];

    public static ToolInvocation Build(
        NativeBuildMode mode, string cargo, string rustc, string manifest, string targetDirectory, string triple, bool crossTarget,
        IReadOnlyList<string> pathMaps, IReadOnlyList<string> extraRustFlags)
    {
        ArgumentNullException.ThrowIfNull(pathMaps);
        ArgumentNullException.ThrowIfNull(extraRustFlags);
        var args = new List<string> { "build", "--release", "--lib", "--offline", "--locked", "--manifest-path", manifest, "--target-dir", targetDirectory, "--message-format=short" };
        if (crossTarget)
        {
            args.AddRange(["--target", triple]);
        }

        var rustFlags = new List<string>(mode == NativeBuildMode.Inline ? InlineRustFlags : DefaultRustFlags);
        rustFlags.AddRange(pathMaps.Select(m => $"--remap-path-prefix={m}"));
        rustFlags.AddRange(extraRustFlags);
        return new ToolInvocation(cargo, args)
        {
            Environment = new Dictionary<string, string?>
            {
                ["RUSTC"] = rustc,
                ["CARGO_ENCODED_RUSTFLAGS"] = string.Join('\u001f', rustFlags),
                ["RUSTFLAGS"] = null,
                ["CARGO_BUILD_RUSTFLAGS"] = null,
                ["CARGO_TERM_COLOR"] = "never",
                ["CARGO_TERM_PROGRESS_WHEN"] = "never",
            },
        };
    }

    /// <summary>Where cargo leaves the static library of <paramref name="libraryName"/>.</summary>
    public static string StaticLibraryPath(string targetDirectory, string libraryName, string triple, bool crossTarget) =>
        crossTarget
            ? Path.Combine(targetDirectory, triple, "release", $"lib{libraryName}.a")
            : Path.Combine(targetDirectory, "release", $"lib{libraryName}.a");
}
