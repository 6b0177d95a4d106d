using System.Threading.Channels;
using Mesh.Backend.ModelFamilies;
using Mesh.Backend.ModelFamilies.Espeak;
using Mesh.Tests.Integration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Tests.Backend;

public sealed class EspeakModelTests
{
    [Fact]
    public async Task A_sentence_starts_with_the_first_piece_espeak_yields_then_comes_in_quarter_second_blocks()
    {
        var model = await EspeakModel.LoadAsync(NullLogger.Instance, CancellationToken.None);
        var block = model.NativeSampleRate / 4;
        var request = new SynthesisRequest(
            "The quick brown fox jumps over the lazy dog, and then it runs far away across the wide green field to the river.",
            model.ResolveVoice("alloy", null)!,
            1.0);

        var chunks = new List<float[]>();
        await foreach (var chunk in model.SynthesizeAsync(request, CancellationToken.None))
        {
            Assert.Equal(model.NativeSampleRate, chunk.SampleRate);
            chunks.Add(chunk.Samples);
        }

        Assert.InRange(chunks.Count, 5, 100);
        Assert.InRange(chunks[0].Length, 1, block / 2);
        Assert.All(chunks.Skip(1).SkipLast(1), chunk => Assert.Equal(block, chunk.Length));
        Assert.InRange(chunks[^1].Length, 1, block);
        Assert.InRange(chunks.Sum(chunk => chunk.Length) / (double)model.NativeSampleRate, 3.0, 12.0);
    }

    [Fact]
    public async Task Voices_and_languages_switch_back_and_forth_between_synthesis_and_phonemization()
    {
        // The runtime keeps a voice selected between calls; every switch must still take effect.
        var model = await EspeakModel.LoadAsync(NullLogger.Instance, CancellationToken.None);
        var phonemizer = EspeakPhonemizer.Get(NullLogger.Instance);
        const string Sentence = "The quick brown fox jumps over the lazy dog.";
        var alloy = await SynthesizeAsync(model, Sentence, "alloy");
        var german = await phonemizer.PhonemizeAsync("Guten Morgen.", "de", null, CancellationToken.None);
        var onyx = await SynthesizeAsync(model, Sentence, "onyx");
        var english = await phonemizer.PhonemizeAsync("Guten Morgen.", "en-us", null, CancellationToken.None);

        Assert.True(SameSpeech(alloy, await SynthesizeAsync(model, Sentence, "alloy")));
        Assert.False(SameSpeech(alloy, onyx));
        Assert.Equal(german, await phonemizer.PhonemizeAsync("Guten Morgen.", "de", null, CancellationToken.None));
        Assert.NotEqual(german.Select(clause => clause.Phonemes), english.Select(clause => clause.Phonemes));
        Assert.True(SameSpeech(onyx, await SynthesizeAsync(model, Sentence, "onyx")));
    }

    [Theory]
    [InlineData("en-gb")]
    [InlineData("fr-fr")]
    public async Task An_openai_voice_keeps_its_variant_in_a_language_espeak_has_no_voice_name_for(string language)
    {
        // alloy is espeak's female variant f1 and onyx the male m7; en-gb and fr-fr are languages, not voice names.
        var model = await EspeakModel.LoadAsync(NullLogger.Instance, CancellationToken.None);
        const string Sentence = "One two three, the quick brown fox jumps over the lazy dog.";
        var alloy = MedianPitch(await SynthesizeAsync(model, Sentence, "alloy", language), model.NativeSampleRate);
        var onyx = MedianPitch(await SynthesizeAsync(model, Sentence, "onyx", language), model.NativeSampleRate);

        Assert.InRange(onyx, 80, 130);
        Assert.InRange(alloy, 1.4 * onyx, 3 * onyx);
    }

