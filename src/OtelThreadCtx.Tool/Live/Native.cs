using System.Runtime.InteropServices;

namespace OtelThreadCtx.Tool.Live;

/// <summary>The Linux calls a reader needs: ptrace, waitpid, process_vm_readv (blittable, LibraryImport).</summary>
internal static partial class Native
{
    public const int PtraceGetRegs = 12;
    public const int PtraceDetach = 17;
    public const int PtraceGetRegSet = 0x4204;
    public const int PtraceSeize = 0x4206;
    public const int PtraceInterrupt = 0x4207;
    public const int NtPrStatus = 1;
    public const int NtArmTls = 0x401;
    public const int WAll = 0x40000000;
    public const int EPerm = 1;
    public const int ESrch = 3;
    public const int EIntr = 4;
    public const int EFault = 14;
    public const int ChildExited = 10; // ECHILD

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public nint Base;
        public nuint Length;
    }

    [LibraryImport("libc", EntryPoint = "ptrace", SetLastError = true)]
    public static partial long Ptrace(long request, int pid, nint address, nint data);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    public static partial int WaitPid(int pid, out int status, int options);

    [LibraryImport("libc", EntryPoint = "process_vm_readv", SetLastError = true)]
    public static unsafe partial nint ProcessVmReadv(int pid, IoVec* local, nuint localCount, IoVec* remote, nuint remoteCount, nuint flags);

    [LibraryImport("libc", EntryPoint = "strerror")]
    private static partial nint StrError(int errno);

    public static string Describe(int errno) => Marshal.PtrToStringUTF8(StrError(errno)) ?? $"errno {errno}";
}
