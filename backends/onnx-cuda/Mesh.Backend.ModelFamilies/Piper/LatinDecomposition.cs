using System.Collections.Frozen;
using System.Text;

namespace Mesh.Backend.ModelFamilies.Piper;

/// <summary>
/// Canonical decomposition (NFD) of the Latin letters with diacritics, the ones that occur in espeak-ng IPA and in
/// Latin-script text. The runtime's own normalization is not available in invariant-globalization mode, where
/// <c>string.Normalize</c> leaves such letters composed.
/// </summary>
public static class LatinDecomposition
{
    // (combining marks, composed letters, their base letters), generated from the Unicode data for U+00C0-U+024F
    // and U+1E00-U+1EFF.
    private static readonly (string Marks, string Composed, string Bases)[] Table =
    [
        ("\u0300", "ÀÈÌÒÙàèìòùǸǹẀẁỲỳ", "AEIOUaeiouNnWwYy"),
        ("\u0301", "ÁÉÍÓÚÝáéíóúýĆćĹĺŃńŔŕŚśŹźǴǵǼǽǾǿḰḱḾḿṔṕẂẃ", "AEIOUYaeiouyCcLlNnRrSsZzGgÆæØøKkMmPpWw"),
        ("\u0301\u0307", "Ṥṥ", "Ss"),
        ("\u0302", "ÂÊÎÔÛâêîôûĈĉĜĝĤĥĴĵŜŝŴŵŶŷẐẑ", "AEIOUaeiouCcGgHhJjSsWwYyZz"),
        ("\u0302\u0300", "ẦầỀềỒồ", "AaEeOo"),
        ("\u0302\u0301", "ẤấẾếỐố", "AaEeOo"),
        ("\u0302\u0303", "ẪẫỄễỖỗ", "AaEeOo"),
        ("\u0302\u0309", "ẨẩỂểỔổ", "AaEeOo"),
        ("\u0303", "ÃÑÕãñõĨĩŨũṼṽẼẽỸỹ", "ANOanoIiUuVvEeYy"),
        ("\u0303\u0301", "ṌṍṸṹ", "OoUu"),
        ("\u0303\u0304", "Ȭȭ", "Oo"),
        ("\u0303\u0308", "Ṏṏ", "Oo"),
        ("\u0304", "ĀāĒēĪīŌōŪūǢǣȲȳḠḡ", "AaEeIiOoUuÆæYyGg"),
        ("\u0304\u0300", "ḔḕṐṑ", "EeOo"),
        ("\u0304\u0301", "ḖḗṒṓ", "EeOo"),
        ("\u0304\u0308", "Ṻṻ", "Uu"),
        ("\u0306", "ĂăĔĕĞğĬĭŎŏŬŭ", "AaEeGgIiOoUu"),
        ("\u0306\u0300", "Ằằ", "Aa"),
        ("\u0306\u0301", "Ắắ", "Aa"),
        ("\u0306\u0303", "Ẵẵ", "Aa"),
        ("\u0306\u0309", "Ẳẳ", "Aa"),
        ("\u0307", "ĊċĖėĠġİŻżȦȧȮȯḂḃḊḋḞḟḢḣṀṁṄṅṖṗṘṙṠṡṪṫẆẇẊẋẎẏẛ", "CcEeGgIZzAaOoBbDdFfHhMmNnPpRrSsTtWwXxYyſ"),
        ("\u0307\u0304", "ǠǡȰȱ", "AaOo"),
        ("\u0308", "ÄËÏÖÜäëïöüÿŸḦḧẄẅẌẍẗ", "AEIOUaeiouyYHhWwXxt"),
        ("\u0308\u0300", "Ǜǜ", "Uu"),
        ("\u0308\u0301", "ǗǘḮḯ", "UuIi"),
        ("\u0308\u0304", "ǕǖǞǟȪȫ", "UuAaOo"),
        ("\u0308\u030c", "Ǚǚ", "Uu"),
        ("\u0309", "ẢảẺẻỈỉỎỏỦủỶỷ", "AaEeIiOoUuYy"),
        ("\u030a", "ÅåŮůẘẙ", "AaUuwy"),
        ("\u030a\u0301", "Ǻǻ", "Aa"),
        ("\u030b", "ŐőŰű", "OoUu"),
        ("\u030c", "ČčĎďĚěĽľŇňŘřŠšŤťŽžǍǎǏǐǑǒǓǔǦǧǨǩǮǯǰȞȟ", "CcDdEeLlNnRrSsTtZzAaIiOoUuGgKkƷʒjHh"),
        ("\u030c\u0307", "Ṧṧ", "Ss"),
        ("\u030f", "ȀȁȄȅȈȉȌȍȐȑȔȕ", "AaEeIiOoRrUu"),
        ("\u0311", "ȂȃȆȇȊȋȎȏȒȓȖȗ", "AaEeIiOoRrUu"),
        ("\u031b", "ƠơƯư", "OoUu"),
        ("\u031b\u0300", "ỜờỪừ", "OoUu"),
        ("\u031b\u0301", "ỚớỨứ", "OoUu"),
        ("\u031b\u0303", "ỠỡỮữ", "OoUu"),
        ("\u031b\u0309", "ỞởỬử", "OoUu"),
        ("\u031b\u0323", "ỢợỰự", "OoUu"),
        ("\u0323", "ḄḅḌḍḤḥḲḳḶḷṂṃṆṇṚṛṢṣṬṭṾṿẈẉẒẓẠạẸẹỊịỌọỤụỴỵ", "BbDdHhKkLlMmNnRrSsTtVvWwZzAaEeIiOoUuYy"),
        ("\u0323\u0302", "ẬậỆệỘộ", "AaEeOo"),
        ("\u0323\u0304", "ḸḹṜṝ", "LlRr"),
        ("\u0323\u0306", "Ặặ", "Aa"),
        ("\u0323\u0307", "Ṩṩ", "Ss"),
        ("\u0324", "Ṳṳ", "Uu"),
        ("\u0325", "Ḁḁ", "Aa"),
        ("\u0326", "ȘșȚț", "SsTt"),
        ("\u0327", "ÇçĢģĶķĻļŅņŖŗŞşŢţȨȩḐḑḨḩ", "CcGgKkLlNnRrSsTtEeDdHh"),
        ("\u0327\u0301", "Ḉḉ", "Cc"),
        ("\u0327\u0306", "Ḝḝ", "Ee"),
        ("\u0328", "ĄąĘęĮįŲųǪǫ", "AaEeIiUuOo"),
        ("\u0328\u0304", "Ǭǭ", "Oo"),
        ("\u032d", "ḒḓḘḙḼḽṊṋṰṱṶṷ", "DdEeLlNnTtUu"),
        ("\u032e", "Ḫḫ", "Hh"),
        ("\u0330", "ḚḛḬḭṴṵ", "EeIiUu"),
        ("\u0331", "ḆḇḎḏḴḵḺḻṈṉṞṟṮṯẔẕẖ", "BbDdKkLlNnRrTtZzh"),
    ];

    private static readonly FrozenDictionary<char, string> Decompositions = Table
        .SelectMany(row => row.Composed.Zip(row.Bases, (composed, b) => (composed, b + row.Marks)))
        .ToFrozenDictionary(e => e.composed, e => e.Item2);

    /// <summary><paramref name="text"/> in NFD for every letter in the table; other characters pass through.</summary>
    public static string Decompose(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        StringBuilder? result = null;
        for (var i = 0; i < text.Length; i++)
        {
            if (Decompositions.TryGetValue(text[i], out var decomposed))
            {
                result ??= new StringBuilder(text, 0, i, text.Length + 8);
                result.Append(decomposed);
            }
            else
            {
                result?.Append(text[i]);
            }
        }

        return result?.ToString() ?? text;
    }
}
