import Foundation
import Metadata
import OutpostTesting
import Testing

/// The README's first command: the bundled sample extracts completely and matches its SQL source.
@Suite("Bundled sample database")
struct SampleDatabaseTests {
    static let root = BuildProducts.repositoryRoot

    static func records(of folder: String) throws -> [String: MetadataRecord] {
        let extraction = ExtractionFolder(path: folder)
        var records: [String: MetadataRecord] = [:]
        try extraction.forEachRecord(in: try extraction.readManifest()) { record in
            if case .database = record { return }
            records["\(record.kind.rawValue) \(record.qualifiedName)"] = record
        }
        return records
    }

    @Test("the README's extract of Samples/shop.db succeeds and writes schema-valid files")
    func readmeCommand() throws {
        let directory = try TemporaryDirectory()
        let output = directory.path + "/shop-metadata"
        let result = try ChildProcess.run(
            BuildProducts.outpost, ["extract", "--source", "sqlite:Samples/shop.db", "--output", output],
            currentDirectory: Self.root)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("status: complete"))
        let validation = try OutpostCLI.validate(extraction: output)
        #expect(validation.status == 0, "\(validation.standardOutput)\(validation.standardError)")
        let records = try Self.records(of: output)
        #expect(records["table shop/shop/main/customers"] != nil)

        // Running it again is refused with the way out named; --overwrite replaces the extraction.
        let again = try ChildProcess.run(
            BuildProducts.outpost, ["extract", "--source", "sqlite:Samples/shop.db", "--output", output],
            currentDirectory: Self.root)
        #expect(again.status == 1)
        #expect(again.standardError.contains("--overwrite"))
        let replaced = try ChildProcess.run(
            BuildProducts.outpost,
            ["extract", "--source", "sqlite:Samples/shop.db", "--output", output, "--overwrite"],
            currentDirectory: Self.root)
        #expect(replaced.status == 0, "\(replaced.standardError)")
        #expect(try OutpostCLI.validate(extraction: output).status == 0)
        #expect(records.keys.contains { $0.hasPrefix("lineageEdge ") })
    }

    @Test("Samples/shop.db holds exactly the schema Samples/shop.sql builds")
    func databaseMatchesSQL() throws {
        let directory = try TemporaryDirectory()
        let rebuilt = directory.path + "/shop.db"
        let build = try ChildProcess.run(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(open(sys.argv[2]).read()); c.commit()",
                rebuilt, Self.root + "/Samples/shop.sql",
            ])
        #expect(build.status == 0, "\(build.standardError)")
        for (source, output) in [(Self.root + "/Samples/shop.db", "/committed"), (rebuilt, "/rebuilt")] {
            let result = try OutpostCLI.run([
                "extract", "--source", "sqlite:" + source, "--output", directory.path + output,
                "--connection-name", "shop",
            ])
            #expect(result.status == 0, "\(result.standardError)")
        }
        let committed = try Self.records(of: directory.path + "/committed")
        let fresh = try Self.records(of: directory.path + "/rebuilt")
        #expect(committed.keys.sorted() == fresh.keys.sorted())
        for (key, record) in committed where fresh[key] != record {
            Issue.record("\(key) differs: rebuild Samples/shop.db from Samples/shop.sql (see Samples/README.md)")
        }
    }
}
