using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace OtelThreadCtx;

/// <summary>Keeps the direct P/Invokes of <see cref="NativeApi"/> (the NativeAOT static-link path) from loading a library
/// of their own where they are not used.</summary>
/// <remarks>Under the JIT, a <c>SuppressGCTransition</c> P/Invoke is bound when a method that contains its call is
/// compiled, even in a branch that never runs: tier-0 code of the <see cref="NativeApi"/> wrappers holds the direct calls
/// beside the function-pointer ones. Left to the runtime's probing, that binding loads <c>libotel_thread_ctx.so</c> from
/// beside the application a second time, unchecked (a second <c>otel_thread_ctx_v1</c> for readers to find when
/// <c>OTEL_THREAD_CTX_NATIVE_LIBRARY</c> names another file, and a damaged file mapped before the check could refuse it).
/// This resolver answers for the library name with the handle <see cref="NativeApi"/> loaded after its checks, or, when it
/// loaded none, with the main program's handle, which defines none of the functions: nothing else is ever loaded, and
/// the direct calls are never made there anyway. A statically linked NativeAOT executable binds them at link time
/// (DirectPInvoke) and never asks.</remarks>
internal static class DirectBindingResolver
{
#pragma warning disable CA2255 // must be in place before any method of the assembly is compiled, which only a module initializer is
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => NativeLibrary.SetDllImportResolver(typeof(DirectBindingResolver).Assembly, Resolve);

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName == NativeApi.LibraryName ? NativeApi.DirectBindingHandle : 0;
}
