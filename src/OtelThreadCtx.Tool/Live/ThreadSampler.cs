using System.Diagnostics;
using System.Runtime.InteropServices;
using OtelThreadCtx.Tool.Output;

namespace OtelThreadCtx.Tool.Live;

/// <summary>Thrown when the kernel refuses to let this process trace the target.</summary>
internal sealed class PtracePermissionException(string message) : Exception(message);

/// <summary>
/// Stops one thread at a time (PTRACE_SEIZE + PTRACE_INTERRUPT), reads its thread pointer, its slot and the record the
/// slot points at (process_vm_readv), and detaches (which resumes it) on every path. All ptrace calls of one thread
/// come from the calling OS thread, as ptrace requires.
/// </summary>
internal sealed class ThreadSampler(int pid, RemoteMemory memory, TlsLocation location, IReadOnlyList<string>? keyMap)
{
    private const int SigTrap = 5;
    private const int EventStop = 128;

    public static IReadOnlyList<int> Threads(int pid)
    {
        try
        {
            return Directory.GetDirectories($"/proc/{pid}/task")
                .Select(d => int.TryParse(Path.GetFileName(d), out var t) ? t : 0)
                .Where(t => t > 0)
                .Order()
                .ToList();
        }
        catch (DirectoryNotFoundException)
        {
            return [];
        }
    }

