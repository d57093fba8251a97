import Foundation
import Metadata
import OutpostTesting
import Testing

@Suite("BI records (format 1.2)")
struct BIRecordsTests {
    static var biRecords: [BIRecord] {
        BIFixture.records().compactMap { if case .bi(let record) = $0 { record } else { nil } }
    }

    @Test("The fixture holds every BI kind")
    func fixtureCoversEveryKind() {
        #expect(Set(Self.biRecords.map(\.kind)) == RecordKind.biKinds)
    }

    @Test("Every BI record round-trips through the line encoder and both decoders")
    func roundTrip() throws {
        for record in BIFixture.records() {
            let line = try JSONLineEncoder().encode(record)
            #expect(line.starts(with: Array("{\"kind\":\"\(record.kind.rawValue)\",".utf8)))
            #expect(try JSONLineDecoder().decode(MetadataRecord.self, from: line) == record)
            #expect(try JSONDecoder().decode(MetadataRecord.self, from: Data(line)) == record)
            #expect(try JSONLineDecoder().decode(RecordLine.self, from: line) == .record(record))
        }
    }

    @Test("The schema's required and allowed fields of each BI kind are exactly what the Swift types encode")
    func schemaMatchesEncoding() throws {
        let schema = try Self.recordSchema()
        let definitions = try #require(schema["$defs"] as? [String: Any])
        for record in Self.biRecords {
            let kind = record.kind.rawValue
            let definition = try #require(definitions[kind] as? [String: Any], "no definition of \(kind)")
            let required = Set(try #require(definition["required"] as? [String]))
            let allowed = Set(try #require(definition["properties"] as? [String: Any]).keys)
            let (properties, optional) = Self.storedProperties(of: record)
            #expect(required == Set(properties).subtracting(optional).union(["kind"]), "\(kind): required fields")
            #expect(allowed == Set(properties).union(["kind"]), "\(kind): allowed fields")
            // What is actually encoded: `kind`, then every non-nil property, nothing else.
            let encoded = try #require(
                try JSONSerialization.jsonObject(with: Data(JSONLineEncoder().encode(MetadataRecord.bi(record))))
                    as? [String: Any])
            #expect(Set(encoded.keys).isSubset(of: allowed), "\(kind): encodes fields the schema does not allow")
            #expect(required.isSubset(of: Set(encoded.keys)), "\(kind): misses required fields")
        }
        let reference = try #require(definitions["tableReference"] as? [String: Any])
        let (properties, optional) = Self.storedProperties(of: BIFixture.ordersTable)
        #expect(Set(try #require(reference["required"] as? [String])) == Set(properties).subtracting(optional))
        #expect(Set(try #require(reference["properties"] as? [String: Any]).keys) == Set(properties))
    }

    @Test("A Tableau extraction passes the JSON Schemas and the consistency checks of validate_extraction.py")
    func extractionValidates() throws {
        let directory = try TemporaryDirectory()
        _ = try BIFixture.extraction(in: directory.path + "/extraction", records: BIFixture.records())
        let result = try Self.validate(directory.path + "/extraction")
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        #expect(result.standardOutput.contains("format 1.2"))
        #expect(result.standardOutput.contains("customSQL 2, dashboard 1, dataSource 3, field 9"))
    }

    @Test(
        "The schemas reject a BI record with a misspelt field, a missing required field or a malformed name",
        arguments: [
            "\"upstreamTables\":[]", "\"fields\":[", "~workbook/", "\"published\":true",
        ])
    func schemaRejectsBrokenRecords(_ damage: String) throws {
        let directory = try TemporaryDirectory()
        let folder = directory.path + "/extraction"
        // The first line that holds `damage` is edited into an invalid record; the others stay valid.
        let lines = try BIFixture.records().map { String(decoding: try JSONLineEncoder().encode($0), as: UTF8.self) }
        let index = try #require(lines.firstIndex { $0.contains(damage) })
        let broken: String
        switch damage {
        case "\"upstreamTables\":[]":  // a misspelt field, and so a missing required one
            broken = lines[index].replacingOccurrences(of: damage, with: "\"upstreamTable\":[]")
        case "\"fields\":[":
            broken = lines[index].replacingOccurrences(of: "\"fields\":", with: "\"field\":")
        case "~workbook/":  // a marker that does not exist
            broken = lines[index].replacingOccurrences(of: "~workbook/", with: "~workbooks/")
        default:  // a required field left out
            broken = lines[index].replacingOccurrences(of: damage + ",", with: "")
        }
        #expect(broken != lines[index])
        try Self.writeRawExtraction(
            in: folder, lines: lines.enumerated().map { $0.offset == index ? broken : $0.element },
            formatVersion: MetadataFormat.version)
        let result = try Self.validate(folder)
        #expect(result.status == 1, "\(result.standardOutput)")
        #expect(result.standardOutput.contains("records-00001.jsonl.gz:\(index + 1)"), "\(result.standardOutput)")
    }

    @Test("Excluded field groups remove comments, owners and definitions (formulas, custom SQL) from BI records")
    func fieldGroupsAreRemoved() throws {
        let records = Self.biRecords
        let stripped = records.map { $0.removing([.comments, .owners, .definitions]) }
        for record in stripped {
            let json = String(decoding: try JSONLineEncoder().encode(MetadataRecord.bi(record)), as: UTF8.self)
            for key in ["\"comment\":", "\"owner\":", "\"certifier\":", "\"formula\":", "\"query\":"] {
                #expect(!json.contains(key), "\(record.kind) keeps \(key)")
            }
        }
        // The fixture has a value in every field that goes, so the removal is real.
        let original = try records.map {
            String(decoding: try JSONLineEncoder().encode(MetadataRecord.bi($0)), as: UTF8.self)
        }
        for key in ["\"comment\":", "\"owner\":", "\"certifier\":", "\"formula\":", "\"query\":"] {
            #expect(original.contains { $0.contains(key) }, "the fixture has no \(key)")
        }
        // Other groups touch nothing a BI record has; everything else survives.
        #expect(records.map { $0.removing([.statistics, .defaults]) } == records)
        let kept = try #require(
            stripped.first { $0.qualifiedName == BIFixture.profit }.flatMap { record -> Field? in
                if case .field(let field) = record { field } else { nil }
            })
        #expect(kept.upstreamFields == [BIFixture.amount])
        #expect(kept.dataType == "REAL")
        #expect(
            records.map { $0.removing([.comments]) }.contains { record in
                if case .field(let field) = record { field.formula != nil } else { false }
            })
    }

    @Test("Readers skip kinds they do not know in a later minor version, and refuse them in their own")
    func unknownKindsAreSkippedOnlyFromLaterVersions() throws {
        let directory = try TemporaryDirectory()
        let folder = directory.path + "/extraction"
        let known = try BIFixture.records().prefix(3).map {
            String(decoding: try JSONLineEncoder().encode($0), as: UTF8.self)
        }
        let name = BIFixture.site.description.replacingOccurrences(of: "\"", with: "\\\"") + "/~report/r"
        let unknown = "{\"kind\":\"report\",\"qualifiedName\":\"\(name)\",\"name\":\"r\"}"
        let lines = [known[0], unknown, known[1], known[2]]

        try Self.writeRawExtraction(in: folder, lines: lines, formatVersion: "1.99")
        let extraction = ExtractionFolder(path: folder)
        var read: [MetadataRecord] = []
        let skipped = try extraction.forEachRecord(in: try extraction.readManifest()) { read.append($0) }
        #expect(skipped == 1)
        #expect(read == Array(BIFixture.records().prefix(3)))
        let later = try Self.validate(folder)
        #expect(later.status == 0, "\(later.standardOutput)")
        #expect(later.standardOutput.contains("skipped records of kinds they do not know: report 1"))

        try Self.writeRawExtraction(in: folder, lines: lines, formatVersion: MetadataFormat.version)
        #expect(throws: MetadataError.self) {
            try extraction.forEachRecord(in: try extraction.readManifest()) { _ in }
        }
        let same = try Self.validate(folder)
        #expect(same.status == 1, "\(same.standardOutput)")
        #expect(same.standardOutput.contains("records-00001.jsonl.gz:2"), "\(same.standardOutput)")
    }

    @Test("Extractions written as 1.0 and 1.1 stay readable and valid", arguments: ["1.0", "1.1"])
    func earlierVersionsStayReadable(_ version: String) throws {
        let directory = try TemporaryDirectory()
        var manifest = try ChunkedRecordWriterTests.writeExtraction(
            in: directory.path, count: 50, chunkBytes: 64 * 1024)
        manifest.formatVersion = version
        let folder = ExtractionFolder(path: directory.path)
        try folder.writeManifest(manifest)
        var columns = 0
        let skipped = try folder.forEachRecord(in: try folder.readManifest()) { record in
            if case .column = record { columns += 1 }
        }
        #expect(columns == 50)
        #expect(skipped == 0)
        let result = try Self.validate(directory.path)
        #expect(result.status == 0, "\(result.standardOutput)")
        #expect(result.standardOutput.contains("format \(version)"))
    }

    @Test(
        "Later minor versions are told apart from this one and from other majors",
        arguments: [("1.99", true), ("1.3", true), ("1.2", false), ("1.1", false), ("1.0", false), ("2.5", false)])
    func laterMinorVersions(_ version: String, _ later: Bool) {
        #expect(MetadataFormat.version == "1.2")
        #expect(MetadataFormat.isLaterMinorVersion(version) == later)
    }

    // MARK: Helpers

    static func recordSchema() throws -> [String: Any] {
        let path = BuildProducts.repositoryRoot + "/schemas/metadata-record.schema.json"
        return try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    /// The stored property names of a value, and which of them are optional.
    static func storedProperties(of value: Any) -> (all: [String], optional: Set<String>) {
        var all: [String] = []
        var optional: Set<String> = []
        let mirror = Mirror(reflecting: value)
        let payload = mirror.displayStyle == .enum ? mirror.children.first.map { $0.value } ?? value : value
        for child in Mirror(reflecting: payload).children {
            guard let label = child.label else { continue }
            all.append(label)
            if Mirror(reflecting: child.value).displayStyle == .optional { optional.insert(label) }
        }
        return (all, optional)
    }

    static func validate(_ folder: String) throws -> ProcessResult {
        let root = BuildProducts.repositoryRoot
        return try ChildProcess.run(
            "/usr/bin/env", ["python3", root + "/Tests/tools/validate_extraction.py", root + "/schemas", folder])
    }

    /// Writes `lines` as one gzip chunk with a manifest, bypassing the record types (so a line can be anything).
    static func writeRawExtraction(in folder: String, lines: [String], formatVersion: String) throws {
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let text = lines.map { $0 + "\n" }.joined()
        let plain = folder + "/records-00001.jsonl"
        try text.write(toFile: plain, atomically: true, encoding: .utf8)
        let gzip = try ChildProcess.run("/usr/bin/env", ["gzip", "-n", plain])
        #expect(gzip.status == 0)
        let chunk = plain + ".gz"
        let sha = try ChildProcess.run("/usr/bin/env", ["sha256sum", chunk])
        let bytes = try FileManager.default.attributesOfItem(atPath: chunk)[.size] as? Int ?? 0
        var counts: [String: Int] = [:]
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            counts[object?["kind"] as? String ?? "", default: 0] += 1
        }
        var manifest = Manifest(
            extractionId: "3f2c9a6e-8d41-4b7a-9c15-0e6f1d2b7a44", connection: BIFixture.connection,
            source: .init(kind: "tableau"), connector: .init(name: "outpost-tableau", version: "0"),
            startedAt: "2026-01-01T00:00:00.000Z", finishedAt: "2026-01-01T00:00:01.000Z", filters: .init(),
            files: [
                .init(
                    path: "records-00001.jsonl.gz", sha256: String(sha.standardOutput.prefix(64)), bytes: Int64(bytes),
                    uncompressedBytes: Int64(text.utf8.count), records: lines.count)
            ],
            counts: counts, completeness: BIFixture.completeness)
        manifest.formatVersion = formatVersion
        try ExtractionFolder(path: folder).writeManifest(manifest)
    }
}
