using OtelThreadCtx.Build.Tasks.Diagnostics;

namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>What each build mode asks of its tools. Pure decisions over parsed banners, so that
/// unit tests cover every rule without running a tool.</summary>
public sealed class ToolchainRequirements(NativeBuildMode mode, TargetArchitecture architecture)
{
    /// <summary>LLD learned to generate TLSDESC at LTO link time (<c>-mllvm -enable-tlsdesc</c>) in 18.1.</summary>
    public static readonly ToolVersion MinimumLldForInlineTlsDesc = new(18, 1, 0);

    /// <summary>clang accepts <c>-mtls-dialect=gnu2</c> on x86-64 from 19 on.</summary>
    public static readonly ToolVersion MinimumClangForGnu2 = new(19, 0, 0);

    public NativeBuildMode Mode { get; } = mode;

    public TargetArchitecture Architecture { get; } = architecture;

    /// <summary>The LLVM of the rustc whose bitcode joins the link (a Rust crate in an inline build), or null.
    /// The clang must be no newer (LLVM reads older bitcode, not newer) and the LLD no older.</summary>
    public ToolVersion? RustLlvmVersion { get; init; }

    /// <summary>The C library: a musl build needs clang (--target=…-linux-musl), as a cross build does.</summary>
    public TargetLibc Libc { get; init; } = TargetLibc.Gnu;

    private static string AptFix(string what) =>
        $"Fix: install a supported {what} (Debian/Ubuntu: 'apt-get install clang-19 lld-19 llvm-19'), or point the build at one with the property named above.";

    /// <summary>Checks one tool alone. Returns null when it is fit for this mode.</summary>
    public BuildDiagnostic? Check(ResolvedTool tool)
    {
        ArgumentNullException.ThrowIfNull(tool);
        var identity = tool.Identity;
        var where = $"{tool.Kind.DisplayName()} at {tool.Path} (from {tool.Origin}, property {tool.Kind.PropertyName()})";

        if (identity.Flavor is ToolFlavor.AppleClang or ToolFlavor.AppleLd or ToolFlavor.AppleLlvm)
        {
            return new BuildDiagnostic(DiagnosticCodes.AppleToolchain,
                $"{where} is Apple's toolchain ('{identity.BannerLine}'). Apple's clang and ld cannot build or link a Linux ELF library with TLSDESC. " +
                "Fix: build on Linux with LLVM clang and lld (apt-get install clang-19 lld-19), or set the property to an upstream LLVM build.");
        }

        if (!identity.IsKnown)
        {
            return new BuildDiagnostic(DiagnosticCodes.VersionUnreadable,
                $"{where} could not be identified: '{tool.Path} --version' {identity.Answer}, not a version banner this build reads. " +
                $"Fix: set {tool.Kind.PropertyName()} to a clang/gcc, ld.lld, GNU or LLVM nm/readelf, or report the banner as a bug.");
        }

        var version = identity.Version!.Value;
        switch (tool.Kind)
        {
            case ToolKind.CCompiler when Mode == NativeBuildMode.Inline && identity.Flavor != ToolFlavor.Clang:
                return new BuildDiagnostic(DiagnosticCodes.InlineNeedsClang,
                    $"{where} is {identity.Describe()}; the inline build needs clang to write ThinLTO bitcode that lld links. {AptFix("clang")}");

            case ToolKind.CCompiler when !Architecture.IsHost && identity.Flavor != ToolFlavor.Clang:
                return new BuildDiagnostic(DiagnosticCodes.CrossBuildNeedsClang,
                    $"{where} is {identity.Describe()}; building for linux-{Architecture.Name} on a {TargetArchitecture.HostName} machine needs clang (--target={Architecture.ClangTriple}). {AptFix("clang")}");

            case ToolKind.CCompiler when Libc.IsMusl && identity.Flavor != ToolFlavor.Clang:
                return new BuildDiagnostic(DiagnosticCodes.CrossBuildNeedsClang,
                    $"{where} is {identity.Describe()}; building for {Libc.Rid(Architecture)} (musl) needs clang (--target={Libc.ClangTriple(Architecture)}). {AptFix("clang")}");

            case ToolKind.CCompiler when identity.Flavor is not (ToolFlavor.Clang or ToolFlavor.Gcc):
                return new BuildDiagnostic(DiagnosticCodes.ToolOfWrongKind,
                    $"{where} is {identity.Describe()}, not a C compiler this build knows. {AptFix("C compiler")}");

            case ToolKind.CCompiler when Mode == NativeBuildMode.Default && Architecture.NeedsTlsDialectFlag
                                         && identity.Flavor == ToolFlavor.Clang && version < MinimumClangForGnu2:
                return new BuildDiagnostic(DiagnosticCodes.CompilerLacksTlsDesc,
                    $"{where} is clang {version}, which rejects -mtls-dialect=gnu2 (TLSDESC on x86-64 needs clang {MinimumClangForGnu2.Major} or newer, or GCC). {AptFix("clang")}");

            case ToolKind.Linker when identity.Flavor != ToolFlavor.Lld:
                return new BuildDiagnostic(DiagnosticCodes.LinkerNotLld,
                    $"{where} is {identity.Describe()}, not LLD; the library is linked with ld.lld. {AptFix("lld")}");

            case ToolKind.Linker when Mode == NativeBuildMode.Inline && Architecture.NeedsTlsDialectFlag && version < MinimumLldForInlineTlsDesc:
                return new BuildDiagnostic(DiagnosticCodes.LldTooOld,
                    $"{where} is LLD {version}; generating TLSDESC during ThinLTO on x86-64 (-mllvm -enable-tlsdesc) needs LLD {MinimumLldForInlineTlsDesc.Major}.{MinimumLldForInlineTlsDesc.Minor} or newer. {AptFix("lld")}");

            case ToolKind.Nm or ToolKind.ReadElf when identity.Flavor is not (ToolFlavor.GnuBinutils or ToolFlavor.Llvm):
                return new BuildDiagnostic(DiagnosticCodes.ToolOfWrongKind,
                    $"{where} is {identity.Describe()}, neither GNU binutils nor LLVM. Fix: apt-get install binutils (or llvm-19), or set {tool.Kind.PropertyName()}.");

            default:
                return null;
        }
    }

