import Connectors
import Metadata
import Testing

@Suite("Name patterns and filters")
struct NamePatternTests {
    @Test(
        "globs match whole names, case-sensitively",
        arguments: [
            ("sales_*", "sales_2024", true), ("sales_*", "Sales_2024", false), ("tmp_?", "tmp_1", true),
            ("tmp_?", "tmp_12", false), ("[ab]*", "beta", true), ("[!ab]*", "beta", false), ("*", "", true),
            ("a*b*c", "aXXbYYc", true), ("a*b*c", "aXXbYY", false), ("ü*", "ünïcode", true),
            ("with space", "with space", true), ("a\\*", "a*", true), ("a\\*", "ab", false),
        ])
    func globs(_ pattern: String, _ name: String, _ expected: Bool) throws {
        #expect(try NamePattern(pattern).matches(name) == expected)
    }

    @Test("regular expressions search unless anchored")
    func regex() throws {
        #expect(try NamePattern("re:tmp").matches("my_tmp_table"))
        #expect(try NamePattern("re:^tmp_\\d+$").matches("tmp_42"))
        #expect(!(try NamePattern("re:^tmp_\\d+$").matches("tmp_42x")))
        #expect(try NamePattern("re:(?i)^sales").matches("SALES_EU"))
    }

    @Test("invalid patterns are refused with the pattern in the message", arguments: ["re:(unclosed", "tmp_[abc"])
    func invalid(_ pattern: String) {
        #expect(throws: MetadataError.self) { try NamePattern(pattern) }
    }

    @Test("includes narrow and excludes win")
    func filters() throws {
        var filters = ExtractionFilters()
        filters.includeSchemas = [try NamePattern("sales*"), try NamePattern("hr")]
        filters.excludeSchemas = [try NamePattern("*_archive")]
        #expect(filters.admitsSchema("sales"))
        #expect(filters.admitsSchema("hr"))
        #expect(!filters.admitsSchema("sales_archive"))
        #expect(!filters.admitsSchema("finance"))
        #expect(filters.admitsTable("anything"))
    }
}
