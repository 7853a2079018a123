// An ASP.NET Core minimal API publishing OpenTelemetry thread context: the one AddThreadContext() line below is all
// the app adds. Each route answers with what an out-of-process profiler reads on the thread running it.
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using OtelThreadCtx.Samples.AspNetCore;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddOpenTelemetry()
    .ConfigureResource(resource => resource.AddService("aspnetcore-sample", serviceVersion: "1.0.0"))
    .WithTracing(tracing => tracing
        .AddAspNetCoreInstrumentation()
        .AddThreadContext());   // <- the one line

var app = builder.Build();

// CPU-bound: the profiler's samples during the loop carry this request's trace, span and route.
app.MapGet("/cpu/{milliseconds:int}", (int milliseconds) =>
{
    var spun = CpuWork.Spin(TimeSpan.FromMilliseconds(Math.Clamp(milliseconds, 0, 5_000)));
    return Results.Json(new { spun, context = ThreadRecord.ReadCurrent() });
});

// Async with awaits: every continuation, on whichever thread runs it, publishes the same request.
app.MapGet("/async", async () =>
{
    var before = ThreadRecord.ReadCurrent();
    await Task.Delay(5);
    var afterDelay = ThreadRecord.ReadCurrent();
    await Task.Yield();
    var afterYield = ThreadRecord.ReadCurrent();
    return Results.Json(new { before, afterDelay, afterYield });
});

// Route parameters: the published route is the template, not the path.
app.MapGet("/orders/{orderId}/items/{itemId:int}", (string orderId, int itemId) =>
    Results.Json(new { orderId, itemId, context = ThreadRecord.ReadCurrent() }));

app.Run();
