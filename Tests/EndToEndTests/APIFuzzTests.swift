import Foundation
import OutpostTesting
import Testing

/// Property-based fuzzing of the control plane's HTTP API against the OpenAPI document it serves, by
/// `Tests/tools/fuzz-api.sh` (schemathesis against the real `outpost server`): no 5xx, every answer documented.
@Suite("End to end: API fuzzing")
struct APIFuzzTests {
    @Test func theServedOpenAPIDocumentHoldsUnderSchemathesisFuzzingWithAdminAndAgentKeys() throws {
        let script = BuildProducts.repositoryRoot + "/Tests/tools/fuzz-api.sh"
        let result = try ChildProcess.run("/bin/bash", [script, BuildProducts.outpost])
        #expect(result.status == 0, "\(result.standardOutput)\n\(result.standardError)")
        // Each of the three runs (admin API, agent API, unauthenticated endpoints) tested operations and passed.
        #expect(
            result.standardOutput.components(separatedBy: "No issues found").count == 4,
            "\(result.standardOutput)")
        let counts = result.standardOutput.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.contains(" generated, ") }
        #expect(counts.count == 3 && counts.allSatisfy { !$0.hasPrefix("0 ") }, "\(counts)")
    }
}
