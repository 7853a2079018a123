using System.Diagnostics;

namespace OtelThreadCtx;

/// <summary>What the library knows about one thread: its native pair of records (the <see cref="ThreadContext.Set(ActivityTraceId, ActivitySpanId, ActivityTraceFlags, ThreadContextAttributes?)"/>
/// path) and the shared <see cref="ThreadContextRecord"/> attached on it, if any. Only its thread touches it, so
/// nothing here is atomic. One object and one finalizer per thread, none per call.</summary>
internal sealed unsafe class ThreadState
{
    [ThreadStatic]
    private static ThreadState? current;

    /// <summary>Identifies this thread as the owner of records it created. Records keep the token, not the state,
    /// so that a record outliving its thread does not keep the state (and its finalizer) from running.</summary>
    internal readonly object OwnerToken = new();

    /// <summary>The native pair, fetched on the first Set; freed by the library when the thread exits.</summary>
    private ThreadRecords* own;

    /// <summary>The shared record published on this thread, or null (nothing, or one of the thread's own records).</summary>
    internal ThreadContextRecord? Attached;

    /// <summary>The state of the calling thread, created on first use.</summary>
    internal static ThreadState Current => current ?? (current = new ThreadState());

    /// <summary>The state of the calling thread if it has one.</summary>
    internal static ThreadState? CurrentOrNull => current;

    /// <summary>The calling thread's pair, or null when the native allocation failed. Call only when supported.</summary>
    internal ThreadRecords* Own => own != null ? own : own = NativeApi.ThreadRecordsGet();

    /// <summary>The thread has exited (its thread-static is gone): its TLS slot no longer publishes the shared record,
    /// so the attach it counted is released.</summary>
    ~ThreadState() => Attached?.ReleaseAttach(OwnerToken);
}
