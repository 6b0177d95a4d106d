using Google.Protobuf.Collections;

namespace Mesh.Backend.Quantizer;

/// <summary>Edits of a graph's protobuf lists (nodes, initializers, inputs, value infos) that rewrites share.</summary>
internal static class RepeatedFields
{
    /// <summary>Removes every element <paramref name="remove"/> matches, keeping the others in order.</summary>
    public static void RemoveWhere<T>(this RepeatedField<T> field, Func<T, bool> remove)
    {
        var kept = field.Where(x => !remove(x)).ToArray();
        if (kept.Length != field.Count)
        {
            field.Clear();
            field.AddRange(kept);
        }
    }
}
