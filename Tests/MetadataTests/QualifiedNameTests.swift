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

    @Test("malformed escapes are rejected", arguments: ["a/%2", "a/%zz", "%C3%28"])
    func malformed(_ text: String) {
        #expect(throws: MetadataError.self) { try QualifiedName(parsing: text) }
    }
}
