using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Mesh.Backend.Pipeline.Text;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Backend;

public sealed class SentenceSplitterTests
{
    // ---- Known cases: the expected sentences, each without its trailing whitespace ----

    public static TheoryData<string, string[]> Abbreviations => new()
    {
        { "Dr. Smith met Mr. Jones and Mrs. Brown. They talked.", ["Dr. Smith met Mr. Jones and Mrs. Brown.", "They talked."] },
        { "Prof. Adams lives on St. James Street. He walks.", ["Prof. Adams lives on St. James Street.", "He walks."] },
        { "Bring fruit, e.g. apples, i.e. something sweet. Thanks.", ["Bring fruit, e.g. apples, i.e. something sweet.", "Thanks."] },
        { "Bring fruit, e.g. Apples or Pears. Thanks.", ["Bring fruit, e.g. Apples or Pears.", "Thanks."] },
        { "We sell pens, paper, etc. and more. Come in.", ["We sell pens, paper, etc. and more.", "Come in."] },
        { "We sell pens, paper, etc. Come in.", ["We sell pens, paper, etc.", "Come in."] },
        { "Real Madrid vs. Barcelona starts soon. Watch it.", ["Real Madrid vs. Barcelona starts soon.", "Watch it."] },
        { "She moved to the U.S. in May. Then to the U.K. Later she came back.", ["She moved to the U.S. in May.", "Then to the U.K.", "Later she came back."] },
        { "We open at 9 a.m. and close at 5 p.m. Come early.", ["We open at 9 a.m. and close at 5 p.m.", "Come early."] },
        { "Acme Inc. reported profits. Shares rose.", ["Acme Inc. reported profits.", "Shares rose."] },
        { "See No. 5 on the list. No. That one is wrong.", ["See No. 5 on the list.", "No.", "That one is wrong."] },
        { "Call ext. 12 today. Thanks.", ["Call ext. 12 today.", "Thanks."] },
        { "The meeting is on Jan. 3. Bring notes.", ["The meeting is on Jan. 3.", "Bring notes."] },
        { "J. R. R. Tolkien wrote it. He was British.", ["J. R. R. Tolkien wrote it.", "He was British."] },
        { "J.R.R. Tolkien wrote it. He was British.", ["J.R.R. Tolkien wrote it.", "He was British."] },
        { "The gap is 5 ft. Then it narrows.", ["The gap is 5 ft.", "Then it narrows."] },
        { "Dr. Smith met Mr. Jones at 5 p.m. on Jan. 3rd, e.g. before the U.S. trip.", ["Dr. Smith met Mr. Jones at 5 p.m. on Jan. 3rd, e.g. before the U.S. trip."] },
    };

    public static TheoryData<string, string[]> NumbersAndAddresses => new()
    {
        { "Pi is 3.14 roughly. Version 2.10.3 is out. It costs $4.99. Buy it.", ["Pi is 3.14 roughly.", "Version 2.10.3 is out.", "It costs $4.99.", "Buy it."] },
        { "The total is $1,234.56, or roughly €1.1k after fees (about 4.5%).", ["The total is $1,234.56, or roughly €1.1k after fees (about 4.5%)."] },
        { "Visit https://example.com/a.b?c=d. Then sign in.", ["Visit https://example.com/a.b?c=d.", "Then sign in."] },
        { "Version 2.10.3 fixed CVE-2024-12345; see https://example.com/notes?id=7&x=y.", ["Version 2.10.3 fixed CVE-2024-12345; see https://example.com/notes?id=7&x=y."] },
        { "Write to help@example.com. We answer fast.", ["Write to help@example.com.", "We answer fast."] },
        { "Go to www.example.com/page?x=1&y=2! It works.", ["Go to www.example.com/page?x=1&y=2!", "It works."] },
        { "I was born in 1990. 2000 came fast.", ["I was born in 1990.", "2000 came fast."] },
    };

