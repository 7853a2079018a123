using System.Globalization;
using OtelThreadCtx;

// Publishes the process context, says "ready <status>", then obeys stdin:
//   append N   N updates, each republishing: a new thread-context key while the registry has room (256 keys),
//              then a new value of the probe.generation attribute; prints "appended N"
//   exit       ends the process
var status = OtelProcessContext.Publish([new("probe.custom", "custom-value"), new("probe.count", 42L)]);
Console.WriteLine($"ready {status}");
Console.Out.Flush();

var next = 0;
while (Console.ReadLine() is { } line)
{
    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    if (parts is ["append", var count])
    {
        var n = int.Parse(count, CultureInfo.InvariantCulture);
        for (var i = 0; i < n; i++)
        {
            if (ThreadContextKeys.Names.Count < ThreadContextKeys.MaxKeys)
            {
                ThreadContextKeys.Register($"probe.key.{next++}");
            }
            else
            {
                OtelProcessContext.Publish([new("probe.custom", "custom-value"), new("probe.generation", (long)i)]);
            }
        }

        Console.WriteLine($"appended {n}");
        Console.Out.Flush();
    }
    else if (parts is ["exit"])
    {
        break;
    }
}

return 0;
