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
        #expect(!result.standardOutput.contains("0 generated"), "\(result.standardOutput)")
    }
}
