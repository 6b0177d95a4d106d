using Mesh.Gateway;
using Mesh.Gateway.Auth;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Mesh.Tests.Gateway;

/// <summary>Settings nested in lists and objects (backends, API keys, per-class queue limits) are validated at start too.</summary>
public sealed class GatewayOptionsValidationTests
{
    [Fact]
    public void Valid_nested_settings_pass()
    {
        ValidateAll(Settings());
    }

    [Theory]
    [InlineData("Mesh:Auth:Keys:0:RequestsPerSecond", "0", "AuthOptions.Keys[0].RequestsPerSecond")]
    [InlineData("Mesh:Auth:Keys:0:Burst", "0", "AuthOptions.Keys[0].Burst")]
    [InlineData("Mesh:Auth:Keys:0:Name", "team a", "AuthOptions.Keys[0].Name")]
    [InlineData("Mesh:Admission:Batch:QueueTimeoutMs", "-5", "AdmissionOptions.Batch.QueueTimeoutMs")]
    [InlineData("Mesh:Admission:Realtime:MaxQueue", "-1", "AdmissionOptions.Realtime.MaxQueue")]
    [InlineData("Mesh:Fleet:Backends:0:Name", "b 0", "FleetOptions.Backends[0].Name")]
    public void A_nested_setting_out_of_range_is_refused_by_its_name(string key, string value, string member)
    {
        var error = Assert.Throws<OptionsValidationException>(() => ValidateAll(Settings((key, value))));

        Assert.Contains(member, error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The binder turns null and {} into an entry of defaults: refused by its key alone, not also by the checks of those
    /// defaults (a Name required, two entries named ""), which named no setting.
    /// </summary>
    [Theory]
    [InlineData("Mesh:Fleet:Backends")]
    [InlineData("Mesh:Auth:Keys")]
    public void Entries_that_are_null_or_empty_are_refused_by_their_keys_alone(string list)
    {
        var error = Assert.Throws<OptionsValidationException>(() => ValidateAll(Settings(($"{list}:1", null), ($"{list}:2", ""))));

        Assert.Equal(
            [$"{list}:1 is null or empty: an entry of the list is an object of settings.", $"{list}:2 is null or empty: an entry of the list is an object of settings."],
            error.Failures);
    }

    [Fact]
    public void An_entry_is_refused_by_its_key_when_the_binder_dropped_one_before_it()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ValidateAll(Settings(
            ("Mesh:Fleet:Backends:1", "b1"),
            ("Mesh:Fleet:Backends:2:Name", "b 2"),
            ("Mesh:Fleet:Backends:2:Address", "http://127.0.0.1:9002/"))));

        Assert.Contains("FleetOptions.Backends[2].Name must match", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_keys_of_one_name_are_refused()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ValidateAll(Settings(
            ("Mesh:Auth:Keys:1:Name", "team-a"),
            ("Mesh:Auth:Keys:1:Sha256", ApiKeyStore.HashOf("sk-b")))));

        Assert.Contains("'team-a' is used by 2 keys", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A valid backend and API key, with <paramref name="changes"/> applied.</summary>
    private static Dictionary<string, string?> Settings(params (string Key, string? Value)[] changes)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Mesh:Fleet:Backends:0:Name"] = "b0",
            ["Mesh:Fleet:Backends:0:Address"] = "http://127.0.0.1:9000/",
            ["Mesh:Auth:Keys:0:Name"] = "team-a",
            ["Mesh:Auth:Keys:0:Sha256"] = ApiKeyStore.HashOf("sk-a"),
        };
        foreach (var (key, value) in changes)
        {
            settings[key] = value;
        }

        return settings;
    }

    private static void ValidateAll(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        using var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddGateway().BuildServiceProvider();
        _ = services.GetRequiredService<IOptions<FleetOptions>>().Value;
        _ = services.GetRequiredService<IOptions<AdmissionOptions>>().Value;
        _ = services.GetRequiredService<IOptions<AuthOptions>>().Value;
    }
}
