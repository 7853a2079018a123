using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Processes;

namespace OtelThreadCtx.Build.Tasks.Verification;

/// <summary>Runs nm and readelf on a library and parses what they print.</summary>
public sealed class LibraryInspector(IProcessRunner runner)
{
    /// <summary>The raw tool runs, kept for the report.</summary>
    public sealed record Outcome(LibraryInspection? Inspection, BuildDiagnostic? Error, IReadOnlyList<string> Commands);

    public async Task<Outcome> InspectAsync(string library, string nmPath, string readElfPath, CancellationToken cancellationToken)
    {
        var commands = new List<string>();

        async Task<ProcessResult> Run(string tool, params string[] args)
        {
            var invocation = new ToolInvocation(tool, [.. args, library]);
            commands.Add(invocation.ToCommandLine());
            return await runner.RunAsync(invocation, null, cancellationToken).ConfigureAwait(false);
        }

        var nm = await Run(nmPath).ConfigureAwait(false);
        var nmDynamic = await Run(nmPath, "-D").ConfigureAwait(false);
        var dynSyms = await Run(readElfPath, "-W", "--dyn-syms").ConfigureAwait(false);
        var relocations = await Run(readElfPath, "-W", "-r").ConfigureAwait(false);
        var programHeaders = await Run(readElfPath, "-W", "-l").ConfigureAwait(false);
        var dynamic = await Run(readElfPath, "-W", "-d").ConfigureAwait(false);

        var runs = new[] { nm, nmDynamic, dynSyms, relocations, programHeaders, dynamic };
        for (var i = 0; i < runs.Length; i++)
        {
            if (!runs[i].Succeeded)
            {
                return new Outcome(null, new BuildDiagnostic(DiagnosticCodes.InspectionToolFailed,
                    $"'{commands[i]}' exited with {runs[i].ExitCode}: {runs[i].CombinedOutput.Trim()}. Fix: check that the file is an ELF shared library for this target and that the tool reads ELF (GNU binutils or LLVM)."), commands);
            }
        }

        try
        {
            var inspection = new LibraryInspection(
                NmReader.Parse(nm.StandardOutput),
                NmReader.Parse(nmDynamic.StandardOutput, "nm -D"),
                ReadElfReader.ParseSymbols(dynSyms.StandardOutput),
                ReadElfReader.ParseRelocations(relocations.StandardOutput),
                ReadElfReader.ParseProgramHeaders(programHeaders.StandardOutput),
                ReadElfReader.ParseDynamicSection(dynamic.StandardOutput));
            return new Outcome(inspection, null, commands);
        }
        catch (ToolOutputException e)
        {
            return new Outcome(null, new BuildDiagnostic(DiagnosticCodes.ToolOutputUnreadable,
                $"{e.Message}. No check passes over output it cannot read. Fix: use GNU binutils or LLVM nm/readelf (OtelThreadCtxNmPath, OtelThreadCtxReadElfPath), or report the line as a bug."), commands);
        }
    }
}