    public static TheoryData<string, string[]> QuotesAndBrackets => new()
    {
        { "He said \"Stop.\" Then he left.", ["He said \"Stop.\"", "Then he left."] },
        { "She asked, “Are you sure?” He nodded.", ["She asked, “Are you sure?”", "He nodded."] },
        { "He whispered 'Go.' Nobody moved.", ["He whispered 'Go.'", "Nobody moved."] },
        { "(This is an aside.) The main text resumes.", ["(This is an aside.)", "The main text resumes."] },
        { "[See the appendix.] \"Next,\" he said.", ["[See the appendix.]", "\"Next,\" he said."] },
        { "\"Really?\" she asked. \"Yes!\" he said.", ["\"Really?\" she asked.", "\"Yes!\" he said."] },
        { "\"Quoted speech,\" she said, \"should keep its pauses.\" (And parentheses too.)", ["\"Quoted speech,\" she said, \"should keep its pauses.\"", "(And parentheses too.)"] },
    };

    public static TheoryData<string, string[]> EllipsesAndRuns => new()
    {
        { "Wait... what?", ["Wait... what?"] },
        { "Wait... What?", ["Wait...", "What?"] },
        { "Well… maybe. Fine… Let's go.", ["Well… maybe.", "Fine…", "Let's go."] },
        { "It was . . . strange. Very.", ["It was . . . strange.", "Very."] },
        { "Really?! I had no idea!!! Tell me more?!", ["Really?!", "I had no idea!!!", "Tell me more?!"] },
        { "What?? No!", ["What??", "No!"] },
        { "...", ["..."] },
        { "?!?!", ["?!?!"] },
    };

    public static TheoryData<string, string[]> Cjk => new()
    {
        { "日本語のテキストです。次の文です！本当ですか？", ["日本語のテキストです。", "次の文です！", "本当ですか？"] },
        { "你好。Hello there. 再见！", ["你好。", "Hello there.", "再见！"] },
        { "価格は３．１４円です。終わり．", ["価格は３．１４円です。", "終わり．"] },
        { "第一．第二．", ["第一．", "第二．"] },
        { "「走れ！」 Then he ran.", ["「走れ！」", "Then he ran."] },
    };

    public static TheoryData<string, string[]> LineBreaks => new()
    {
        { "First paragraph without a stop\n\nSecond paragraph", ["First paragraph without a stop", "Second paragraph"] },
        { "A line that wraps\nonto the next line. Done.", ["A line that wraps\nonto the next line.", "Done."] },
        { "Title\r\n\r\nBody text.", ["Title", "Body text."] },
        { "See Dr.\n\nSmith is next.", ["See Dr.", "Smith is next."] },
        { "One.\u2029Two.", ["One.", "Two."] },
    };

    [Theory]
    [MemberData(nameof(Abbreviations))]
    [MemberData(nameof(NumbersAndAddresses))]
    [MemberData(nameof(QuotesAndBrackets))]
    [MemberData(nameof(EllipsesAndRuns))]
    [MemberData(nameof(Cjk))]
    [MemberData(nameof(LineBreaks))]
    public void Splits_known_text_into_the_expected_sentences(string text, string[] expected)
    {
        var slices = SentenceSplitter.Split(text);

        Assert.Equal(expected, slices.Select(s => s.TrimEnd()));
        AssertInvariants(text, SentenceSplitter.DefaultMaxSentenceLength, slices);
        Assert.Equal(expected.Where(SentenceSplitter.HasSpeech), SentenceSplitter.SplitForSynthesis(text));
    }

    [Theory]
    [InlineData("", "")]
    [InlineData(" \t\n ", "")]
    [InlineData("  Tabs\tand   spaces  ", "Tabs and spaces")]
    [InlineData("a\r\nb", "a\nb")]
    [InlineData("a\r\rb", "a\n\nb")]
    [InlineData("a \n \n\n b", "a\n\nb")]
    [InlineData("a\u2029b", "a\n\nb")]
    [InlineData("a\fb\vc\u0085d\u2028e", "a\nb\nc\nd\ne")]
    [InlineData("Page one\f\fPage two", "Page one\n\nPage two")]
    [InlineData("a\u00A0\u3000b", "a b")]
    [InlineData("Plain text.", "Plain text.")]
    public void Normalize_unifies_line_breaks_and_collapses_whitespace(string text, string expected)
    {
        Assert.Equal(expected, SentenceSplitter.Normalize(text));
    }

    [Fact]
    public void Slices_keep_their_trailing_whitespace()
    {
        Assert.Equal(["One. ", "Two\n\n", "Three?"], SentenceSplitter.Split("One.   Two\n\n\nThree?  "));
    }

