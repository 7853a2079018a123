using System.Runtime.InteropServices;

namespace OtelThreadCtx.OpenTelemetry.Tests;

internal static partial class LoadMemory
{
    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [LibraryImport("libc", EntryPoint = "mallinfo2")]
    private static partial MallInfo2 MallInfo();

    /// <summary>Bytes malloc has handed out and not taken back (glibc's uordblks), after finalizers ran.</summary>
    public static long NativeInUse()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        return (long)MallInfo().Uordblks;
    }
}
