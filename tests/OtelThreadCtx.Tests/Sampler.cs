using System.Diagnostics;
using System.Runtime.InteropServices;

namespace OtelThreadCtx.Tests;

/// <summary>A reader with profiler semantics (native/sampler.c): SIGPROF interrupts a thread and its handler checks the
/// record that thread publishes, as an eBPF profiler reads it while the thread is stopped.</summary>
internal sealed unsafe class Sampler : IDisposable
{
    private readonly nint library;

    private Sampler(nint library) => this.library = library;

    public readonly record struct Counts(long Checked, long Empty, long Invalid, long Torn, long Unregistered);

    /// <summary>Builds and loads the sampler, and installs its handler. Writers must follow sampler.c's convention.</summary>
    public static Sampler Install(int keyIndex, bool checkSpan)
    {
        var output = Path.Combine(Path.GetTempPath(), $"otc-sampler-{Environment.ProcessId}-{Guid.NewGuid():N}.so");
        using (var gcc = Process.Start(new ProcessStartInfo("gcc", ["-std=c11", "-O1", "-Wall", "-Werror", "-shared", "-fPIC", "-o", output, Path.Combine(AppContext.BaseDirectory, "native", "sampler.c")])
        {
            RedirectStandardError = true,
        })!)
        {
            var errors = gcc.StandardError.ReadToEnd();
            gcc.WaitForExit();
            Assert.True(gcc.ExitCode == 0, errors);
        }

        var sampler = new Sampler(NativeLibrary.Load(output));
        File.Delete(output);
        var library = NativeLibrary.Load(TestLibrary.Path);
        var current = NativeLibrary.GetExport(library, "otel_thread_ctx_current");
        var install = (delegate* unmanaged<nint, int, int, int>)sampler.Export("otc_sampler_install");
        Assert.Equal(0, install(current, keyIndex, checkSpan ? 1 : 0));
        return sampler;
    }

    private nint Export(string name) => NativeLibrary.GetExport(library, name);

    /// <summary>Registers the calling thread for checks (call after it published once).</summary>
    public void RegisterThisThread() => ((delegate* unmanaged<void>)Export("otc_sampler_register"))();

    public ulong ThisThread() => ((delegate* unmanaged<ulong>)Export("otc_sampler_self"))();

    /// <summary>Interrupts <paramref name="thread"/> <paramref name="count"/> times, each signal handled before the next is
    /// sent; returns how many were handled.</summary>
    public long Interrupt(ulong thread, long count) => ((delegate* unmanaged<ulong, long, long>)Export("otc_sampler_kill"))(thread, count);

    /// <summary>Starts (or, with 0, stops) a process CPU-time timer whose signals land on running threads.</summary>
    public void Timer(long intervalMicroseconds) => Assert.Equal(0, ((delegate* unmanaged<long, int>)Export("otc_sampler_itimer"))(intervalMicroseconds));

    public Counts Read()
    {
        var values = stackalloc long[5];
        ((delegate* unmanaged<long*, void>)Export("otc_sampler_counts"))(values);
        return new Counts(values[0], values[1], values[2], values[3], values[4]);
    }

    /// <summary>Stops the timer; the handler stays installed (signals still in flight must find it).</summary>
    public void Dispose() => Timer(0);
}
