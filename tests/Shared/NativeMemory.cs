using System.Runtime.InteropServices;

namespace OtelThreadCtx.Tests;

/// <summary>glibc's count of bytes malloc has handed out and not taken back: how the tests see native memory growth.
/// Linked into each test project that measures it.</summary>
internal static partial class NativeMemory
{
    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [LibraryImport("libc", EntryPoint = "mallinfo2")]
    private static partial MallInfo2 MallInfo();

    /// <summary>Bytes in use (glibc's uordblks), after finalizers ran.</summary>
    public static long InUse()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        return (long)MallInfo().Uordblks;
    }
}
