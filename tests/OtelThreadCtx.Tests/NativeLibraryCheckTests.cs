using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace OtelThreadCtx.Tests;

/// <summary>Each rule of the check made before loading (<see cref="NativeLibraryCheck"/>), on copies of the real library
/// with one ELF field changed (offsets from the ELF64 specification). The check only reads; nothing here is loaded, so a
/// rule that let a bad file through would show as a null reason, not as a crash of the test host.</summary>
public sealed class NativeLibraryCheckTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("otc-check-").FullName;
    private readonly byte[] library = File.ReadAllBytes(TestLibrary.Path);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void The_real_library_passes_with_and_without_its_sha256()
    {
        var path = Write(library);
        Assert.Null(NativeLibraryCheck.Check(path, Architecture.X64, null));
        Assert.Null(NativeLibraryCheck.Check(path, Architecture.X64, Convert.ToHexString(SHA256.HashData(library))));
        Assert.Null(NativeLibraryCheck.Check(path, Architecture.X64, Convert.ToHexStringLower(SHA256.HashData(library))));
    }

    [Fact]
    public void Another_sha256_is_refused_and_both_hashes_are_named()
    {
        var other = new string('a', 64);
        var reason = NativeLibraryCheck.Check(Write(library), Architecture.X64, other);
        Assert.NotNull(reason);
        Assert.Contains("is not the library this application shipped", reason, StringComparison.Ordinal);
        Assert.Contains(other, reason, StringComparison.Ordinal);
        Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(library)), reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_library_for_another_machine_is_refused() =>
        Assert.Contains("is built for x86-64, but this process runs aarch64",
            NativeLibraryCheck.Check(Write(library), Architecture.Arm64, null), StringComparison.Ordinal);

    [Fact]
    public void A_glibc_library_is_refused_in_a_musl_process_and_a_musl_one_in_a_glibc_process()
    {
        Assert.Contains("is built against glibc (it needs libc.so.6), but this process runs on musl: ship the linux-musl-x64 build",
            NativeLibraryCheck.Check(Write(library), Architecture.X64, null, muslProcess: true), StringComparison.Ordinal);

        // The same library with the name in its string table cut to musl's libc.so: what a linux-musl build needs.
        var musl = (byte[])library.Clone();
        var name = "\0libc.so.6\0"u8;
        var at = musl.AsSpan().IndexOf(name);
        Assert.True(at >= 0, "the library names libc.so.6");
        musl[at + 8] = 0;
        Assert.Contains("is built against musl (it needs libc.so), but this process runs on glibc: ship the linux-x64 build",
            NativeLibraryCheck.Check(Write(musl), Architecture.X64, null), StringComparison.Ordinal);
        Assert.Null(NativeLibraryCheck.Check(Write(musl), Architecture.X64, null, muslProcess: true));
    }

    public static TheoryData<string, int, int, int, string> Fields() => new()
    {
        // what, offset, size in bytes, new value, expected reason
        { "magic", 1, 1, 'X', "is not an ELF file" },
        { "ELFCLASS32", 4, 1, 1, "is not a little-endian ELF64 file" },
        { "big-endian", 5, 1, 2, "is not a little-endian ELF64 file" },
        { "ET_EXEC", 16, 2, 2, "is not a shared library (e_type 2)" },
        { "e_machine i386", 18, 2, 3, "is built for machine 3" },
        { "no program headers", 56, 2, 0, "implausible program header table" },
        { "e_phentsize", 54, 2, 32, "implausible program header table" },
        { "section headers past the end", 40, 8, int.MaxValue, "its section header table" },
        { "program headers past the end", 32, 8, int.MaxValue, "its program header table" },
    };

    [Theory]
    [MemberData(nameof(Fields))]
    public void A_header_field_out_of_bounds_is_refused(string what, int offset, int size, int value, string reason)
    {
        var bytes = (byte[])library.Clone();
        switch (size)
        {
            case 1: bytes[offset] = (byte)value; break;
            case 2: BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(offset), (ushort)value); break;
            default: BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(offset), (ulong)value); break;
        }

        var found = NativeLibraryCheck.Check(Write(bytes), Architecture.X64, null);
        Assert.True(found?.Contains(reason, StringComparison.Ordinal) == true, $"{what}: {found ?? "accepted"}");
    }

    [Fact]
    public void A_loadable_segment_that_ends_past_the_file_is_refused_though_the_section_headers_fit()
    {
        var bytes = (byte[])library.Clone();
        var table = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(32));
        int count = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(56));
        var load = Enumerable.Range(0, count).Select(i => table + (i * 56)).Last(e => BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(e)) == 1);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(load + 32), (ulong)bytes.Length); // p_filesz: as long as the file

        var reason = NativeLibraryCheck.Check(Write(bytes), Architecture.X64, null);
        Assert.True(reason?.Contains("its loadable segment", StringComparison.Ordinal) == true, reason ?? "accepted");
    }

    [Fact]
    public void A_missing_file_and_a_folder_are_reasons_not_exceptions()
    {
        Assert.Contains("cannot be read", NativeLibraryCheck.Check(Path.Combine(folder, "none.so"), Architecture.X64, null), StringComparison.Ordinal);
        Assert.Contains("cannot be read", NativeLibraryCheck.Check(folder, Architecture.X64, null), StringComparison.Ordinal);
    }

    private string Write(byte[] bytes)
    {
        var path = Path.Combine(folder, $"lib{Guid.NewGuid():N}.so");
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