    /// <remarks>
    /// espeak-ng's voice files name several languages each, with priorities: cmn <c>zh-cmn</c> and <c>zh</c> (5), yue
    /// <c>zh-yue</c> (5) and <c>zh</c> (8), nb <c>no</c>, hr <c>hbs</c>, hyw <c>hy-arevmda</c>, fr-fr <c>fr</c> (5) where
    /// fr-be and fr-ch name it with 8, en-gb <c>en</c> (2) and en-us <c>en</c> (3).
    /// </remarks>
    [Theory]
    [InlineData("alloy", "zh", "cmn+f1")]
    [InlineData("alloy", "zh-CN", "cmn+f1")]
    [InlineData("alloy", "zh-TW", "cmn+f1")]
    [InlineData("alloy", "zh-Hans-CN", "cmn+f1")]
    [InlineData("alloy", "zh-cmn", "cmn+f1")]
    [InlineData("alloy", "zh-yue", "yue+f1")]
    [InlineData("alloy", "no", "nb+f1")]
    [InlineData("alloy", "nb-NO", "nb+f1")]
    [InlineData("alloy", "hbs", "hr+f1")]
    [InlineData("alloy", "hy-arevela", "hy+f1")]
    [InlineData("alloy", "hy-arevmda", "hyw+f1")]
    [InlineData("alloy", "fr", "fr-fr+f1")]
    [InlineData("alloy", "fr-CA", "fr-fr+f1")]
    [InlineData("alloy", "en", "en-us+f1")]
    [InlineData("cmn", "zh-CN", "cmn")]
    [InlineData("yue", "zh-HK", "yue")]
    [InlineData("nb", "no", "nb")]
    public async Task A_language_any_line_of_an_espeak_voice_names_finds_the_voice_espeak_prefers(string voice, string language, string spec)
    {
        var model = await EspeakModel.LoadAsync(NullLogger.Instance, CancellationToken.None);

        Assert.Equal(spec, model.ResolveVoice(voice, language)?.FamilyVoice);
    }

