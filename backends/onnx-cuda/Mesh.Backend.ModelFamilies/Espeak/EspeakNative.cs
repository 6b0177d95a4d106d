using System.Runtime.InteropServices;

namespace Mesh.Backend.ModelFamilies.Espeak;

/// <summary>The parts of libespeak-ng's C API (speak_lib.h, 1.51) the espeak family uses.</summary>
internal static unsafe partial class EspeakNative
{
    // The soname ships in Debian's libespeak-ng1; the unversioned .so only comes with the -dev package.
    private const string Library = "libespeak-ng.so.1";

    public const int AudioOutputSynchronous = 2;
    public const int InitializeDontExit = 0x8000;
    public const int PositionCharacter = 1;
    public const int CharsUtf8 = 1;

    /// <summary>espeak_Synth flag: end the text with the pause its last punctuation calls for (a sentence's, a comma's).</summary>
    public const int EndPause = 0x1000;
    public const int ParameterRate = 1;
    public const int RateNormal = 175;
    public const int Ok = 0;

    /// <summary>phonememode bit 1: IPA rather than espeak's ASCII phoneme names.</summary>
    public const int PhonemesIpa = 0x02;

    /// <summary>phonememode bit 7: bits 8-23 hold a tie character joining multi-letter phonemes (d͡ʒ, a͡ɪ).</summary>
    public const int PhonemesTie = 0x80;

    [LibraryImport(Library, EntryPoint = "espeak_Initialize", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Initialize(int output, int bufferLengthMs, string? path, int options);

    [LibraryImport(Library, EntryPoint = "espeak_SetSynthCallback")]
    public static partial void SetSynthCallback(delegate* unmanaged[Cdecl]<short*, int, nint, int> callback);

    [LibraryImport(Library, EntryPoint = "espeak_SetVoiceByName", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SetVoiceByName(string name);

    /// <summary>Selects a voice by properties; with only <c>languages</c> set, the best voice for that language.</summary>
    [LibraryImport(Library, EntryPoint = "espeak_SetVoiceByProperties")]
    public static partial int SetVoiceByProperties(VoiceEntry* voice);

    [LibraryImport(Library, EntryPoint = "espeak_SetParameter")]
    public static partial int SetParameter(int parameter, int value, int relative);

    [LibraryImport(Library, EntryPoint = "espeak_Synth")]
    public static partial int Synth(
        byte* text, nuint size, uint position, int positionType, uint endPosition, uint flags, uint* uniqueIdentifier, nint userData);

    /// <summary>Phonemizes one clause of <c>*text</c> and advances it (NULL at the end); the result is a static buffer.</summary>
    [LibraryImport(Library, EntryPoint = "espeak_TextToPhonemes")]
    public static partial byte* TextToPhonemes(byte** text, int textMode, int phonemeMode);

    [LibraryImport(Library, EntryPoint = "espeak_ListVoices")]
    public static partial VoiceEntry** ListVoices(nint voiceSpec);

    /// <summary>espeak_VOICE: <c>languages</c> is a list of (priority byte, NUL-terminated name), ended by a 0 byte.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct VoiceEntry
    {
        public byte* Name;
        public byte* Languages;
        public byte* Identifier;
        public byte Gender;
        public byte Age;
        public byte Variant;
        public byte Reserved;
        public int Score;
        public nint Spare;
    }
}
