import Foundation
import Metadata
import Testing

@Suite("JSON Lines encoder")
struct JSONLineEncoderTests {
    static let samples: [MetadataRecord] = {
        let database = QualifiedName(["c", "db"])
        let schema = database.appending("s")
        let table = schema.appending("t \"q\"\n")
        var relation = Relation(
            kind: .view, qualifiedName: table, name: "t \"q\"\n", database: database, schema: schema)
        relation.definition = "SELECT 1 -- ü\u{1}\t\\"
        relation.rowEstimate = 42
        var column = Column(
            qualifiedName: table.appending("c"), name: "c", database: database, schema: schema, table: table,
            ordinal: 1, nativeType: "integer", typeFamily: .enumeration, nullable: false)
        column.comment = "\"\\/"
        var index = Index(
            qualifiedName: table.appending(marker: .index, "i"), name: "i", database: database, schema: schema,
            table: table, keys: [Index.Key(column: "c", descending: true), Index.Key(expression: "lower(c)")],
            unique: true)
        index.includedColumns = ["x"]
        return [
            .database(Database(qualifiedName: database, name: "db", sizeBytes: Int64.max)),
            .relation(relation), .column(column), .index(index),
            .lineageEdge(
                LineageEdge(
                    downstream: table, downstreamKind: .view, upstream: schema.appending("u/v"), upstreamSchema: schema,
                    upstreamKind: .table,
                    name: "u/v", database: database, schema: schema, upstreamColumns: [])),
        ]
    }()

    @Test("records decode back to themselves with Foundation's decoder", arguments: samples)
    func roundTrip(_ record: MetadataRecord) throws {
        let bytes = try JSONLineEncoder().encode(record)
        #expect(!bytes.contains(UInt8(ascii: "\n")))
        let decoded = try JSONDecoder().decode(MetadataRecord.self, from: Data(bytes))
        #expect(decoded == record)
    }

    @Test("output is valid JSON, kind first, nil fields omitted")
    func shape() throws {
        let bytes = try JSONLineEncoder().encode(Self.samples[1])
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("{\"kind\":\"view\",\"qualifiedName\":"))
        #expect(!text.contains("null"))
        #expect(text.contains("\\u0001"))
        let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        #expect(object?["rowEstimate"] as? Int == 42)
    }

    @Test("non-finite numbers are refused")
    func nonFinite() {
        #expect(throws: EncodingError.self) { try JSONLineEncoder().encode([Double.nan]) }
    }
}
