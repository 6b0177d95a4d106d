using Mesh.ModelGeneration;

namespace Mesh.Tests.Integration;

/// <summary>
/// The tool behind <c>./mesh models</c> run as a process: a command line it cannot run is named on standard error with
/// exit code 2 (followed by the usage where the command line itself is malformed), work that fails with exit code 1,
/// never a stack trace; help goes to standard output with exit code 0.
/// </summary>
public sealed class ModelToolsCliTests
{
    [Theory]
    [InlineData("--out needs a value.", "generate", "--out")]
    [InlineData("--out needs a value.", "generate", "--out", "--only", "kokoro-tiny")]
    [InlineData("--in needs a value.", "quantize", "--in", "", "--out", "unused")]
    [InlineData("unknown option --outt.", "generate", "--outt", "unused")]
    [InlineData("--only is given twice.", "generate", "--out", "unused", "--only", "kokoro-tiny", "--only", "nope")]
    [InlineData("--only names nothing: ','.", "generate", "--out", "unused", "--only", ",")]
    [InlineData("--limit must be a whole number of at least 1, not '0'.", "compare", "--a", "a", "--b", "b", "--corpus", "c", "--json", "j", "--limit", "0")]
    [InlineData("--limit must be a whole number of at least 1, not '-3'.", "compare", "--a", "a", "--b", "b", "--corpus", "c", "--json", "j", "--limit", "-3")]
    [InlineData("--threads must be a whole number of at least 1, not '0'.", "compare", "--a", "a", "--b", "b", "--corpus", "c", "--json", "j", "--threads", "0")]
    [InlineData("--threads must be a whole number of at least 1, not 'two'.", "compare", "--a", "a", "--b", "b", "--corpus", "c", "--json", "j", "--threads", "two")]
    [InlineData("--repeats must be a whole number of at least 1, not '0'.", "compare", "--a", "a", "--b", "b", "--corpus", "c", "--json", "j", "--repeats", "0")]
    [InlineData("--block-size must be a whole number, not '32.5'.", "quantize", "--in", "unused", "--out", "unused-too", "--block-size", "32.5")]
    public async Task A_command_line_the_tool_does_not_take_is_named_on_stderr_and_exits_2(string message, params string[] args)
    {
        var (exitCode, stdout, stderr) = await RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Empty(stdout);
        Assert.StartsWith($"mesh models {args[0]}: {message}\n", stderr, StringComparison.Ordinal);
        Assert.Contains("Usage: mesh models", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--bits 4 is not supported; only 8 is.", "quantize", "--in", "unused", "--out", "unused-too", "--bits", "4")]
    [InlineData("--block-size 48 is not a power of two of at least 16.", "quantize", "--in", "unused", "--out", "unused-too", "--block-size", "48")]
    [InlineData("--min-dim 0 is not positive.", "quantize", "--in", "unused", "--out", "unused-too", "--min-dim", "0")]
    [InlineData("--accuracy-level 5 is not in 0..4.", "quantize", "--in", "unused", "--out", "unused-too", "--accuracy-level", "5")]
    [InlineData("--provider 'tpu' is not one of cpu|cuda.", "compare", "--a", "a", "--b", "b", "--corpus", "c", "--json", "j", "--provider", "tpu")]
    [InlineData("--only 'nope' is not one of kokoro-tiny|piper-tiny|ref-ar|ref-staged.", "generate", "--out", "unused", "--only", "kokoro-tiny,nope")]
    public async Task A_value_the_command_cannot_use_is_named_with_its_option_and_exits_2(string message, params string[] args)
    {
        var (exitCode, stdout, stderr) = await RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Empty(stdout);
        Assert.Equal($"mesh models {args[0]}: {message}\n", stderr);
    }

    [Fact]
    public async Task An_input_package_that_is_not_there_is_named_and_exits_2()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"mesh-no-package-{Guid.NewGuid():N}");

        var (exitCode, stdout, stderr) = await RunAsync("quantize", "--in", missing, "--out", missing + "-int8");

        Assert.Equal(2, exitCode);
        Assert.Empty(stdout);
        Assert.Equal($"mesh models quantize: --in {missing} is not a directory.\n", stderr);
        Assert.False(Directory.Exists(missing + "-int8"));
    }

