using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using OtelThreadCtx.Tool.Elf;
using OtelThreadCtx.Tool.Output;

namespace OtelThreadCtx.Tool.Live;

/// <summary>The result of locating otel_thread_ctx_v1 in a process.</summary>
internal sealed record LocatedVariable(VariableReport Report, TlsLocation? Location);

/// <summary>
/// Locates otel_thread_ctx_v1 in a live process as a profiler does: scan the executable and every mapped ELF for the
/// symbol, take the access model from the defining module's relocations, and follow it (TLSDESC static or dynamic,
/// general dynamic, initial-exec, local-exec), cross-checked with the loader's link_map where glibc describes it.
/// </summary>
internal sealed class TlsLocator(int pid, RemoteMemory memory, IReadOnlyList<MapEntry> maps)
{
    private static readonly byte[] SymbolBytes = Encoding.ASCII.GetBytes(TlsAccessModels.SymbolName + "\0");
    private readonly Dictionary<string, ElfImage?> _images = new(StringComparer.Ordinal);

    private ElfMachine Machine => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? ElfMachine.Arm64 : ElfMachine.X64;

    public LocatedVariable Locate()
    {
        var modules = ProcessMaps.Modules(maps);
        var exe = ReadLink($"/proc/{pid}/exe");
        var ordered = modules.OrderBy(m => m.Path == exe ? 0 : 1).ToList();
        (MappedModule Module, ElfImage Image, DynamicSymbol Symbol)? found = null;
        foreach (var module in ordered)
        {
            var image = Load(module.Path, requireSymbolName: true);
            var symbol = image?.FindDefined(TlsAccessModels.SymbolName);
            if (image is not null && symbol is not null && symbol.Type == LibObjectFile.Elf.ElfSymbolType.Tls)
            {
                found = (module, image, symbol);
                break;
            }
        }

        var libc = DescribeLibc(modules, out var dtvLayout, out var libcError);
        if (found is not { } f)
        {
            return Fail(null, libc, $"no mapped ELF file defines {TlsAccessModels.SymbolName} as TLS in .dynsym (scanned {modules.Count} files): the process does not publish thread context, or the library is not loaded yet");
        }

        var bias = f.Module.Start - f.Image.FirstLoadAddress;
        var linkMap = libc == "glibc" ? ReadLinkMap(modules, bias) : null;
        var accesses = TlsAccessModels.Classify(f.Image, f.Symbol);
        if (accesses.Count == 0)
        {
            return Fail(f.Module.Path, libc, "the defining module has no TLS relocation for the symbol: cannot tell how it is reached");
        }

        var access = accesses[0];
        var model = TlsAccessModels.Name(access.Model);
        var isX64 = Machine == ElfMachine.X64;
        LocatedVariable Done(TlsLocation location, string detail) => new(new VariableReport(true, f.Module.Path, model, location.IsStatic ? "static" : "dynamic", libc, detail, location.ThreadPointerOffset, location.IsStatic ? null : location.ModuleId, location.IsStatic ? null : location.BlockOffset, null), location);
        LocatedVariable NeedsDtv(string why) => Fail(f.Module.Path, libc, $"{why}, but the DTV layout is unknown: {libcError}", model);

        switch (access.Model)
        {
            case TlsModel.TlsDescriptor:
            {
                var r = access.Relocations[0];
                var descriptor = memory.TryRead(bias + r.Offset, 16);
                if (descriptor is null)
                {
                    return Fail(f.Module.Path, libc, $"cannot read the TLS descriptor at 0x{bias + r.Offset:x}", model);
                }

                var resolver = BinaryPrimitives.ReadUInt64LittleEndian(descriptor);
                var argument = BinaryPrimitives.ReadUInt64LittleEndian(descriptor.AsSpan(8));
                var resolverAt = Symbolize(modules, resolver);
                var target = (long)(f.Symbol.Value + (ulong)r.Addend);
                if (linkMap is { } lm && lm.StaticOffset is { } staticOffset)
                {
                    var expected = isX64 ? target - staticOffset : target + staticOffset;
                    if ((long)argument == expected)
                    {
                        return Done(TlsLocation.Static(expected), $"TLSDESC resolved statically (resolver {resolverAt}, e.g. _dl_tlsdesc_return): the descriptor's second word is the thread-pointer offset {FormatSigned(expected)}; link_map l_tls_offset {lm.StaticOffset} agrees");
                    }
                }

                // Dynamic: the second word points at {module id, offset} (glibc's tlsdesc_dynamic_arg, musl's pair).
                var pair = memory.TryRead(argument, 16);
                var looksStatic = isX64 ? (long)argument is < 0 and > -(1L << 32) : argument < (1UL << 32);
                if (linkMap is null && looksStatic)
                {
                    return Done(TlsLocation.Static((long)argument), $"TLSDESC resolved statically (resolver {resolverAt}): the descriptor's second word is the thread-pointer offset {FormatSigned((long)argument)}");
                }

                if (pair is null)
                {
                    return Fail(f.Module.Path, libc, $"TLSDESC descriptor's second word 0x{argument:x} is neither the static offset nor a readable pointer", model);
                }

                var moduleId = BinaryPrimitives.ReadUInt64LittleEndian(pair);
                var offset = BinaryPrimitives.ReadUInt64LittleEndian(pair.AsSpan(8));
                if (linkMap is { } map && map.ModuleId != moduleId)
                {
                    return Fail(f.Module.Path, libc, $"TLSDESC dynamic argument names module {moduleId}, link_map says {map.ModuleId}", model);
                }

                if (dtvLayout is null)
                {
                    return NeedsDtv("TLSDESC resolved dynamically");
                }

                return Done(TlsLocation.Dynamic(moduleId, offset, dtvLayout), $"TLSDESC resolved dynamically (resolver {resolverAt}, e.g. _dl_tlsdesc_dynamic): module {moduleId}, offset 0x{offset:x}, through the DTV");
            }

            case TlsModel.GeneralDynamic:
            {
                var mod = access.Relocations.FirstOrDefault(r => TlsAccessModels.IsDtpMod(f.Image.Machine, r.Type));
                var off = access.Relocations.FirstOrDefault(r => TlsAccessModels.IsDtpOff(f.Image.Machine, r.Type));
                if (mod is null || !memory.TryReadU64(bias + mod.Offset, out var moduleId))
                {
                    return Fail(f.Module.Path, libc, "cannot read the DTPMOD64 GOT entry", model);
                }

                var offset = 0UL;
                if (off is not null && !memory.TryReadU64(bias + off.Offset, out offset))
                {
                    return Fail(f.Module.Path, libc, "cannot read the DTPOFF64 GOT entry", model);
                }

                if (dtvLayout is null)
                {
                    return NeedsDtv("general dynamic");
                }

                return Done(TlsLocation.Dynamic(moduleId, offset, dtvLayout), $"general dynamic (DTPMOD64/DTPOFF64 GOT pair): module {moduleId}, offset 0x{offset:x}, through the DTV");
            }

            case TlsModel.InitialExec:
            {
                var r = access.Relocations[0];
                if (!memory.TryReadU64(bias + r.Offset, out var value))
                {
                    return Fail(f.Module.Path, libc, "cannot read the TPOFF64 GOT entry", model);
                }

                return Done(TlsLocation.Static((long)value), $"initial-exec (TPOFF64 GOT entry): thread-pointer offset {FormatSigned((long)value)}");
            }

            case TlsModel.LocalExec:
            {
                long offset;
                string how;
                if (linkMap is { StaticOffset: { } lo })
                {
                    offset = isX64 ? (long)f.Symbol.Value - lo : (long)f.Symbol.Value + lo;
                    how = $"link_map l_tls_offset {lo}";
                }
                else if (f.Image.Tls is { } tls)
                {
                    var align = (long)tls.Alignment;
                    offset = isX64 ? (long)f.Symbol.Value - AlignUp((long)tls.MemorySize, align) : (long)f.Symbol.Value + AlignUp(16, align);
                    how = $"PT_TLS (size {tls.MemorySize}, align {tls.Alignment})";
                }
                else
                {
                    return Fail(f.Module.Path, libc, "local-exec but the executable has no PT_TLS", model);
                }

                return Done(TlsLocation.Static(offset), $"local-exec in the executable: thread-pointer offset {FormatSigned(offset)} from {how}");
            }

            default:
                return Fail(f.Module.Path, libc, $"access model {model} is not supported by readers (OTEP 4947)", model);
        }
    }

