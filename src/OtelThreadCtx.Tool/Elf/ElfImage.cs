using LibObjectFile.Diagnostics;
using LibObjectFile.Elf;

namespace OtelThreadCtx.Tool.Elf;

/// <summary>The ELF architectures a reader of OTEP 4947 handles.</summary>
internal enum ElfMachine
{
    Other,
    X64,
    Arm64,
}

/// <summary>One dynamic symbol, as read from .dynsym.</summary>
internal sealed record DynamicSymbol(string Name, ulong Value, ulong Size, ElfSymbolType Type, ElfSymbolBind Bind, ElfSymbolVisibility Visibility, bool Defined, uint Index);

/// <summary>One dynamic relocation (from .rela.dyn / .rela.plt), its type as the raw number.</summary>
internal sealed record DynamicRelocation(ulong Offset, uint Type, uint SymbolIndex, long Addend);

/// <summary>A loadable segment: where file bytes land in memory.</summary>
internal sealed record LoadSegment(ulong VirtualAddress, ulong FileOffset, ulong FileSize, ulong MemorySize);

/// <summary>
/// An ELF file read with LibObjectFile: its dynamic symbols, dynamic relocations, TLS segment, hardening notes and the
/// bytes at a virtual address (for constants such as glibc's _thread_db_* descriptors). Everything else is left out.
/// </summary>
internal sealed class ElfImage
{
    private readonly byte[] _bytes;

    private ElfImage(string path, byte[] bytes, ElfFile file)
    {
        Path = path;
        _bytes = bytes;
        Machine = (ushort)file.Arch switch
        {
            62 => ElfMachine.X64,
            183 => ElfMachine.Arm64,
            _ => ElfMachine.Other,
        };
        MachineName = file.Arch.ToString();
        IsSharedObject = file.FileType == ElfFileType.Dynamic;
        IsExecutable = file.FileType == ElfFileType.Executable;
        var symbols = new List<DynamicSymbol>();
        var relocations = new List<DynamicRelocation>();
        var loads = new List<LoadSegment>();
        foreach (var section in file.Sections)
        {
            if (section is ElfSymbolTable table && section.Type == ElfSectionType.DynamicLinkerSymbolTable)
            {
                for (var i = 0; i < table.Entries.Count; i++)
                {
                    var s = table.Entries[i];
                    symbols.Add(new DynamicSymbol(s.Name.Value ?? "", s.Value, s.Size, s.Type, s.Bind, s.Visibility, s.SectionLink.Section is not null || s.SectionLink.IsSpecial && s.SectionLink.SpecialIndex != 0, (uint)i));
                }
            }
            else if (section is ElfRelocationTable rela && (section.Flags & ElfSectionFlags.Alloc) != 0)
            {
                foreach (var r in rela.Entries)
                {
                    relocations.Add(new DynamicRelocation(r.Offset, r.Type.Value, r.SymbolIndex, r.Addend));
                }
            }
            else if (section is ElfDynamicLinkingTable dynamic)
            {
                foreach (var entry in dynamic.Entries)
                {
                    if (entry.Tag == 24)
                    {
                        BindNow = true;
                    }
                    else if (entry.Tag == 30 && (entry.Value & 0x8) != 0)
                    {
                        BindNow = true;
                    }
                    else if (entry.Tag == 0x6ffffffb && (entry.Value & 0x1) != 0)
                    {
                        BindNow = true;
                    }
                }
            }
        }

        foreach (var segment in file.Segments)
        {
            var type = segment.Type.Value;
            if (type == 1)
            {
                loads.Add(new LoadSegment(segment.VirtualAddress, segment.Position, segment.Size, segment.SizeInMemory));
            }
            else if (type == 7)
            {
                Tls = new TlsSegment(segment.VirtualAddress, segment.SizeInMemory, Math.Max(1, segment.VirtualAddressAlignment));
            }
            else if (type == 0x6474e552)
            {
                Relro = true;
            }
            else if (type == 0x6474e551)
            {
                HasGnuStack = true;
                ExecutableStack = (segment.Flags.Value & 1) != 0;
            }
            else if (type == 2)
            {
                HasDynamicSegment = true;
            }
            else if (type == 3)
            {
                HasInterpreter = true;
            }
        }

        Symbols = symbols;
        Relocations = relocations;
        Loads = loads;
    }

