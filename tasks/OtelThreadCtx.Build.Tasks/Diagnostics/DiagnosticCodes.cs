namespace OtelThreadCtx.Build.Tasks.Diagnostics;

/// <summary>Every stable error code the build can report. Codes never change meaning; docs/errors.md lists them.</summary>
public static class DiagnosticCodes
{
    // 1xxx: resolve and check the toolchain.
    public const string CompilerNotFound = "OTC1001";
    public const string LinkerNotFound = "OTC1002";
    public const string NmNotFound = "OTC1003";
    public const string ReadElfNotFound = "OTC1004";
    public const string ExplicitToolMissing = "OTC1005";
    public const string VersionUnreadable = "OTC1006";
    public const string ToolOfWrongKind = "OTC1008";
    public const string ExplicitToolIsDirectory = "OTC1009";
    public const string RustToolchainNotFound = "OTC1010";
    public const string ArchiverNotFound = "OTC1011";
    public const string AppleToolchain = "OTC1101";
    public const string CompilerLacksTlsDesc = "OTC1102";
    public const string LldTooOld = "OTC1103";
    public const string ClangNewerThanLld = "OTC1104";
    public const string LinkerNotLld = "OTC1105";
    public const string InlineNeedsClang = "OTC1106";
    public const string CrossBuildNeedsClang = "OTC1107";
    public const string ClangNewerThanRustc = "OTC1111";
    public const string LldOlderThanRustc = "OTC1112";
    public const string RustTargetNotInstalled = "OTC1113";
    public const string StaticInlineNeedsLld = "OTC1114";
    public const string UnsupportedTarget = "OTC1201";
    public const string CrossSysrootMissing = "OTC1202";
    public const string InvalidBooleanProperty = "OTC1204";
    public const string InvalidNumberProperty = "OTC1205";
    public const string MuslLibcMissing = "OTC1206";

    // 2xxx: compile. 3xxx: link.
    public const string CompileFailed = "OTC2001";
    public const string NoSources = "OTC2002";
    public const string DuplicateObjectName = "OTC2003";
    public const string CompileOutputMissing = "OTC2004";
    public const string CargoBuildFailed = "OTC2005";
    public const string RustStaticLibraryMissing = "OTC2006";
    public const string LinkFailed = "OTC3001";
    public const string VersionScriptMissing = "OTC3002";
    public const string LinkOutputMissing = "OTC3003";
    public const string ArchiveFailed = "OTC3004";

    // 4xxx: verify the linked library.
    public const string ShimNotInlined = "OTC4001";
    public const string ShimNotVisible = "OTC4002";
    public const string TlsSymbolNotExported = "OTC4003";
    public const string NoTlsDescRelocation = "OTC4004";
    public const string OtherTlsRelocation = "OTC4005";
    public const string HardeningMissing = "OTC4006";
    public const string ToolOutputUnreadable = "OTC4007";
    public const string InspectionToolFailed = "OTC4008";
    public const string ObjcopyNotFound = "OTC4009";
    public const string DebugSplitFailed = "OTC4010";
    public const string ExportedFunctionNotInlined = "OTC4011";
    public const string ForeignLibcDependency = "OTC4014";

    // 4015-4017: verify a NativeAOT executable that links the static archive in.
    public const string ExecutableTlsNotStatic = "OTC4015";
    public const string ExecutableSlotAccessNotDirect = "OTC4016";
    public const string ExecutableSymbolsMissing = "OTC4017";

    // 4012-4013: publish the verified library.
    public const string PublishFailed = "OTC4012";
    public const string PublishSourceMismatch = "OTC4013";

    // 6xxx: running tools.
    public const string ToolTimedOut = "OTC6001";
    public const string Cancelled = "OTC6002";
}