    private static long AlignUp(long value, long align) => align <= 1 ? value : (value + align - 1) / align * align;

    private static string FormatSigned(long v) => v < 0 ? $"-0x{-v:x}" : $"0x{v:x}";

    private static LocatedVariable Fail(string? module, string? libc, string error, string? model = null) =>
        new(new VariableReport(false, module, model, null, libc, null, null, null, null, error), null);

    private static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private ElfImage? Load(string path, bool requireSymbolName)
    {
        if (_images.TryGetValue(path, out var cached))
        {
            return cached;
        }

        ElfImage? image = null;
        var file = $"/proc/{pid}/root{path}";
        if (!File.Exists(file))
        {
            file = path;
        }

        if (File.Exists(file) && ElfImage.LooksLikeElf(file) && (!requireSymbolName || Contains(file, SymbolBytes)))
        {
            image = ElfImage.TryLoad(file, out _);
        }

        if (!requireSymbolName || image is not null)
        {
            _images[path] = image;
        }

        return image;
    }

    private static bool Contains(string file, byte[] needle)
    {
        try
        {
            return File.ReadAllBytes(file).AsSpan().IndexOf(needle) >= 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>glibc: the DTV layout from libc's _thread_db_* descriptors; musl: its ABI (one pointer per module).
    /// glibc is the libc that exports gnu_get_libc_version; musl's libc.so is also its loader (ld-musl-*.so.1).</summary>
    private string? DescribeLibc(IReadOnlyList<MappedModule> modules, out DtvLayout? layout, out string? error)
    {
        layout = null;
        error = null;
        var candidates = modules.Where(m => Path.GetFileName(m.Path) is var n && (n.StartsWith("libc.so", StringComparison.Ordinal) || n.StartsWith("ld-musl-", StringComparison.Ordinal) || n.StartsWith("libc.musl", StringComparison.Ordinal))).ToList();
        var glibc = candidates.FirstOrDefault(m => Load(m.Path, requireSymbolName: false)?.FindDefined("gnu_get_libc_version") is not null);
        var musl = glibc is null ? candidates.FirstOrDefault(m => m.Path.Contains("musl", StringComparison.Ordinal)) : null;
        if (musl is not null)
        {
            // musl: struct pthread { self, dtv, ... } at tp on x86-64; on aarch64 the dtv pointer is the last word before tp.
            layout = new DtvLayout("musl", Machine == ElfMachine.X64 ? 8 : -8, 8, 0, false);
            return "musl";
        }

        if (glibc is null)
        {
            error = "no glibc (libc.so.6) or musl (ld-musl) mapped: a static executable? The DTV cannot be found";
            return null;
        }

        var image = Load(glibc.Path, requireSymbolName: false);
        var dtvp = image is null ? null : DbDescriptor(image, "_thread_db_pthread_dtvp");
        var dtv = image is null ? null : DbDescriptor(image, "_thread_db_dtv_dtv");
        var val = image is null ? null : DbDescriptor(image, "_thread_db_dtv_t_pointer_val");
        if (dtvp is null || dtv is null || val is null)
        {
            error = $"{glibc.Path} has no _thread_db_pthread_dtvp/_thread_db_dtv_dtv/_thread_db_dtv_t_pointer_val descriptors";
            return "glibc";
        }

        // x86-64: struct pthread starts at the thread pointer (tcbhead_t first), so dtvp is tp-relative. aarch64 (TLS
        // variant I): tp points at tcbhead_t, whose first word is the dtv pointer; libthread_db's dtvp counts from
        // struct pthread, which sits TLS_PRE_TCB_SIZE below tp, so the tp-relative offset is 0.
        var dtvOffset = Machine == ElfMachine.X64 ? dtvp.Value.Offset : 0;
        layout = new DtvLayout("glibc", dtvOffset, (int)(dtv.Value.SizeBits / 8), (int)val.Value.Offset, true);
        return "glibc";
    }

    /// <summary>A libthread_db descriptor: three 32-bit words {size in bits, count, offset}.</summary>
    private static (uint SizeBits, uint Count, uint Offset)? DbDescriptor(ElfImage libc, string name)
    {
        var symbol = libc.FindDefined(name);
        var bytes = symbol is null ? null : libc.ReadVirtual(symbol.Value, 12);
        return bytes is null ? null : (BinaryPrimitives.ReadUInt32LittleEndian(bytes), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)));
    }

