using System.Runtime.InteropServices;

namespace OtelThreadCtx.Tests;

/// <summary>CLOCK_BOOTTIME, the clock OTEP 4719 names for <c>monotonic_published_at_ns</c>, read by the test itself.</summary>
internal static unsafe partial class BootClock
{
    private const int ClockBoottime = 7;

    public static ulong Nanoseconds()
    {
        var time = stackalloc long[2];
        if (ClockGettime(ClockBoottime, time) != 0)
        {
            throw new InvalidOperationException("clock_gettime(CLOCK_BOOTTIME) failed");
        }

        return ((ulong)time[0] * 1_000_000_000UL) + (ulong)time[1];
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGettime(int clock, long* time);
}