    [Fact]
    public void Blank_text_has_no_sentences()
    {
        Assert.Empty(SentenceSplitter.Split("  \n\t "));
        Assert.Empty(SentenceSplitter.SplitForSynthesis(""));
    }

    /// <summary>Marks, format characters and symbols that espeak-ng reads as nothing, each alone.</summary>
    public static TheoryData<string> MarksEspeakReadsAsNothing => new()
    {
        "___", "* * *", "•", "|", "`", "^", "<>", "‥", "‽", "؛", "۔", "\u200B", "\uFEFF...",
    };

    [Theory]
    [InlineData("...")]
    [InlineData("?!")]
    [InlineData(" - ")]
    [InlineData("()")]
    [InlineData("«…» — “”")]
    [InlineData(", ; :")]
    [InlineData("。、！")]
    [InlineData("⇒ ─ ◦ ≪")]
    [InlineData("***\n\n---\n\n___")]
    [MemberData(nameof(MarksEspeakReadsAsNothing))]
    public void Punctuation_only_text_has_nothing_to_speak(string text)
    {
        Assert.False(SentenceSplitter.HasSpeech(text));
        Assert.Empty(SentenceSplitter.SplitForSynthesis(text));
    }

    [Theory]
    [InlineData("5")]
    [InlineData("%")]
    [InlineData("$")]
    [InlineData("&")]
    [InlineData("#")]
    [InlineData("@")]
    [InlineData("ok.")]
    [InlineData("(x)")]
    [InlineData("Ж")]
    [InlineData("日本")]
    [InlineData("😀")]
    [InlineData("*")]
    [InlineData("**")]
    [InlineData("/")]
    [InlineData("+")]
    [InlineData("=")]
    [InlineData("~")]
    [InlineData("§")]
    [InlineData("€")]
    [InlineData("°")]
    [InlineData("←")]
    [InlineData("√")]
    [InlineData("☺")]
    [InlineData("½")]
    [InlineData("e\u0301")]
    public void Digits_symbols_emoji_and_letters_of_any_script_are_speech(string text)
    {
        Assert.True(SentenceSplitter.HasSpeech(text));
        Assert.Equal([text], SentenceSplitter.SplitForSynthesis(text));
    }

    [Fact]
    public void A_sentence_with_nothing_to_speak_is_left_out_of_synthesis()
    {
        const string Text = "Hello.\n\n...\n\nWorld.";

        Assert.Equal(["Hello.", "...", "World."], SentenceSplitter.Split(Text).Select(s => s.TrimEnd()));
        Assert.Equal(["Hello.", "World."], SentenceSplitter.SplitForSynthesis(Text));
    }

    [Fact]
    public void A_scene_break_of_asterisks_is_left_out_as_a_rule_of_dashes_is()
    {
        const string Text = "The end.\n\n* * *\n\nDawn. ***\n\n---\n\nNext day, 5 * 3.";

        Assert.Equal(["The end.", "* * *", "Dawn.", "***", "---", "Next day, 5 * 3."], SentenceSplitter.Split(Text).Select(s => s.TrimEnd()));
        Assert.Equal(["The end.", "Dawn.", "Next day, 5 * 3."], SentenceSplitter.SplitForSynthesis(Text));
    }

    [Fact]
    public void Rejects_a_cap_too_small_to_hold_an_abbreviation()
    {
        Assert.Throws<ArgumentOutOfRangeException>(
            () => SentenceSplitter.Split("text", SentenceSplitter.MinimumMaxSentenceLength - 1));
        Assert.Throws<ArgumentNullException>(() => SentenceSplitter.Split(null!));
    }

    // ---- Sentences longer than the cap ----

    [Fact]
    public void Long_sentence_is_cut_after_a_clause_mark_first_then_at_whitespace()
    {
        const string Text = "one two three four, five six seven eight nine ten eleven twelve";

        var slices = SentenceSplitter.Split(Text, 24);

        Assert.Equal(["one two three four, ", "five six seven eight ", "nine ten eleven twelve"], slices);
    }