    [Fact]
    public async Task Compare_names_a_package_corpus_or_output_directory_that_is_not_there_before_it_renders()
    {
        var root = Directory.CreateTempSubdirectory("mesh-models-compare-");
        try
        {
            var (a, b, missing) = (root.CreateSubdirectory("a").FullName, root.CreateSubdirectory("b").FullName, Path.Combine(root.FullName, "missing"));
            var corpus = Path.Combine(RepoPaths.Root, "corpus", "sentences-en.txt");
            var json = Path.Combine(root.FullName, "compare.json");
            (string Message, string[] Args)[] cases =
            [
                ($"--a {missing} is not a directory.", ["--a", missing, "--b", b, "--corpus", corpus, "--json", json]),
                ($"--b {missing} is not a directory.", ["--a", a, "--b", missing, "--corpus", corpus, "--json", json]),
                ($"--corpus {missing} is not a file.", ["--a", a, "--b", b, "--corpus", missing, "--json", json]),
                ($"--json {missing}/c.json: there is no directory {missing}.", ["--a", a, "--b", b, "--corpus", corpus, "--json", Path.Combine(missing, "c.json")]),
                ($"--png {missing}/c.png: there is no directory {missing}.", ["--a", a, "--b", b, "--corpus", corpus, "--json", json, "--png", Path.Combine(missing, "c.png")]),
            ];
            foreach (var (message, args) in cases)
            {
                var (exitCode, stdout, stderr) = await RunAsync(["compare", .. args]);

                Assert.Equal((2, "", $"mesh models compare: {message}\n"), (exitCode, stdout, stderr));
            }
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("{}", "it has no \"family\".")]
    [InlineData("{\"family\": \"ref-ar\", \"graphs\": {}, \"layers\": \"24\"}", "type 'Number'")]
    [InlineData("garbage", "'g' is an invalid start of a value.")]
    public async Task Compare_of_a_reference_package_whose_description_does_not_hold_names_it_and_exits_1(string json, string why)
    {
        var root = Directory.CreateTempSubdirectory("mesh-models-reference-");
        try
        {
            var package = root.CreateSubdirectory("ref").FullName;
            File.WriteAllText(Path.Combine(package, "reference.json"), json);
            var corpus = Path.Combine(RepoPaths.Root, "corpus", "sentences-en.txt");

            var (exitCode, stdout, stderr) = await RunAsync("compare", "--a", package, "--b", package, "--corpus", corpus, "--json", Path.Combine(root.FullName, "c.json"));

            Assert.Equal((1, ""), (exitCode, stdout));
            Assert.StartsWith($"mesh models compare: '{package}/reference.json' does not describe a reference model: ", stderr, StringComparison.Ordinal);
            Assert.Contains(why, stderr, StringComparison.Ordinal);
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Generate_refuses_a_package_directory_that_holds_files_before_writing_anything_unless_forced()
    {
        var root = Directory.CreateTempSubdirectory("mesh-models-generate-");
        try
        {
            var kokoro = Path.Combine(root.FullName, "kokoro-tiny");
            var piper = Directory.CreateDirectory(Path.Combine(root.FullName, "piper-tiny")).FullName;
            File.WriteAllText(Path.Combine(piper, "notes.txt"), "not generated");

            var (exitCode, stdout, stderr) = await RunAsync("generate", "--out", root.FullName, "--only", "kokoro-tiny,piper-tiny");

            Assert.Equal(2, exitCode);
            Assert.Empty(stdout);
            Assert.Equal($"mesh models generate: --out {piper} exists and is not empty; --force replaces it.\n", stderr);
            Assert.Equal(["notes.txt"], Directory.GetFiles(piper).Select(Path.GetFileName));
            Assert.False(Directory.Exists(kokoro));

            (exitCode, _, stderr) = await RunAsync("generate", "--out", root.FullName, "--only", "kokoro-tiny,piper-tiny", "--force");

            Assert.True(exitCode == 0, stderr);
            Assert.Empty(stderr);
            Assert.False(File.Exists(Path.Combine(piper, "notes.txt")));
            Assert.True(File.Exists(Path.Combine(piper, "en_US-tiny-medium.onnx")));
            Assert.True(File.Exists(Path.Combine(kokoro, "kokoro-tiny.onnx")));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Generate_cut_short_by_a_full_disk_leaves_no_half_package_and_keeps_the_one_it_would_replace()
    {
        var root = Directory.CreateTempSubdirectory("mesh-models-generate-");
        try
        {
            var refAr = Path.Combine(root.FullName, "ref-ar");
            Directory.CreateDirectory(refAr);
            File.WriteAllText(Path.Combine(refAr, "reference.json"), "{}");

            // ref-ar's step graph is over 20 MB; kokoro-tiny is written first and fits.
            var (exitCode, _, stderr) = await DotnetProcess.RunToExitApartAsync(
                [RepoPaths.ModelToolsDll, "generate", "--out", root.FullName, "--only", "kokoro-tiny,ref-ar", "--force"],
                TimeSpan.FromSeconds(60),
                fileSizeLimitKib: 20_000);

            Assert.Equal(1, exitCode);
            Assert.StartsWith("mesh models generate: ", stderr, StringComparison.Ordinal);
            Assert.Equal(["{}"], Directory.GetFiles(refAr).Select(File.ReadAllText));
            Assert.Equal(["kokoro-tiny", "ref-ar"], Directory.GetFileSystemEntries(root.FullName).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            Assert.True(File.Exists(Path.Combine(root.FullName, "kokoro-tiny", "kokoro-tiny.onnx")));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Quantize_cut_short_by_a_full_disk_exits_1_and_leaves_no_output()
    {
        var root = Directory.CreateTempSubdirectory("mesh-models-quantize-");
        try
        {
            var source = ModelGenerator.Generate(root.FullName, [ModelGenerator.RefAr]).Single();
            var output = Path.Combine(root.FullName, "int8");

            // ref-ar's int8 step graph is over 50 MB.
            var (exitCode, _, stderr) = await DotnetProcess.RunToExitApartAsync(
                [RepoPaths.ModelToolsDll, "quantize", "--in", source, "--out", output], TimeSpan.FromSeconds(120), fileSizeLimitKib: 20_000);

            Assert.Equal(1, exitCode);
            Assert.StartsWith($"mesh models quantize: {output}: ", stderr, StringComparison.Ordinal);
            Assert.False(Directory.Exists(output));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("generate", "--help")]
    [InlineData("quantize", "--in", "unused", "-h")]
    public async Task Help_after_a_command_prints_the_usage_on_stdout_and_exits_0(params string[] args)
    {
        var (exitCode, stdout, stderr) = await RunAsync(args);

        Assert.Equal(0, exitCode);
        Assert.StartsWith("Usage: mesh models", stdout, StringComparison.Ordinal);
        Assert.Empty(stderr);
    }

    [Fact]
    public async Task No_command_prints_the_usage_on_stderr_and_exits_2()
    {
        var (exitCode, stdout, stderr) = await RunAsync();

        Assert.Equal(2, exitCode);
        Assert.Empty(stdout);
        Assert.StartsWith("Usage: mesh models", stderr, StringComparison.Ordinal);
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args) =>
        DotnetProcess.RunToExitApartAsync([RepoPaths.ModelToolsDll, .. args], TimeSpan.FromSeconds(60));
}
