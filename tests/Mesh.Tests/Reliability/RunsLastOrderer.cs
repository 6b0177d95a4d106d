using Xunit.Abstractions;
using Xunit.Sdk;

namespace Mesh.Tests.Reliability;

/// <summary>Marks a test that must run after every other test of its class.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RunsLastAttribute : Attribute;

/// <summary>Keeps discovery order, but moves tests marked <see cref="RunsLastAttribute"/> to the end.</summary>
public sealed class RunsLastOrderer : ITestCaseOrderer
{
    public const string TypeName = "Mesh.Tests.Reliability.RunsLastOrderer";
    public const string AssemblyName = "Mesh.Tests";

    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases)
        where TTestCase : ITestCase =>
        testCases.OrderBy(c => c.TestMethod.Method.GetCustomAttributes(typeof(RunsLastAttribute).AssemblyQualifiedName).Any());
}
