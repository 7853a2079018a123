namespace OtelThreadCtx.Tests;

/// <summary>The native library the tests read through directly: the one the managed wrapper loads, that is
/// OTEL_THREAD_CTX_NATIVE_LIBRARY when set (the suite's run against the Rust layer), else the one beside the tests.
/// Reading another library than the wrapper writes would read another TLS variable.</summary>
internal static class TestLibrary
{
    public static string Path =>
        Environment.GetEnvironmentVariable("OTEL_THREAD_CTX_NATIVE_LIBRARY") is { Length: > 0 } chosen
            ? chosen
            : System.IO.Path.Combine(AppContext.BaseDirectory, "libotel_thread_ctx.so");
}