    [Theory]
    [InlineData("alpha beta; gamma delta epsilon zeta eta", "alpha beta; ")]
    [InlineData("alpha beta: gamma delta epsilon zeta eta", "alpha beta: ")]
    [InlineData("alpha beta — gamma delta epsilon zeta eta", "alpha beta — ")]
    [InlineData("alpha beta—gamma delta epsilon zeta eta", "alpha beta—")]
    [InlineData("alpha beta – gamma delta epsilon zeta eta", "alpha beta – ")]
    [InlineData("これは長い文で、区切りがありますがまだまだ続きます", "これは長い文で、")]
    public void Long_sentence_is_cut_after_each_kind_of_clause_mark(string text, string first)
    {
        var slices = SentenceSplitter.Split(text, 16);

        Assert.Equal(first, slices[0]);
        AssertInvariants(text, 16, slices);
    }

    [Fact]
    public void Clause_marks_without_following_space_are_not_cut_points()
    {
        // 10:30 and 1,000 are numbers, not clauses; the cut falls at whitespace instead.
        var slices = SentenceSplitter.Split("meet at 10:30 with 1,000 people there", 16);

        Assert.Equal(["meet at 10:30 ", "with 1,000 ", "people there"], slices);
    }

    [Fact]
    public void Run_on_corpus_sentence_is_cut_at_whitespace_under_a_small_cap()
    {
        var text = ReadCorpus("edge-cases.txt").Single(line => line.StartsWith("A sentence with no terminal", StringComparison.Ordinal));

        Assert.Single(SentenceSplitter.Split(text));
        var slices = SentenceSplitter.Split(text, 60);
        Assert.Equal(4, slices.Count);
        Assert.All(slices.SkipLast(1), s => Assert.EndsWith(" ", s, StringComparison.Ordinal));
        AssertInvariants(text, 60, slices);
    }

    [Fact]
    public void Text_without_whitespace_is_hard_cut_at_the_cap()
    {
        var slices = SentenceSplitter.Split(new string('x', 40), 16);

        Assert.Equal([new string('x', 16), new string('x', 16), new string('x', 8)], slices);
    }

    [Fact]
    public void Hard_cut_prefers_a_boundary_between_word_and_punctuation()
    {
        var slices = SentenceSplitter.Split("aaaaaaaaaa/bbbbbbbbbb/cccccccccc", 16);

        Assert.Equal(["aaaaaaaaaa/", "bbbbbbbbbb/", "cccccccccc"], slices);
    }

    [Fact]
    public void Hard_cut_never_splits_a_surrogate_pair()
    {
        var text = string.Concat(Enumerable.Repeat("😀", 20));

        var slices = SentenceSplitter.Split(text, 17);

        Assert.Equal([16, 16, 8], slices.Select(s => s.Length));
        AssertInvariants(text, 17, slices);
    }

    [Fact]
    public void Hard_cut_keeps_combining_marks_with_their_letter()
    {
        var text = string.Concat(Enumerable.Repeat("e\u0301", 20));

        var slices = SentenceSplitter.Split(text, 17);

        Assert.All(slices, s => Assert.Equal('\u0301', s[^1]));
        Assert.Equal([16, 16, 8], slices.Select(s => s.Length));
    }

    [Fact]
    public void One_grapheme_longer_than_the_cap_is_cut_at_the_cap()
    {
        var text = "a" + new string('\u0301', 30);

        var slices = SentenceSplitter.Split(text, 16);

        Assert.Equal([16, 15], slices.Select(s => s.Length));
    }

    // ---- Corpus ----

    [Fact]
    public void Every_corpus_sentence_is_one_sentence()
    {
        foreach (var line in ReadCorpus("sentences-en.txt"))
        {
            Assert.Equal([line], SentenceSplitter.Split(line));
        }
    }

    [Fact]
    public void Corpus_sentences_joined_into_one_text_split_back_into_the_same_sentences()
    {
        var lines = ReadCorpus("sentences-en.txt");

        Assert.Equal(lines, SentenceSplitter.SplitForSynthesis(string.Join(" ", lines)));
        Assert.Equal(lines, SentenceSplitter.SplitForSynthesis(string.Join("\n\n", lines)));
    }

    // The corpus gives each paragraph 2–4 sentences; these are the counts of its lines, in order.
    [Fact]
    public void Corpus_paragraphs_split_into_their_sentences()
    {
        int[] expected = [3, 3, 3, 3, 3, 2, 2, 3, 2, 2];
        var paragraphs = ReadCorpus("paragraphs-en.txt");

        Assert.Equal(expected, paragraphs.Select(p => SentenceSplitter.Split(p).Count));
        Assert.All(paragraphs.SelectMany(p => SentenceSplitter.SplitForSynthesis(p)), sentence =>
        {
            Assert.Matches("^[A-Z]", sentence);
            Assert.Matches("[.!?]$", sentence);
        });
        Assert.Equal(
            expected.Sum(),
            SentenceSplitter.Split(string.Join("\n", paragraphs)).Count);
    }

