using System.Text.Json;

namespace OtelThreadCtx.Tool.Tests;

/// <summary>`check` on the libraries this repository builds and on files built here with each TLS model.</summary>
public sealed class CheckTests
{
    [Theory]
    [InlineData("x64", "x86_64")]
    [InlineData("arm64", "aarch64")]
    public async Task Shipped_default_libraries_conform_with_tlsdesc_and_their_verification_report(string arch, string machine)
    {
        var (exit, json, _) = await ToolRunner.RunJsonAsync("check", Paths.ShippedLibrary(arch));
        Assert.Equal(0, exit);
        var file = json.GetProperty("files")[0];
        Assert.Equal(machine, file.GetProperty("machine").GetString());
        Assert.Equal("shared-library", file.GetProperty("kind").GetString());
        Assert.Equal("Tls", file.GetProperty("symbol").GetProperty("type").GetString());
        Assert.Equal(8UL, file.GetProperty("symbol").GetProperty("size").GetUInt64());
        var models = file.GetProperty("accessModels").EnumerateArray().Select(m => m.GetProperty("model").GetString()).ToList();
        Assert.Equal(["tlsdesc"], models);
        Assert.True(file.GetProperty("verification").GetProperty("matches").GetBoolean());
        var hardening = file.GetProperty("hardening");
        Assert.True(hardening.GetProperty("relro").GetBoolean() && hardening.GetProperty("bindNow").GetBoolean() && hardening.GetProperty("nonExecutableStack").GetBoolean());
    }

    [Fact]
    public async Task A_library_changed_after_verification_does_not_conform()
    {
        using var dir = new TempDir();
        var copy = dir["libotel_thread_ctx.so"];
        File.Copy(Paths.ShippedLibrary("x64"), copy);
        File.Copy(Paths.ShippedLibrary("x64") + ".verification.json", copy + ".verification.json");
        await using (var stream = File.Open(copy, FileMode.Append))
        {
            stream.WriteByte(0);
        }

        var (exit, json, _) = await ToolRunner.RunJsonAsync("check", copy);
        Assert.Equal(1, exit);
        var file = json.GetProperty("files")[0];
        Assert.False(file.GetProperty("verification").GetProperty("matches").GetBoolean());
        Assert.Contains(file.GetProperty("problems").EnumerateArray(), p => p.GetString()!.Contains("sha256", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Traditional_dialect_is_general_dynamic_supported_not_preferred()
    {
        using var dir = new TempDir();
        var library = await CCompiler.LibraryAsync(dir.Path, "-mtls-dialect=gnu");
        var (exit, json, _) = await ToolRunner.RunJsonAsync("check", library);
        Assert.Equal(0, exit);
        var model = json.GetProperty("files")[0].GetProperty("accessModels")[0];
        Assert.Equal("general-dynamic", model.GetProperty("model").GetString());
        Assert.StartsWith("supported, not preferred", model.GetProperty("verdict").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Initial_exec_in_a_shared_library_does_not_conform()
    {
        using var dir = new TempDir();
        var library = await CCompiler.LibraryAsync(dir.Path, "-ftls-model=initial-exec");
        var (exit, json, _) = await ToolRunner.RunJsonAsync("check", library);
        Assert.Equal(1, exit);
        Assert.Equal("initial-exec", json.GetProperty("files")[0].GetProperty("accessModels")[0].GetProperty("model").GetString());
    }

    [Theory]
    [InlineData("initial-exec")]
    [InlineData("local-exec")]
    public async Task An_executable_defining_the_variable_is_fine_with_initial_or_local_exec(string model)
    {
        using var dir = new TempDir();
        var exe = await CCompiler.WriterDefiningVariableAsync(dir["writer"], model == "local-exec");
        var (exit, json, _) = await ToolRunner.RunJsonAsync("check", exe);
        Assert.Equal(0, exit);
        var file = json.GetProperty("files")[0];
        Assert.Equal("executable", file.GetProperty("kind").GetString());
        Assert.Equal(model, file.GetProperty("accessModels")[0].GetProperty("model").GetString());
        Assert.Equal("fine in an executable", file.GetProperty("accessModels")[0].GetProperty("verdict").GetString());
    }

    [Fact]
    public async Task Files_without_the_symbol_or_not_elf_are_reported_with_their_exit_codes()
    {
        using var dir = new TempDir();
        var text = dir["not-elf.so"];
        await File.WriteAllTextAsync(text, "not an ELF file");
        var (exitNotElf, notElf, _) = await ToolRunner.RunJsonAsync("check", text);
        Assert.Equal(3, exitNotElf);
        Assert.Contains("not an ELF file", notElf.GetProperty("files")[0].GetProperty("error").GetString(), StringComparison.Ordinal);

        var (exitPlain, plain, _) = await ToolRunner.RunJsonAsync("check", "/bin/true");
        Assert.Equal(1, exitPlain);
        Assert.False(plain.GetProperty("files")[0].GetProperty("symbol").GetProperty("found").GetBoolean());

        var usage = await ToolRunner.RunAsync("check");
        Assert.Equal(2, usage.ExitCode);
    }

    [Fact]
    public async Task A_file_that_cannot_be_read_is_reported_as_not_checked_not_as_not_conforming()
    {
        // A user trial ran `check` on a path that does not exist: exit 3, but the first line said "does not conform".
        using var dir = new TempDir();
        var missing = dir["no-such-dir/libotel_thread_ctx.so"];
        var text = await ToolRunner.RunAsync("check", missing);
        Assert.Equal(3, text.ExitCode);
        Assert.Contains($"{missing}: could not be checked", text.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("does not conform", text.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("cannot read", text.StandardOutput, StringComparison.Ordinal);
    }
}
