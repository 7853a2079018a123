namespace OtelThreadCtx.Tool.Elf;

/// <summary>How code reaches the TLS variable, as OTEP 4947 names the models.</summary>
internal enum TlsModel
{
    None,
    TlsDescriptor,
    GeneralDynamic,
    InitialExec,
    LocalExec,
    LocalDynamic,
}

/// <summary>One access model found in a file, with the relocations that show it.</summary>
internal sealed record TlsAccess(TlsModel Model, IReadOnlyList<DynamicRelocation> Relocations);

/// <summary>Classifies a module's access to a TLS symbol from its dynamic relocations (x86-64 and aarch64 numbers).</summary>
internal static class TlsAccessModels
{
    public const string SymbolName = "otel_thread_ctx_v1";

    public static bool IsTlsDescriptor(ElfMachine m, uint type) => m == ElfMachine.X64 ? type == 36 : m == ElfMachine.Arm64 && type == 1031;

    public static bool IsDtpMod(ElfMachine m, uint type) => m == ElfMachine.X64 ? type == 16 : m == ElfMachine.Arm64 && type == 1028;

    public static bool IsDtpOff(ElfMachine m, uint type) => m == ElfMachine.X64 ? type == 17 : m == ElfMachine.Arm64 && type == 1029;

    public static bool IsTpOff(ElfMachine m, uint type) => m == ElfMachine.X64 ? type == 18 : m == ElfMachine.Arm64 && type == 1030;

    /// <summary>The models <paramref name="image"/> uses for <paramref name="symbol"/>, most preferred first.</summary>
    public static IReadOnlyList<TlsAccess> Classify(ElfImage image, DynamicSymbol symbol)
    {
        var m = image.Machine;
        var own = image.Relocations.Where(r => r.SymbolIndex == symbol.Index).ToList();
        var result = new List<TlsAccess>();
        void Add(TlsModel model, Func<DynamicRelocation, bool> match)
        {
            var found = own.Where(match).ToList();
            if (found.Count > 0)
            {
                result.Add(new TlsAccess(model, found));
            }
        }

        Add(TlsModel.TlsDescriptor, r => IsTlsDescriptor(m, r.Type));
        Add(TlsModel.GeneralDynamic, r => IsDtpMod(m, r.Type) || IsDtpOff(m, r.Type));
        Add(TlsModel.InitialExec, r => IsTpOff(m, r.Type));
        if (result.Count == 0)
        {
            // No relocation names the symbol: module-relative TLS relocations (symbol 0) are local-dynamic in a library;
            // in an executable the linker resolved the offset itself (local-exec, from PT_TLS).
            var moduleRelative = image.Relocations.Where(r => r.SymbolIndex == 0 && (IsDtpMod(m, r.Type) || IsTlsDescriptor(m, r.Type))).ToList();
            if (image.IsProgram && moduleRelative.Count == 0)
            {
                result.Add(new TlsAccess(TlsModel.LocalExec, []));
            }
            else if (moduleRelative.Count > 0)
            {
                result.Add(new TlsAccess(TlsModel.LocalDynamic, moduleRelative));
            }
        }

        return result;
    }

    public static string Name(TlsModel model) => model switch
    {
        TlsModel.TlsDescriptor => "tlsdesc",
        TlsModel.GeneralDynamic => "general-dynamic",
        TlsModel.InitialExec => "initial-exec",
        TlsModel.LocalExec => "local-exec",
        TlsModel.LocalDynamic => "local-dynamic",
        _ => "none",
    };

    /// <summary>OTEP 4947's verdict for a model in a library or an executable.</summary>
    public static (string Verdict, bool Acceptable) Verdict(TlsModel model, bool executable) => model switch
    {
        TlsModel.TlsDescriptor => ("recommended", true),
        TlsModel.GeneralDynamic => ("supported, not preferred (TLSDESC is recommended)", true),
        TlsModel.InitialExec when executable => ("fine in an executable", true),
        TlsModel.InitialExec => ("initial-exec in a shared library: only works when the library is loaded at startup (static TLS); use TLSDESC", false),
        TlsModel.LocalExec => ("fine in an executable", true),
        TlsModel.LocalDynamic => ("unsupported by readers (local-dynamic)", false),
        _ => ("no access found", false),
    };
}