    /// <summary>Checks the tools together: ThinLTO bitcode must come from an LLVM no newer than the linker's.</summary>
    public BuildDiagnostic? CheckPair(ResolvedTool compiler, ResolvedTool? linker)
    {
        ArgumentNullException.ThrowIfNull(compiler);
        if (Mode != NativeBuildMode.Inline || linker is null
            || compiler.Identity.Version is not { } clangVersion || linker.Identity.Version is not { } lldVersion)
        {
            return null;
        }

        if (RustLlvmVersion is { } rust)
        {
            if (clangVersion.Major > rust.Major)
            {
                return new BuildDiagnostic(DiagnosticCodes.ClangNewerThanRustc,
                    $"clang at {compiler.Path} is LLVM {clangVersion} but rustc is LLVM {rust}: the shim's bitcode must come from an LLVM no newer than rustc's, " +
                    $"so that one LLD reads both. Fix: use clang {rust.Major} or older (OtelThreadCtxClangPath; 'apt-get install clang-19' works with any newer rustc), or a newer Rust ('rustup update').");
            }

            if (lldVersion.Major < rust.Major)
            {
                return new BuildDiagnostic(DiagnosticCodes.LldOlderThanRustc,
                    $"ld.lld at {linker.Path} is LLD {lldVersion} but rustc is LLVM {rust}: an LLD cannot read bitcode from a newer LLVM. " +
                    $"Fix: link with Rust's own LLD (OtelThreadCtxUseRustLld=true finds $(rustc --print sysroot)/lib/rustlib/<host>/bin/gcc-ld/ld.lld), " +
                    $"or an LLD of major {rust.Major} or newer ('apt-get install lld-{rust.Major}', from bookworm-security on Debian 12; then OtelThreadCtxLldPath).");
            }
        }

        if (clangVersion.Major > lldVersion.Major)
        {
            return new BuildDiagnostic(DiagnosticCodes.ClangNewerThanLld,
                $"clang at {compiler.Path} is LLVM {clangVersion} but ld.lld at {linker.Path} is LLD {lldVersion}: an older LLD cannot read bitcode written by a newer clang. " +
                $"Fix: use an LLD of major version {clangVersion.Major} or newer (apt-get install lld-{clangVersion.Major}, then OtelThreadCtxLldPath), or a clang no newer than {lldVersion.Major} (OtelThreadCtxClangPath).");
        }

        return null;
    }

    /// <summary>The error for a tool that was not found at all.</summary>
    public BuildDiagnostic NotFound(ToolKind kind, IReadOnlyList<string> lookedIn, IReadOnlyList<string> skipped)
    {
        ArgumentNullException.ThrowIfNull(lookedIn);
        ArgumentNullException.ThrowIfNull(skipped);
        var code = kind switch
        {
            ToolKind.CCompiler => DiagnosticCodes.CompilerNotFound,
            ToolKind.Linker => DiagnosticCodes.LinkerNotFound,
            ToolKind.Nm => DiagnosticCodes.NmNotFound,
            _ => DiagnosticCodes.ReadElfNotFound,
        };
        var what = kind switch
        {
            ToolKind.CCompiler when Mode == NativeBuildMode.Inline => "clang (the inline build compiles ThinLTO bitcode)",
            ToolKind.CCompiler => $"a C compiler that accepts -mtls-dialect=gnu2 (gcc, or clang {MinimumClangForGnu2.Major}+)",
            ToolKind.Linker => Mode == NativeBuildMode.Inline && Architecture.NeedsTlsDialectFlag
                ? $"ld.lld {MinimumLldForInlineTlsDesc.Major}.{MinimumLldForInlineTlsDesc.Minor} or newer"
                : "ld.lld",
            ToolKind.Nm => "nm (GNU binutils or llvm-nm)",
            _ => "readelf (GNU binutils or llvm-readelf)",
        };
        var package = kind switch
        {
            ToolKind.CCompiler => "clang-19",
            ToolKind.Linker => "lld-19",
            _ => "binutils",
        };
        var skippedText = skipped.Count == 0 ? string.Empty : " Found but unsuitable: " + string.Join("; ", skipped) + ".";
        return new BuildDiagnostic(code,
            $"No {what} was found. Looked in: {string.Join("; ", lookedIn)}.{skippedText} " +
            $"Fix: apt-get install {package} (Debian/Ubuntu), or set {kind.PropertyName()} to the tool's path (or OtelThreadCtxLlvmRoot to an LLVM installation folder).");
    }
}