    public static string ThreadName(int pid, int tid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/task/{tid}/comm").TrimEnd('\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>
    /// Runs every code path a sample takes once, on this process and on no thread of the target, so that JIT compilation
    /// and P/Invoke binding happen before any target thread is stopped, not while it is.
    /// </summary>
    public void WarmUp()
    {
        const int NoSuchThread = int.MaxValue;
        Native.Ptrace(Native.PtraceInterrupt, NoSuchThread, 0, 0);
        _ = Marshal.GetLastPInvokeError();
        WaitStopped(NoSuchThread, out _, out _);
        _ = TryThreadPointer(NoSuchThread, out _, out _);
        Detach(NoSuchThread, stopped: false, 0);
        _ = location.SlotAddress(0, memory, out _, out _);
        _ = memory.TryReadU64(0, out _);
        Span<byte> header = stackalloc byte[RecordDecoder.HeaderSize];
        _ = memory.TryRead(0, header, out _);
        header[24] = 1;
        header[26] = 3;
        byte[] attrs = [0, 1, (byte)'x'];
        var report = new ThreadReport(0, "", 0, null, null, null, RecordDecoder.Decode(header, attrs, keyMap, []), null, null);
        _ = report with { StoppedMicroseconds = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), Stopwatch.GetTimestamp()).TotalMicroseconds };
        _ = Native.Describe(Native.ESrch);
        _ = $"0x{0UL:x}";
    }

    private long _stopStart;
    private long _stopEnd;

    /// <summary>Samples one thread; never leaves it stopped or traced. The stop time runs from PTRACE_INTERRUPT to the
    /// return of PTRACE_DETACH.</summary>
    public ThreadReport Sample(int tid, string name)
    {
        _stopStart = 0;
        _stopEnd = 0;
        var report = SampleCore(tid, name);
        return _stopStart == 0 ? report : report with { StoppedMicroseconds = Stopwatch.GetElapsedTime(_stopStart, _stopEnd).TotalMicroseconds };
    }

    private ThreadReport SampleCore(int tid, string name)
    {
        var seized = false;
        var stopped = false;
        var inject = 0;
        string? threadPointer = null;
        string? slotText = null;
        string? recordText = null;
        RecordReport? record = null;
        string? error = null;
        string? note = null;
        try
        {
            if (Native.Ptrace(Native.PtraceSeize, tid, 0, 0) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Native.EPerm)
                {
                    throw new PtracePermissionException(PermissionMessage(pid));
                }

                return new ThreadReport(tid, name, 0, null, null, null, null, errno == Native.ESrch ? "thread exited before it could be read" : $"PTRACE_SEIZE failed: {Native.Describe(errno)}", null);
            }

            seized = true;
            _stopStart = Stopwatch.GetTimestamp();
            if (Native.Ptrace(Native.PtraceInterrupt, tid, 0, 0) != 0)
            {
                error = $"PTRACE_INTERRUPT failed: {Native.Describe(Marshal.GetLastPInvokeError())}";
                return Report();
            }

            if (!WaitStopped(tid, out inject, out var gone))
            {
                seized = !gone;
                error = gone ? "thread exited while being stopped" : "thread did not stop";
                return Report();
            }

            stopped = true;
            if (!TryThreadPointer(tid, out var tp, out var regError))
            {
                error = regError;
                return Report();
            }

            threadPointer = $"0x{tp:x}";
            var slot = location.SlotAddress(tp, memory, out var why, out var notAllocated);
            if (slot is null)
            {
                (notAllocated ? ref note : ref error) = why;
                return Report();
            }

            slotText = $"0x{slot:x}";
            if (!memory.TryReadU64(slot.Value, out var pointer))
            {
                error = $"slot at {slotText} is unreadable";
                return Report();
            }

            if (pointer == 0)
            {
                return Report();
            }

            recordText = $"0x{pointer:x}";
            Span<byte> header = stackalloc byte[RecordDecoder.HeaderSize];
            if (!memory.TryRead(pointer, header, out var errno2))
            {
                error = $"the slot points at {recordText}, which is unreadable ({Native.Describe(errno2)})";
                return Report();
            }

            var size = RecordDecoder.AttrsSize(header);
            var problems = new List<string>();
            var attrs = Array.Empty<byte>();
            if (size > RecordDecoder.MaxAttrsSize)
            {
                problems.Add($"attrs_data_size {size} exceeds {RecordDecoder.MaxAttrsSize} (a 640-byte record): a profiler reads no attributes");
            }
            else if (size > 0)
            {
                attrs = new byte[size];
                if (!memory.TryRead(pointer + RecordDecoder.HeaderSize, attrs, out _))
                {
                    problems.Add($"attrs_data ({size} bytes) is unreadable");
                    attrs = [];
                }
            }

            record = RecordDecoder.Decode(header, attrs, keyMap, problems);
            return Report();
        }
        finally
        {
            if (seized)
            {
                Detach(tid, stopped, inject);
            }

            _stopEnd = Stopwatch.GetTimestamp();
        }

        ThreadReport Report() => new(tid, name, 0, threadPointer, slotText, recordText, record, error, note);
    }

    public static string PermissionMessage(int pid) =>
        $"not allowed to trace process {pid} (ptrace: EPERM). Fix: run as the process's user or as root (sudo), or grant CAP_SYS_PTRACE (sudo setcap cap_sys_ptrace+ep on the dotnet host, or --cap-add SYS_PTRACE in a container); with Yama, sudo sysctl kernel.yama.ptrace_scope=0 allows tracing non-children (current: {YamaScope()}).";

    private static string YamaScope()
    {
        try
        {
            return "kernel.yama.ptrace_scope=" + File.ReadAllText("/proc/sys/kernel/yama/ptrace_scope").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "no Yama";
        }
    }

    private static bool WaitStopped(int tid, out int inject, out bool gone)
    {
        inject = 0;
        gone = false;
        for (var i = 0; i < 100; i++)
        {
            var r = Native.WaitPid(tid, out var status, Native.WAll);
            if (r < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Native.EIntr)
                {
                    continue;
                }

                gone = errno == Native.ChildExited;
                return false;
            }

            if ((status & 0xff) == 0x7f)
            {
                var sig = (status >> 8) & 0xff;
                var evt = (status >> 16) & 0xff;
                if (evt != EventStop && sig != SigTrap)
                {
                    // A signal arrived first: the thread is stopped in signal-delivery-stop; hand the signal back at detach.
                    inject = sig;
                }

                return true;
            }

            // Exited or killed.
            gone = true;
            return false;
        }

        return false;
    }

    private static void Detach(int tid, bool stopped, int inject)
    {
        if (Native.Ptrace(Native.PtraceDetach, tid, 0, inject) == 0)
        {
            return;
        }

        // Detach needs a stopped tracee: stop it, then detach (unless it is gone).
        if (!stopped && Marshal.GetLastPInvokeError() == Native.ESrch && Native.Ptrace(Native.PtraceInterrupt, tid, 0, 0) == 0 && WaitStopped(tid, out var sig, out _))
        {
            Native.Ptrace(Native.PtraceDetach, tid, 0, sig);
        }
    }

    private static unsafe bool TryThreadPointer(int tid, out ulong tp, out string? error)
    {
        error = null;
        tp = 0;
        if (RuntimeInformation.ProcessArchitecture == Architecture.X64)
        {
            // struct user_regs_struct: 27 words, fs_base is word 21.
            var regs = stackalloc ulong[27];
            if (Native.Ptrace(Native.PtraceGetRegs, tid, 0, (nint)regs) != 0)
            {
                error = $"PTRACE_GETREGS failed: {Native.Describe(Marshal.GetLastPInvokeError())}";
                return false;
            }

            tp = regs[21];
            return true;
        }

        if (RuntimeInformation.ProcessArchitecture == Architecture.Arm64)
        {
            ulong value = 0;
            var iov = new Native.IoVec { Base = (nint)(&value), Length = 8 };
            if (Native.Ptrace(Native.PtraceGetRegSet, tid, Native.NtArmTls, (nint)(&iov)) != 0)
            {
                error = $"PTRACE_GETREGSET(NT_ARM_TLS) failed: {Native.Describe(Marshal.GetLastPInvokeError())}";
                return false;
            }

            tp = value;
            return true;
        }

        error = $"unsupported architecture {RuntimeInformation.ProcessArchitecture}";
        return false;
    }
}