    private sealed record LinkMapEntry(ulong ModuleId, long? StaticOffset);

    /// <summary>Walks glibc's link_map list (from ld.so's _r_debug) to the module loaded at <paramref name="bias"/>: its
    /// l_tls_modid, and l_tls_offset when the block is in static TLS.</summary>
    private LinkMapEntry? ReadLinkMap(IReadOnlyList<MappedModule> modules, ulong bias)
    {
        var ld = modules.FirstOrDefault(m => Path.GetFileName(m.Path).StartsWith("ld-linux", StringComparison.Ordinal));
        var libc = modules.FirstOrDefault(m => Path.GetFileName(m.Path).StartsWith("libc.so", StringComparison.Ordinal));
        if (ld is null || libc is null)
        {
            return null;
        }

        var ldImage = Load(ld.Path, requireSymbolName: false);
        var libcImage = Load(libc.Path, requireSymbolName: false);
        var rDebug = ldImage?.FindDefined("_r_debug");
        var modid = libcImage is null ? null : DbDescriptor(libcImage, "_thread_db_link_map_l_tls_modid");
        var tlsOffset = libcImage is null ? null : DbDescriptor(libcImage, "_thread_db_link_map_l_tls_offset");
        if (ldImage is null || rDebug is null || modid is null || tlsOffset is null)
        {
            return null;
        }

        var ldBias = ld.Start - ldImage.FirstLoadAddress;
        if (!memory.TryReadU64(ldBias + rDebug.Value + 8, out var map))
        {
            return null;
        }

        for (var i = 0; i < 4096 && map != 0; i++)
        {
            if (!memory.TryReadU64(map, out var lAddr))
            {
                return null;
            }

            if (lAddr == bias && memory.TryReadU64(map + modid.Value.Offset, out var id) && memory.TryReadU64(map + tlsOffset.Value.Offset, out var off))
            {
                var signed = (long)off;
                return new LinkMapEntry(id, signed is 0 or -1 or -2 ? null : signed);
            }

            if (!memory.TryReadU64(map + 24, out map))
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>"module+0xoffset" for a code address (ld.so keeps its TLSDESC resolvers out of .dynsym).</summary>
    private static string Symbolize(IReadOnlyList<MappedModule> modules, ulong address)
    {
        var m = modules.FirstOrDefault(x => address >= x.Start && address < x.End);
        return m is null ? $"0x{address:x}" : $"{Path.GetFileName(m.Path)}+0x{address - m.Start:x}";
    }
}
