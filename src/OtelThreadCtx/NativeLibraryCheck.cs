using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace OtelThreadCtx;

/// <summary>Decides, before <see cref="NativeLibrary.TryLoad(string, out nint)"/>, whether a file is a whole library that
/// this process can load: the dynamic loader maps every loadable segment, so a file shorter than its segments kills the
/// process with SIGBUS when a page past the end is touched, and a foreign or damaged one may crash it later.</summary>
/// <remarks>The file is read with positional reads, never mapped, so a short file is only a short read here. The check
/// reads the 64-byte ELF header and the program headers; with an expected sha256 (the one the package's build targets
/// record for the library they copied into the application) it reads the whole file once more.</remarks>
internal static class NativeLibraryCheck
{
    private const int HeaderSize = 64;
    private const int ProgramHeaderSize = 56;
    private const int SectionHeaderSize = 64;
    private const ushort EtDyn = 3;
    private const ushort EmX86_64 = 62;
    private const ushort EmAarch64 = 183;
    private const uint PtLoad = 1;
    private const uint PtDynamic = 2;
    private const long DtNull = 0;
    private const long DtNeeded = 1;
    private const long DtStrtab = 5;
    private const long DtStrsz = 10;

    // A library's dynamic section has a few dozen entries and its string table a few kilobytes; beyond these the libc
    // check reads no further (and leaves the decision to the loader).
    private const int MaxDynamicEntries = 512;
    private const int MaxStringTable = 1 << 16;

    // A shared library has about ten program headers; far more means the header is not one.
    private const int MaxProgramHeaders = 256;

    // The library is tens of kilobytes; a file beyond this is not one the package shipped (and is not read into memory).
    private const long MaxHashedLength = 16L << 20;