    [Fact]
    public async Task Voices_are_listed_once_each_by_their_primary_language()
    {
        var model = await EspeakModel.LoadAsync(NullLogger.Instance, CancellationToken.None);
        var ids = model.Voices.Select(voice => voice.Id).ToArray();

        Assert.Equal(ids.Length, ids.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.Contains("cmn", ids);
        Assert.Contains("nb", ids);
        Assert.DoesNotContain("zh", ids);
        Assert.DoesNotContain("no", ids);
    }

    [Fact]
    public async Task Every_listed_language_speaks_plain_and_with_an_openai_voice()
    {
        // The list is what /v1/audio/voices offers, so each entry must be one espeak-ng can select (chr-US-Qaaa-x-west
        // is a language no voice is named after, like en-gb).
        var model = await EspeakModel.LoadAsync(NullLogger.Instance, CancellationToken.None);
        var failures = new List<string>();
        foreach (var language in model.Voices.Where(voice => voice.Id == voice.Language).Select(voice => voice.Language))
        {
            foreach (var voice in new[] { language, "nova" })
            {
                try
                {
                    if ((await SynthesizeAsync(model, "One.", voice, language)).Length == 0)
                    {
                        failures.Add($"{voice} in {language}: no audio");
                    }
                }
                catch (InvalidOperationException ex)
                {
                    failures.Add($"{voice} in {language}: {ex.Message}");
                }
            }
        }

        Assert.Empty(failures);
    }

    // espeak-ng keeps state from one sentence to the next, so a voice's samples never repeat exactly, but its timing
    // does to within a few samples, while two voices differ by some percent.
    private static bool SameSpeech(float[] first, float[] second) => Math.Abs(first.Length - second.Length) < first.Length / 200;

    [Theory]
    [InlineData(new[] { 990, 990, 990, 990, 990, 990, 37 }, new[] { 990, 2000, 2000, 987 })]
    [InlineData(new[] { 5, 2000, 1999, 1 }, new[] { 5, 2000, 2000 })]
    [InlineData(new[] { 7, 4500, 0, 600 }, new[] { 7, 2000, 2000, 1100 })]
    [InlineData(new[] { 300 }, new[] { 300 })]
    [InlineData(new[] { 0, 300, 0, 2000 }, new[] { 300, 2000 })]
    public void Pieces_become_the_first_piece_then_whole_blocks_and_a_remainder_with_every_sample_in_order(int[] pieces, int[] expected)
    {
        var output = Channel.CreateUnbounded<AudioChunk>();
        var blocks = new PcmBlocks(22050, 2000, output.Writer);
        var sent = new List<short>();
        foreach (var length in pieces)
        {
            var piece = Enumerable.Range(sent.Count, length).Select(i => (short)((i * 37 % 65536) - 32768)).ToArray();
            sent.AddRange(piece);
            blocks.Append(piece);
        }

        blocks.Complete(null);

        var chunks = Drain(output.Reader);
        Assert.Equal(expected, chunks.Select(chunk => chunk.Samples.Length));
        Assert.All(chunks, chunk => Assert.Equal(22050, chunk.SampleRate));
        Assert.Equal(sent.Select(sample => sample / 32768f), chunks.SelectMany(chunk => chunk.Samples));
    }

    [Fact]
    public void A_block_needs_a_sample()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PcmBlocks(22050, 0, Channel.CreateUnbounded<AudioChunk>().Writer));
    }

    [Fact]
    public async Task A_failed_sentence_ends_in_its_error_and_its_unsent_remainder_is_dropped()
    {
        var output = Channel.CreateUnbounded<AudioChunk>();
        var blocks = new PcmBlocks(22050, 2000, output.Writer);
        blocks.Append(new short[100]);
        blocks.Append(new short[500]);

        blocks.Complete(new InvalidOperationException("espeak failed"));

        Assert.Equal([100], Drain(output.Reader).Select(chunk => chunk.Samples.Length));
        await Assert.ThrowsAsync<InvalidOperationException>(() => output.Reader.Completion);
    }

    [Fact]
    public async Task A_sentence_more_text_follows_ends_with_the_pause_its_punctuation_calls_for_and_the_last_one_without()
    {
        // Each sentence is a text of its own to espeak-ng, which pauses at the end of one only when asked to.
        var model = await EspeakModel.LoadAsync(NullLogger.Instance, CancellationToken.None);

        var followed = await SynthesizeAsync(model, "Hello world.", "alloy", textContinues: true);
        var clause = await SynthesizeAsync(model, "Hello world,", "alloy", textContinues: true);
        var last = await SynthesizeAsync(model, "Hello world.", "alloy");

        Assert.InRange(new DecodedAudio(followed, model.NativeSampleRate).TrailingSilenceSeconds, 0.25, 0.40);
        Assert.InRange(new DecodedAudio(clause, model.NativeSampleRate).TrailingSilenceSeconds, 0.10, 0.20);
        Assert.InRange(new DecodedAudio(last, model.NativeSampleRate).TrailingSilenceSeconds, 0.0, 0.06);
    }

    [Fact]
    public async Task A_text_sounds_the_same_after_a_text_with_a_spelled_out_symbol()
    {
        // espeak-ng 1.51 carried a pause from the last clause it spoke at a position into a later clause that ended
        // there: after the emoji, the pause between these sentences and the silence after them grew by 39 ms each.
        var model = await EspeakModel.LoadAsync(NullLogger.Instance, CancellationToken.None);
        const string Text = "Hi. Hello world.";

        var before = new DecodedAudio(await SynthesizeAsync(model, Text, "alloy"), model.NativeSampleRate);
        await SynthesizeAsync(model, "I like it 🙂.", "alloy");
        var after = new DecodedAudio(await SynthesizeAsync(model, Text, "alloy"), model.NativeSampleRate);

        // What is left is espeak-ng's pitch flutter, which runs on from the speech before (nothing resets it): it moves
        // where this text's voiced sounds end, by up to 10 ms in all (200 runs: 212 samples) and 2 ms at the end.
        Assert.InRange(after.DurationSeconds - before.DurationSeconds, -0.015, 0.015);
        Assert.InRange(after.LongestPauseSeconds - before.LongestPauseSeconds, -0.002, 0.002);
        Assert.InRange(after.TrailingSilenceSeconds - before.TrailingSilenceSeconds, -0.005, 0.005);
    }

    private static async Task<float[]> SynthesizeAsync(
        EspeakModel model, string text, string voice, string? language = null, bool textContinues = false)
    {
        var samples = new List<float>();
        var request = new SynthesisRequest(text, model.ResolveVoice(voice, language)!, 1.0, TextContinues: textContinues);
        await foreach (var chunk in model.SynthesizeAsync(request, CancellationToken.None))
        {
            samples.AddRange(chunk.Samples);
        }

        return [.. samples];
    }

    /// <summary>The median fundamental of the voiced 46 ms frames, by autocorrelation over 60-400 Hz.</summary>
    private static double MedianPitch(float[] samples, int sampleRate)
    {
        const int Frame = 1024;
        var pitches = new List<double>();
        for (var start = 0; start + Frame <= samples.Length; start += Frame)
        {
            var frame = samples.AsSpan(start, Frame);
            var energy = 0.0;
            foreach (var sample in frame)
            {
                energy += sample * sample;
            }

            if (energy / Frame < 1e-3)
            {
                continue; // silence between words
            }

            var (bestLag, bestCorrelation) = (0, 0.0);
            for (var lag = sampleRate / 400; lag <= sampleRate / 60; lag++)
            {
                var correlation = 0.0;
                for (var i = 0; i + lag < Frame; i++)
                {
                    correlation += frame[i] * frame[i + lag];
                }

                if (correlation > bestCorrelation)
                {
                    (bestLag, bestCorrelation) = (lag, correlation);
                }
            }

            if (bestCorrelation > 0.3 * energy)
            {
                pitches.Add((double)sampleRate / bestLag);
            }
        }

        pitches.Sort();
        return pitches[pitches.Count / 2];
    }

    private static List<AudioChunk> Drain(ChannelReader<AudioChunk> reader)
    {
        var chunks = new List<AudioChunk>();
        while (reader.TryRead(out var chunk))
        {
            chunks.Add(chunk);
        }

        return chunks;
    }
}
