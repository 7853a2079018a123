using System.Runtime.InteropServices;

namespace OtelThreadCtx.ProcessContext;

/// <summary>The Linux calls the OTEP 4719 publication makes. Tests substitute one that refuses some of them.</summary>
internal interface IProcessContextSystem
{
    /// <summary>memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL), retried without MFD_NOEXEC_SEAL
    /// (Linux before 6.3 refuses it), ftruncate, mmap(PROT_READ | PROT_WRITE, MAP_PRIVATE), fd closed; 0 when refused.</summary>
    nint MapMemfd(string name, nuint length);

    /// <summary>mmap(MAP_PRIVATE | MAP_ANONYMOUS); 0 when refused.</summary>
    nint MapAnonymous(nuint length);

    void Unmap(nint address, nuint length);

    /// <summary>madvise(MADV_DONTFORK): a fork()ed child does not inherit the mapping.</summary>
    bool DontFork(nint address, nuint length);

    /// <summary>prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, …): names the mapping in /proc/pid/maps.</summary>
    bool Name(nint address, nuint length, string name);

    /// <summary>clock_gettime(CLOCK_BOOTTIME) in nanoseconds: the clock of <c>monotonic_published_at_ns</c>.</summary>
    ulong BootTimeNanoseconds();
}

/// <summary>The real system calls, through libc.</summary>
internal sealed unsafe partial class LinuxProcessContextSystem : IProcessContextSystem
{
    public static readonly LinuxProcessContextSystem Instance = new();

    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 2, MapAnonymousFlag = 0x20;
    private const int MadvDontFork = 10;
    private const uint MfdCloexec = 1, MfdAllowSealing = 2, MfdNoexecSeal = 8;
    private const int ClockBoottime = 7;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }
    private const int PrSetVma = 0x53564d41, PrSetVmaAnonName = 0;

    [LibraryImport("libc", EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MemfdCreate(string name, uint flags);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int Ftruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGettime(int clock, Timespec* time);

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    public nint MapMemfd(string name, nuint length)
    {
        var fd = MemfdCreate(name, MfdCloexec | MfdAllowSealing | MfdNoexecSeal);
        if (fd < 0)
        {
            fd = MemfdCreate(name, MfdCloexec | MfdAllowSealing);
        }

        if (fd < 0)
        {
            return 0;
        }

        try
        {
            if (Ftruncate(fd, (long)length) != 0)
            {
                return 0;
            }

            var address = Mmap(0, length, ProtRead | ProtWrite, MapPrivate, fd, 0);
            return address == -1 ? 0 : address;
        }
        finally
        {
            // The mapping keeps the memfd alive; the descriptor is not needed.
            Close(fd);
        }
    }

    public nint MapAnonymous(nuint length)
    {
        var address = Mmap(0, length, ProtRead | ProtWrite, MapPrivate | MapAnonymousFlag, -1, 0);
        return address == -1 ? 0 : address;
    }

    public void Unmap(nint address, nuint length) => Munmap(address, length);

    public ulong BootTimeNanoseconds()
    {
        Timespec now;
        return ClockGettime(ClockBoottime, &now) == 0 ? ((ulong)now.Seconds * 1_000_000_000UL) + (ulong)now.Nanoseconds : 0;
    }

    public bool DontFork(nint address, nuint length) => Madvise(address, length, MadvDontFork) == 0;

    public bool Name(nint address, nuint length, string name)
    {
        var bytes = System.Text.Encoding.ASCII.GetBytes(name + "\0");
        fixed (byte* p = bytes)
        {
            return Prctl(PrSetVma, PrSetVmaAnonName, (nuint)address, length, (nuint)p) == 0;
        }
    }
}