    [Fact]
    public void Streaming_sample_text_is_three_sentences()
    {
        const string Text = "The harbour was quiet before dawn. A gull landed on the railing. By six the boats were out.";

        Assert.Equal(3, SentenceSplitter.Split(Text).Count);
    }

    [Fact]
    public void Edge_cases_keep_the_invariants_under_several_caps()
    {
        var lines = ReadCorpus("edge-cases.txt");
        var whole = File.ReadAllText(CorpusPath("edge-cases.txt"));

        foreach (var max in new[] { SentenceSplitter.MinimumMaxSentenceLength, 17, 40, SentenceSplitter.DefaultMaxSentenceLength })
        {
            foreach (var text in lines.Append(whole))
            {
                AssertInvariants(text, max, SentenceSplitter.Split(text, max));
            }
        }
    }

    [Theory]
    [InlineData("Dr. Smith met Mr. Jones at 5 p.m. on Jan. 3rd, e.g. before the U.S. trip.", 1)]
    [InlineData("The total is $1,234.56, or roughly €1.1k after fees (about 4.5%).", 1)]
    [InlineData("Call +1 (555) 010-2030 ext. 12 or write to help@example.com.", 1)]
    [InlineData("Version 2.10.3 fixed CVE-2024-12345; see https://example.com/notes?id=7&x=y.", 1)]
    [InlineData("日本語のテキストも少し含まれています。", 1)]
    [InlineData("...", 1)]
    [InlineData("?!?!", 1)]
    [InlineData("\"Quoted speech,\" she said, \"should keep its pauses.\" (And parentheses too.)", 2)]
    [InlineData("<speak>Markup like this is not SSML here and must be read or rejected, never executed.</speak>", 1)]
    public void Edge_cases_split_as_read(string line, int sentences)
    {
        Assert.Contains(line, ReadCorpus("edge-cases.txt"));
        Assert.Equal(sentences, SentenceSplitter.Split(line).Count);
    }

    // ---- Properties ----

    private static readonly string[] Tokens =
    [
        "hello", "world", "The", "Then", "and", "it", "Dr", "Mr", "Prof", "St", "e.g", "i.e", "etc", "vs", "U.S", "U.K",
        "a.m", "p.m", "Inc", "No", "Jan", "ext", "Ph.D", "a.k.a", "J", "R", "A.B.C.D.E.F", "Smith", "ft", "x",
        "3", "14", "2.10.3", "$4.99", "1,000", "10:30", "١٢", "ＡＢ",
        ".", ".", ".", "...", "…", "?", "!", "?!", "!!!", "‼", "؟", "।", "。", "！", "？", "．", "３", "日本", "語",
        "¿", "¡", "\u200B", "\u0600", "ᄀ", "ᅡ", "ᆨ", "Dr.", "No. ", "e.g. ", "U.S. ", ". ", "\uD83C\uDDFA",
        "\"", "'", "“", "”", "«", "»", "(", ")", "[", "]", "「", "」", ",", ";", ":", "—", "–", "、", "，",
        " ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r", "\u2029", "\u00A0", "\u3000",
        "https://example.com/a.b?c=d", "help@example.com", "👩‍💻", "😀", "e\u0301", "\u0301", "\uD800", "\uDC00", "\u200D",
    ];

    private static Gen<int> MaxLength =>
        Gen.Frequency(
            (3, Gen.Choose(SentenceSplitter.MinimumMaxSentenceLength, 24)),
            (2, Gen.Choose(25, 120)),
            (1, Gen.Constant(SentenceSplitter.DefaultMaxSentenceLength)));

    private static Gen<string> PunctuationHeavyText =>
        Gen.Elements(Tokens).ListOf().Select(parts => string.Concat(parts));