    /// <summary>Null when <paramref name="path"/> is a complete ELF64 shared library for <paramref name="architecture"/>
    /// (and, when <paramref name="expectedSha256"/> is given, has exactly that content); else why not.</summary>
    /// <param name="path">The file about to be loaded.</param>
    /// <param name="architecture">The process's architecture (x64 or arm64).</param>
    /// <param name="expectedSha256">Lower- or upper-case hex sha256 of the file, or null when none is known.</param>
    /// <param name="muslProcess">True when this process runs on musl (a linux-musl runtime): a library that needs glibc's
    /// libc.so.6 is refused then, and one that needs musl's libc is refused otherwise.</param>
    public static string? Check(string path, Architecture architecture, string? expectedSha256, bool muslProcess = false)
    {
        try
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            var length = RandomAccess.GetLength(file);
            return CheckStructure(file, length, architecture, muslProcess) ?? (expectedSha256 is null ? null : CheckSha256(file, length, expectedSha256));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            return Refusal.Unreadable(e);
        }
    }

    private static string? CheckStructure(SafeFileHandle file, long length, Architecture architecture, bool muslProcess)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        if (ReadFully(file, header, 0) < HeaderSize)
        {
            return Refusal.ShorterThanHeader(length);
        }

        if (header[0] != 0x7F || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F')
        {
            return Refusal.NotElf;
        }

        // EI_CLASS = ELFCLASS64, EI_DATA = ELFDATA2LSB, EI_VERSION = EV_CURRENT.
        if (header[4] != 2 || header[5] != 1 || header[6] != 1)
        {
            return Refusal.NotLittleEndianElf64(header[4], header[5], header[6]);
        }

        var type = BinaryPrimitives.ReadUInt16LittleEndian(header[16..]);
        if (type != EtDyn)
        {
            return Refusal.NotSharedLibrary(type);
        }

        var machine = BinaryPrimitives.ReadUInt16LittleEndian(header[18..]);
        var expectedMachine = architecture == Architecture.Arm64 ? EmAarch64 : EmX86_64;
        if (machine != expectedMachine)
        {
            return Refusal.ForeignMachine(machine, expectedMachine);
        }

        var programHeaders = BinaryPrimitives.ReadUInt64LittleEndian(header[32..]);
        var sectionHeaders = BinaryPrimitives.ReadUInt64LittleEndian(header[40..]);
        var programHeaderSize = BinaryPrimitives.ReadUInt16LittleEndian(header[54..]);
        var programHeaderCount = BinaryPrimitives.ReadUInt16LittleEndian(header[56..]);
        var sectionHeaderSize = BinaryPrimitives.ReadUInt16LittleEndian(header[58..]);
        var sectionHeaderCount = BinaryPrimitives.ReadUInt16LittleEndian(header[60..]);
        if (programHeaderSize != ProgramHeaderSize || programHeaderCount is 0 or > MaxProgramHeaders)
        {
            return Refusal.ImplausibleProgramHeaders(programHeaderCount, programHeaderSize);
        }

        // Section numbering beyond 0xff00 keeps the count in section 0; either way section 0 must be in the file.
        if (sectionHeaderSize != SectionHeaderSize
            || !Inside(sectionHeaders, (ulong)Math.Max((int)sectionHeaderCount, 1) * SectionHeaderSize, length))
        {
            return Refusal.SectionHeadersOutside(sectionHeaderCount, sectionHeaders, length);
        }

        var tableLength = programHeaderCount * ProgramHeaderSize;
        if (!Inside(programHeaders, (ulong)tableLength, length))
        {
            return Refusal.ProgramHeadersOutside(programHeaders, length);
        }

        var table = ArrayPool<byte>.Shared.Rent(tableLength);
        try
        {
            var entries = table.AsSpan(0, tableLength);
            if (ReadFully(file, entries, (long)programHeaders) < tableLength)
            {
                return Refusal.Changed;
            }

            var loadable = 0;
            for (var i = 0; i < programHeaderCount; i++)
            {
                var entry = entries.Slice(i * ProgramHeaderSize, ProgramHeaderSize);
                if (BinaryPrimitives.ReadUInt32LittleEndian(entry) != PtLoad)
                {
                    continue;
                }

                loadable++;
                var offset = BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]);
                var size = BinaryPrimitives.ReadUInt64LittleEndian(entry[32..]);
                if (!Inside(offset, size, length))
                {
                    return Refusal.SegmentOutside(i, size, offset, length);
                }
            }

            return loadable == 0 ? Refusal.NoLoadableSegment : CheckLibc(file, length, entries, programHeaderCount, architecture, muslProcess);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(table);
        }
    }

    /// <summary>The C library the file was linked against, from the names its dynamic section needs (DT_NEEDED), against
    /// the process's: glibc's is libc.so.6, musl's is libc.so (or libc.musl-&lt;arch&gt;.so.1). A library of the other
    /// libc may load (Alpine's gcompat provides a libc.so.6) and then fail in ways no check sees, or fail to load with a
    /// loader message that does not say why. A file whose dynamic section cannot be read is left to the loader.</summary>
    private static string? CheckLibc(SafeFileHandle file, long length, ReadOnlySpan<byte> programHeaders, int count, Architecture architecture, bool muslProcess)
    {
        foreach (var needed in Needed(file, length, programHeaders, count))
        {
            var glibc = needed == "libc.so.6";
            var musl = needed == "libc.so" || (needed.StartsWith("libc.musl-", StringComparison.Ordinal) && needed.EndsWith(".so.1", StringComparison.Ordinal));
            if ((glibc && muslProcess) || (musl && !muslProcess))
            {
                return Refusal.ForeignLibc(needed, muslProcess, architecture);
            }
        }

        return null;
    }

    /// <summary>The DT_NEEDED names of the file (empty when its dynamic section or string table is not where the program
    /// headers say, or is implausibly large).</summary>
    private static List<string> Needed(SafeFileHandle file, long length, ReadOnlySpan<byte> programHeaders, int count)
    {
        var names = new List<string>();
        ulong dynamicOffset = 0, dynamicSize = 0;
        for (var i = 0; i < count; i++)
        {
            var entry = programHeaders.Slice(i * ProgramHeaderSize, ProgramHeaderSize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(entry) == PtDynamic)
            {
                dynamicOffset = BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]);
                dynamicSize = BinaryPrimitives.ReadUInt64LittleEndian(entry[32..]);
            }
        }

        var dynamicLength = (int)Math.Min(dynamicSize, MaxDynamicEntries * 16UL) & ~15;
        if (dynamicLength == 0 || !Inside(dynamicOffset, (ulong)dynamicLength, length))
        {
            return names;
        }

        var dynamic = new byte[dynamicLength];
        if (ReadFully(file, dynamic, (long)dynamicOffset) < dynamicLength)
        {
            return names;
        }

        var neededOffsets = new List<ulong>();
        ulong stringTable = 0, stringTableSize = 0;
        for (var at = 0; at < dynamicLength; at += 16)
        {
            var tag = BinaryPrimitives.ReadInt64LittleEndian(dynamic.AsSpan(at));
            var value = BinaryPrimitives.ReadUInt64LittleEndian(dynamic.AsSpan(at + 8));
            if (tag == DtNull)
            {
                break;
            }

            switch (tag)
            {
                case DtNeeded:
                    neededOffsets.Add(value);
                    break;
                case DtStrtab:
                    stringTable = value;
                    break;
                case DtStrsz:
                    stringTableSize = value;
                    break;
            }
        }

        // DT_STRTAB is an address: the file offset is where a loadable segment maps it from.
        if (neededOffsets.Count == 0 || stringTableSize is 0 or > MaxStringTable || FileOffsetOf(stringTable, programHeaders, count) is not { } tableOffset
            || !Inside(tableOffset, stringTableSize, length))
        {
            return names;
        }

        var strings = new byte[(int)stringTableSize];
        if (ReadFully(file, strings, (long)tableOffset) < strings.Length)
        {
            return names;
        }

        foreach (var offset in neededOffsets)
        {
            if (offset < (ulong)strings.Length && strings.AsSpan((int)offset).IndexOf((byte)0) is var end and >= 0)
            {
                names.Add(System.Text.Encoding.ASCII.GetString(strings, (int)offset, end));
            }
        }

        return names;
    }

    private static ulong? FileOffsetOf(ulong address, ReadOnlySpan<byte> programHeaders, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var entry = programHeaders.Slice(i * ProgramHeaderSize, ProgramHeaderSize);
            var offset = BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]);
            var start = BinaryPrimitives.ReadUInt64LittleEndian(entry[16..]);
            var size = BinaryPrimitives.ReadUInt64LittleEndian(entry[32..]);
            if (BinaryPrimitives.ReadUInt32LittleEndian(entry) == PtLoad && address >= start && address - start < size)
            {
                return offset + (address - start);
            }
        }

        return null;
    }

    private static string? CheckSha256(SafeFileHandle file, long length, string expected)
    {
        if (length > MaxHashedLength)
        {
            return Refusal.TooLargeForShipped(length, expected);
        }

        Span<byte> actual = stackalloc byte[ManagedSha256.HashSizeInBytes];
        var buffer = ArrayPool<byte>.Shared.Rent((int)length);
        try
        {
            var content = buffer.AsSpan(0, (int)length);
            if (ReadFully(file, content, 0) < content.Length)
            {
                return Refusal.Changed;
            }

            ManagedSha256.HashData(content, actual);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var hex = Convert.ToHexString(actual);
        return hex.Equals(expected, StringComparison.OrdinalIgnoreCase) ? null : Refusal.NotShipped(hex, expected);
    }

    private static bool Inside(ulong offset, ulong size, long length) =>
        offset <= (ulong)length && size <= (ulong)length - offset;

    private static int ReadFully(SafeFileHandle file, Span<byte> destination, long offset)
    {
        var total = 0;
        int read;
        while (total < destination.Length && (read = RandomAccess.Read(file, destination[total..], offset + total)) > 0)
        {
            total += read;
        }

        return total;
    }

    /// <summary>The reasons, each formatted in its own method: the JIT compiles one only when a file is refused, so a
    /// library that passes costs the startup none of this formatting code.</summary>
    private static class Refusal
    {
        public const string NotElf = "is not an ELF file";
        public const string Changed = "changed while it was read";
        public const string NoLoadableSegment = "has no loadable segment";

        public static string Unreadable(Exception e) => $"cannot be read ({e.GetType().Name}: {e.Message})";

        public static string ShorterThanHeader(long length) => $"is {length} bytes, shorter than an ELF header";

        public static string NotLittleEndianElf64(byte elfClass, byte data, byte version) =>
            $"is not a little-endian ELF64 file (class {elfClass}, data {data}, version {version})";

        public static string NotSharedLibrary(ushort type) => $"is not a shared library (e_type {type})";

        public static string ForeignMachine(ushort machine, ushort expected) =>
            $"is built for {MachineName(machine)}, but this process runs {MachineName(expected)}";

        public static string ImplausibleProgramHeaders(ushort count, ushort size) =>
            $"has an implausible program header table ({count} entries of {size} bytes)";

        public static string SectionHeadersOutside(ushort count, ulong offset, long length) =>
            $"is cut short: its section header table ({count} entries at offset {offset}) does not fit in its {length} bytes";

        public static string ProgramHeadersOutside(ulong offset, long length) =>
            $"is cut short: its program header table (offset {offset}) does not fit in its {length} bytes";

        public static string SegmentOutside(int index, ulong size, ulong offset, long length) =>
            $"is cut short: its loadable segment {index} ({size} bytes at offset {offset}) does not fit in its {length} bytes";

        public static string TooLargeForShipped(long length, string expected) =>
            $"is {length} bytes, not the library this application shipped (sha256 {expected.ToLowerInvariant()})";


        public static string ForeignLibc(string needed, bool muslProcess, Architecture architecture) => muslProcess
            ? $"is built against glibc (it needs {needed}), but this process runs on musl: ship the linux-musl-{Arch(architecture)} build"
            : $"is built against musl (it needs {needed}), but this process runs on glibc: ship the linux-{Arch(architecture)} build";

        private static string Arch(Architecture architecture) => architecture == Architecture.Arm64 ? "arm64" : "x64";

        public static string NotShipped(string actual, string expected) =>
            $"is not the library this application shipped (sha256 {actual.ToLowerInvariant()}, expected {expected.ToLowerInvariant()}): damaged or replaced";

        private static string MachineName(ushort machine) => machine switch
        {
            EmX86_64 => "x86-64",
            EmAarch64 => "aarch64",
            _ => $"machine {machine}",
        };
    }
}