    public string Path { get; }

    public ElfMachine Machine { get; }

    public string MachineName { get; }

    /// <summary>ET_DYN: a shared library or a position-independent executable.</summary>
    public bool IsSharedObject { get; }

    /// <summary>ET_EXEC: a fixed-address executable.</summary>
    public bool IsExecutable { get; }

    public IReadOnlyList<DynamicSymbol> Symbols { get; }

    public IReadOnlyList<DynamicRelocation> Relocations { get; }

    public IReadOnlyList<LoadSegment> Loads { get; }

    public TlsSegment? Tls { get; }

    public bool Relro { get; }

    public bool BindNow { get; }

    public bool HasGnuStack { get; }

    public bool ExecutableStack { get; }

    public bool HasDynamicSegment { get; }

    /// <summary>PT_INTERP: an executable (a PIE is ET_DYN with an interpreter).</summary>
    public bool HasInterpreter { get; }

    /// <summary>An executable: ET_EXEC, or ET_DYN with PT_INTERP (a PIE).</summary>
    public bool IsProgram => IsExecutable || (IsSharedObject && HasInterpreter);

    /// <summary>Reads the file at <paramref name="path"/>; null with a reason when it is not an ELF file this tool reads.</summary>
    public static ElfImage? TryLoad(string path, out string? error)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"cannot read {path}: {e.Message}";
            return null;
        }

        using var stream = new MemoryStream(bytes, writable: false);
        if (!ElfFile.IsElf(stream))
        {
            error = $"{path} is not an ELF file";
            return null;
        }

        stream.Position = 0;
        try
        {
            if (!ElfFile.TryRead(stream, out var file, out var diagnostics))
            {
                error = $"{path}: unreadable ELF: {FirstError(diagnostics)}";
                return null;
            }

            error = null;
            return new ElfImage(path, bytes, file);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error = $"{path}: unreadable ELF: {e.Message}";
            return null;
        }
    }

    /// <summary>Whether <paramref name="path"/> starts with the ELF magic (cheap test before a full read).</summary>
    public static bool LooksLikeElf(string path)
    {
        try
        {
            using var f = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[4];
            return f.Read(magic) == 4 && magic[0] == 0x7f && magic[1] == (byte)'E' && magic[2] == (byte)'L' && magic[3] == (byte)'F';
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public DynamicSymbol? FindDefined(string name) => Symbols.FirstOrDefault(s => s.Defined && s.Name == name);

    /// <summary>The lowest PT_LOAD's virtual address, page-aligned down: what the load bias is measured from.</summary>
    public ulong FirstLoadAddress => Loads.Count == 0 ? 0 : Loads.Min(l => l.VirtualAddress) & ~0xfffUL;

    /// <summary>File bytes at a virtual address (from the PT_LOAD that maps it), or null when not in the file.</summary>
    public byte[]? ReadVirtual(ulong address, int length)
    {
        foreach (var load in Loads)
        {
            if (address >= load.VirtualAddress && address + (ulong)length <= load.VirtualAddress + load.FileSize)
            {
                var offset = (long)(load.FileOffset + (address - load.VirtualAddress));
                return offset + length <= _bytes.Length ? _bytes.AsSpan((int)offset, length).ToArray() : null;
            }
        }

        return null;
    }

    public byte[] FileBytes => _bytes;

    private static string FirstError(DiagnosticBag diagnostics)
    {
        foreach (var message in diagnostics.Messages)
        {
            if (message.Kind == DiagnosticKind.Error)
            {
                return message.Message;
            }
        }

        return "unknown error";
    }
}

/// <summary>PT_TLS: the module's TLS block template.</summary>
internal sealed record TlsSegment(ulong VirtualAddress, ulong MemorySize, ulong Alignment);