    private static Gen<string> AnyUnicodeText =>
        Gen.Frequency(
            (6, Gen.Choose(0, char.MaxValue).Select(c => ((char)c).ToString())),
            (2, Gen.Choose(0x10000, 0x10FFFF).Select(char.ConvertFromUtf32)),
            (2, Gen.Elements(" ", "\n", "\r\n", "\t", "\u2029", ".", "?", "!", "。")))
        .ListOf()
        .Select(parts => string.Concat(parts));

    private static Gen<string> CorpusText =>
        Gen.Elements(CorpusLines())
            .SelectMany(line => Gen.Elements(" ", "  ", "\n", "\n\n", "", "\r\n", " \t").Select(separator => line + separator))
            .ListOf()
            .Select(parts => string.Concat(parts));

    private static string[] CorpusLines() =>
    [
        .. ReadCorpus("sentences-en.txt"),
        .. ReadCorpus("paragraphs-en.txt"),
        .. ReadCorpus("edge-cases.txt"),
    ];

    [Property(MaxTest = 1000, EndSize = 300)]
    public Property Invariants_hold_for_arbitrary_unicode() =>
        Prop.ForAll(Arb.From(Gen.Zip(AnyUnicodeText, MaxLength)), input => AssertInvariants(input.Item1, input.Item2));

    [Property(MaxTest = 1000, EndSize = 300)]
    public Property Invariants_hold_for_punctuation_heavy_text() =>
        Prop.ForAll(Arb.From(Gen.Zip(PunctuationHeavyText, MaxLength)), input => AssertInvariants(input.Item1, input.Item2));

    [Property(MaxTest = 300)]
    public Property Invariants_hold_for_text_built_from_the_corpus() =>
        Prop.ForAll(Arb.From(Gen.Zip(CorpusText, MaxLength)), input => AssertInvariants(input.Item1, input.Item2));

    [Property(MaxTest = 300)]
    public void Invariants_hold_for_default_strings(NonNull<string> text) =>
        AssertInvariants(text.Get, SentenceSplitter.DefaultMaxSentenceLength);

    [Property(MaxTest = 300)]
    public Property Joined_corpus_sentences_come_back_one_by_one() =>
        Prop.ForAll(
            Arb.From(Gen.Elements(ReadCorpus("sentences-en.txt")).NonEmptyListOf()),
            sentences => Assert.Equal(sentences, SentenceSplitter.SplitForSynthesis(string.Join(" ", sentences))));

    private static void AssertInvariants(string text, int max) =>
        AssertInvariants(text, max, SentenceSplitter.Split(text, max));

    /// <summary>What every split must satisfy, whatever the text.</summary>
    private static void AssertInvariants(string text, int max, IReadOnlyList<string> slices)
    {
        var normalized = SentenceSplitter.Normalize(text);
        Assert.Equal(normalized, SentenceSplitter.Normalize(normalized));
        Assert.Equal(normalized, string.Concat(slices));

        for (var i = 0; i < slices.Count; i++)
        {
            var slice = slices[i];
            var sentence = slice.TrimEnd();
            Assert.NotEmpty(sentence);
            Assert.False(char.IsWhiteSpace(slice[0]), "slice starts with whitespace");
            Assert.True(sentence.Length <= max, $"sentence of {sentence.Length} over the cap {max}: {Escape(slice)}");
            Assert.True(
                slice.Length <= max + SentenceSplitter.MaxTrailingWhitespace,
                $"slice of {slice.Length} over the cap {max} with its whitespace: {Escape(slice)}");
            if (i + 1 < slices.Count)
            {
                Assert.False(
                    char.IsHighSurrogate(slice[^1]) && char.IsLowSurrogate(slices[i + 1][0]),
                    "cut inside a surrogate pair");
            }

            var again = SentenceSplitter.Split(slice, max);
            Assert.True(
                again.Count == 1 && again[0] == sentence,
                $"splitting {Escape(slice)} again gives [{string.Join(" | ", again.Select(Escape))}]");
        }
    }

    private static string Escape(string s)
    {
        var builder = new StringBuilder("\"");
        foreach (var c in s)
        {
            builder.Append(c is >= ' ' and < '\u007F' ? c.ToString() : $"\\u{(int)c:X4}");
        }

        return builder.Append('"').ToString();
    }

    private static string CorpusPath(string name) => Path.Combine(RepoPaths.Root, "corpus", name);

    private static string[] ReadCorpus(string name) =>
        File.ReadAllLines(CorpusPath(name)).Where(line => line.Length > 0).ToArray();
}
