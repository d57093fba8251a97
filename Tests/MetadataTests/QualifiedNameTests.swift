import Metadata
import Testing

@Suite("Qualified names")
struct QualifiedNameTests {
    static let trickyParts: [String] = [
        "plain", "Mixed Case", "with space", "a/b", "a.b", "100%", "~tilde", "it's \"quoted\"", "ünïcödé_表", "схема",
        "select", "", "tab\there", "new\nline", String(repeating: "x", count: 63), String(repeating: "ü", count: 31),
        "%2F", "~constraint", "/", "%",
    ]

    @Test("any identifier round-trips through the escaped form", arguments: trickyParts)
    func roundTrip(_ part: String) throws {
        let name = QualifiedName(["conn", "db", part, "t"])
        let rendered = name.description
        #expect(try QualifiedName(parsing: rendered) == name)
        #expect(rendered.split(separator: "/", omittingEmptySubsequences: false).count == 4)
        #expect(!rendered.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
    }

    @Test("quotes, spaces, dots and unicode are written literally; %, / and ~ are escaped")
    func escaping() {
        #expect(
            QualifiedName(["c", "a/b.c \"x\"", "100%", "~t", "ü表"]).description == "c/a%2Fb.c \"x\"/100%25/%7Et/ü表")
    }

    @Test("markers cannot collide with identifiers spelled like them")
    func markers() throws {
        let table = QualifiedName(["c", "db", "s", "t"])
        let index = table.appending(marker: .index, "i")
        let column = table.appending("~index").appending("i")
        #expect(index != column)
        #expect(index.description == "c/db/s/t/~index/i")
        #expect(column.description == "c/db/s/t/%7Eindex/i")
        #expect(try QualifiedName(parsing: index.description) == index)
        #expect(try QualifiedName(parsing: column.description) == column)
    }

    @Test("parsing gives the parts and canonical form of the general rule, for plain and escaped texts alike")
    func parsingIsCanonical() throws {
        let alphabet: [String] = [
            "a", "Z", "/", "~", "%", "%7E", "%7e", "%2F", "~index", "~lineage", "ü", "\t", " ", ".",
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let text = (0..<Int.random(in: 0...8, using: &generator)).map { _ in
                alphabet.randomElement(using: &generator) ?? ""
            }.joined()
            guard let parsed = try? QualifiedName(parsing: text) else { continue }
            // The canonical form: marker parts verbatim, every other part escaped.
            let canonical = parsed.parts.map { part in
                QualifiedName.Marker(rawValue: part) != nil ? part : QualifiedName([part]).description
            }.joined(separator: "/")
            #expect(parsed.description == canonical, "\(text)")
            #expect(parsed.parts.count == text.split(separator: "/", omittingEmptySubsequences: false).count, "\(text)")
            let reparsed = try QualifiedName(parsing: parsed.description)
            #expect(reparsed.parts == parsed.parts && reparsed.description == parsed.description, "\(text)")
        }
        let plain = try QualifiedName(parsing: "c/db/s/t/~index/i")
        #expect(plain.parts == ["c", "db", "s", "t", "~index", "i"])
        #expect(plain.description == "c/db/s/t/~index/i")
        // A `~` outside a marker part, or a lower-case escape, is rewritten into the canonical form.
        let tilde = try QualifiedName(parsing: "c/db/~s/t")
        #expect(tilde.parts == ["c", "db", "~s", "t"])
        #expect(tilde.description == "c/db/%7Es/t")
        let lower = try QualifiedName(parsing: "c/db/a%2fb")
        #expect(lower.parts == ["c", "db", "a/b"])
        #expect(lower.description == "c/db/a%2Fb")
        #expect(try QualifiedName(parsing: "").parts == [""])
    }

    @Test("malformed escapes are rejected", arguments: ["a/%2", "a/%zz", "%C3%28"])
    func malformed(_ text: String) {
        #expect(throws: MetadataError.self) { try QualifiedName(parsing: text) }
    }
}
