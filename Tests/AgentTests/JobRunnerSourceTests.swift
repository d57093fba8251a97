import Connectors
import Foundation
import Logging
import Metadata
import OutpostTesting
import Testing

@testable import Agent

@Suite("Job runner sources")
struct JobRunnerSourceTests {
    @Test("a job's SQLite source is refused by the path of the file it opened, even when its name was allowed")
    func openedFileOutsideThePolicy() async throws {
        let directory = try TemporaryDirectory()
        let allowed = directory.path + "/allowed"
        let outside = directory.path + "/outside"
        try FileManager.default.createDirectory(atPath: allowed, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: outside + "/secret.db", contents: Data())
        try FileManager.default.createSymbolicLink(
            atPath: allowed + "/link.db", withDestinationPath: outside + "/secret.db")
        let policy = try EgressPolicy(allowedHosts: [], allowedSources: ["sqlite:\(allowed)/*.db"])
        let connector = JobRunner.checkingOpenedFile(SQLiteConnector(path: allowed + "/link.db"), policy: policy)
        let error = await #expect(throws: JobRunner.LocalPolicyDenied.self) {
            _ = try await connector.extract(
                scope: ExtractionScope(connection: "local"), into: DiscardingSink(),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        }
        #expect(error?.reason.contains("\(outside)/secret.db") == true)
        #expect(error?.reason.contains("local policy") == true)
    }
}

/// A sink for extractions expected to end before their first record.
private final class DiscardingSink: RecordSink {
    func write(_ record: MetadataRecord) throws {}
}
