using OtelThreadCtx.Tool.Output;

namespace OtelThreadCtx.Tool.Live;

/// <summary>Thrown when the process cannot be read at all (gone, or /proc refuses).</summary>
internal sealed class TargetException(string message, int exitCode) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>One reading session on a process: its maps, process context and TLS variable, then per-thread samples.</summary>
internal sealed class Inspector
{
    private Inspector(int pid, RemoteMemory memory, ProcessContextReport context, LocatedVariable variable)
    {
        Pid = pid;
        Memory = memory;
        Context = context;
        Variable = variable;
        Sampler = variable.Location is null ? null : new ThreadSampler(pid, memory, variable.Location, context.AttributeKeyMap);
        Sampler?.WarmUp();
    }

    public int Pid { get; }

    public RemoteMemory Memory { get; }

    public ProcessContextReport Context { get; private set; }

    public LocatedVariable Variable { get; }

    public ThreadSampler? Sampler { get; private set; }

    public static Inspector Open(int pid)
    {
        if (!Directory.Exists($"/proc/{pid}"))
        {
            throw new TargetException($"no process {pid}", ExitCodes.InputError);
        }

        IReadOnlyList<MapEntry> maps;
        try
        {
            maps = ProcessMaps.Read(pid);
        }
        catch (UnauthorizedAccessException)
        {
            throw new TargetException(ThreadSampler.PermissionMessage(pid), ExitCodes.PermissionDenied);
        }
        catch (IOException e)
        {
            throw new TargetException($"cannot read /proc/{pid}/maps: {e.Message}", ExitCodes.InputError);
        }

        var memory = new RemoteMemory(pid);
        if (maps.Count > 0 && !memory.TryRead(maps[0].Start, new byte[1], out var errno) && errno == Native.EPerm)
        {
            throw new TargetException(ThreadSampler.PermissionMessage(pid), ExitCodes.PermissionDenied);
        }

        var context = ProcessContextReader.Read(memory, maps);
        var variable = new TlsLocator(pid, memory, maps).Locate();
        return new Inspector(pid, memory, context, variable);
    }

    /// <summary>Re-reads the process context (the key map is append-only and may grow).</summary>
    public void RefreshContext()
    {
        Context = ProcessContextReader.Read(Memory, ProcessMaps.Read(Pid));
        if (Variable.Location is not null)
        {
            Sampler = new ThreadSampler(Pid, Memory, Variable.Location, Context.AttributeKeyMap);
        }
    }

    /// <summary>Every thread, one at a time; stops early (every thread already resumed) when <paramref name="cancel"/> is set.</summary>
    public List<ThreadReport> SampleAll(CancellationToken cancel)
    {
        var result = new List<ThreadReport>();
        if (Sampler is null)
        {
            return result;
        }

        foreach (var tid in ThreadSampler.Threads(Pid))
        {
            if (cancel.IsCancellationRequested)
            {
                break;
            }

            result.Add(Sampler.Sample(tid, ThreadSampler.ThreadName(Pid, tid)));
        }

        return result;
    }

    public static StopStatistics Stops(IEnumerable<double> microseconds)
    {
        var list = microseconds.Where(x => x > 0).Order().ToList();
        return list.Count == 0
            ? new StopStatistics(0, 0, 0, 0)
            : new StopStatistics(list.Count, Math.Round(list.Average(), 1), Math.Round(list[list.Count / 2], 1), Math.Round(list[^1], 1));
    }
}
