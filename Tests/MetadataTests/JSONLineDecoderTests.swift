import Foundation
import Metadata
import Testing

@Suite("JSON Lines decoder")
struct JSONLineDecoderTests {
    static var sampleLines: [[UInt8]] {
        get throws { try JSONLineEncoderTests.samples.map { try JSONLineEncoder().encode($0) } }
    }

    @Test("records decode to what Foundation's decoder reads", arguments: JSONLineEncoderTests.samples)
    func matchesFoundation(_ record: MetadataRecord) throws {
        let line = try JSONLineEncoder().encode(record)
        #expect(try JSONLineDecoder().decode(MetadataRecord.self, from: line) == record)
        // Whitespace anywhere JSON allows it, escapes where none were needed, members in another order.
        let reordered = """
             { "database" : "c\\/db" , "qualifiedName":"c\\u002Fdb/s" ,"name": "\\u0073",\r\n\t"kind" :"schema" }\t
            """
        let expected = try JSONDecoder().decode(MetadataRecord.self, from: Data(reordered.utf8))
        #expect(try JSONLineDecoder().decode(MetadataRecord.self, from: Array(reordered.utf8)) == expected)
    }

    @Test("escapes, surrogate pairs and non-ASCII text")
    func strings() throws {
        let line = Array(#"["a\"b\\c\/d\b\f\n\r\t", "\u00FC\u8868", "\uD83D\uDE00", "ü表😀", ""]"#.utf8)
        let decoded = try JSONLineDecoder().decode([String].self, from: line)
        #expect(decoded == ["a\"b\\c/d\u{8}\u{c}\n\r\t", "ü表", "😀", "ü表😀", ""])
        #expect(decoded == (try JSONDecoder().decode([String].self, from: Data(line))))
    }

    @Test("numbers, booleans, null and nesting")
    func scalars() throws {
        struct Sample: Decodable, Equatable {
            var big: Int64
            var small: Int
            var negative: Int64
            var flag: Bool
            var missing: String?
            var null: String?
            var nested: [[Int]]
            var ratio: Double
        }
        let line = Array(
            #"{"big":9223372036854775807,"small":0,"negative":-9223372036854775808,"flag":false,"null":null,"nested":[[],[1,2],[3]],"ratio":-1.5e2}"#
                .utf8)
        let decoded = try JSONLineDecoder().decode(Sample.self, from: line)
        #expect(
            decoded
                == Sample(
                    big: .max, small: 0, negative: .min, flag: false, missing: nil, null: nil,
                    nested: [[], [1, 2], [3]],
                    ratio: -150))
    }

    @Test(
        "text that is not JSON is refused with where it went wrong",
        arguments: [
            "", " ", "{", "{\"a\":1", "{\"a\" 1}", "{\"a\":1,}", "{,}", "[1,]", "[1 2]", "{\"a\":1}}", "{\"a\":1} x",
            "{'a':1}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":-}", "{\"a\":1e}",
            "{\"a\":.5}",
            "{\"a\":+1}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12G4\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"tab\there\"}",
            "{\"a\":\"unterminated}", "[\"\\uD800x\"]", "[\"\\uDC00\"]", "[\"\\uD800\\u0041\"]", "{a:1}", "[NaN]",
            "[Infinity]",
        ])
    func malformed(_ text: String) {
        #expect {
            try JSONLineDecoder().decode([String: Int].self, from: Array(text.utf8))
        } throws: { error in
            guard case DecodingError.dataCorrupted(let context) = error else { return false }
            return context.debugDescription.hasPrefix("not valid JSON at byte")
        }
    }

    @Test("invalid UTF-8, repeated keys and deep nesting are refused")
    func strict() {
        #expect(throws: DecodingError.self) {
            try JSONLineDecoder().decode([String].self, from: [UInt8(ascii: "[")] + [0x22, 0xC3, 0x28, 0x22, 0x5D])
        }
        #expect(throws: DecodingError.self) {
            try JSONLineDecoder().decode(
                MetadataRecord.self,
                from: Array(#"{"kind":"schema","kind":"database","qualifiedName":"c/db","name":"db"}"#.utf8))
        }
        let depth = JSONLineDecoder.maximumDepth + 1
        let deep = Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8)
        #expect(throws: DecodingError.self) { try JSONLineDecoder().decode([String].self, from: deep) }
        let fine = Array(String(repeating: "[", count: 3).utf8) + Array(String(repeating: "]", count: 3).utf8)
        #expect(throws: Never.self) { try JSONLineDecoder().decode([[[String]]].self, from: fine) }
    }

    @Test("wrong types, nulls and missing fields fail like Foundation's decoder")
    func typeErrors() throws {
        let cases = [
            #"{"kind":"database","qualifiedName":"c/db"}"#,  // no name
            #"{"kind":"database","qualifiedName":"c/db","name":null}"#,
            #"{"kind":"database","qualifiedName":"c/db","name":7}"#,
            #"{"kind":"database","qualifiedName":"c/db","name":"db","sizeBytes":"7"}"#,
            #"{"kind":"database","qualifiedName":"c/db","name":"db","sizeBytes":1.5}"#,
            #"{"kind":"database","qualifiedName":"c/db","name":"db","sizeBytes":9223372036854775808}"#,
            #"{"kind":"nothing","qualifiedName":"c/db","name":"db"}"#,
            #"{"kind":"database","qualifiedName":"c/%zz","name":"db"}"#,
            #"["kind"]"#,
        ]
        for text in cases {
            #expect(throws: (any Error).self, "\(text)") {
                try JSONLineDecoder().decode(MetadataRecord.self, from: Array(text.utf8))
            }
            #expect(throws: (any Error).self, "\(text)") {
                try JSONDecoder().decode(MetadataRecord.self, from: Data(text.utf8))
            }
        }
        #expect {
            try JSONLineDecoder().decode(MetadataRecord.self, from: Array(cases[0].utf8))
        } throws: { error in
            guard case DecodingError.keyNotFound(let key, _) = error else { return false }
            return key.stringValue == "name"
        }
    }

    /// Mutated record lines: whatever this decoder accepts, Foundation's decoder accepts as the same record.
    @Test("differential: every mutated line it accepts reads as Foundation reads it")
    func differential() throws {
        var generator = SystemRandomNumberGenerator()
        let pieces = Array(#"{}[],:"\ 0-1.e"#.utf8) + [0x00, 0x7F, 0xC3, 0xBC, UInt8(ascii: "n"), UInt8(ascii: "t")]
        var accepted = 0
        for line in try Self.sampleLines {
            for _ in 0..<400 {
                var mutated = line
                for _ in 0..<Int.random(in: 1...3, using: &generator) {
                    let position = Int.random(in: 0..<mutated.count, using: &generator)
                    switch Int.random(in: 0..<3, using: &generator) {
                    case 0: mutated.remove(at: position)
                    case 1: mutated.insert(pieces.randomElement(using: &generator) ?? 0, at: position)
                    default: mutated[position] = pieces.randomElement(using: &generator) ?? 0
                    }
                    if mutated.isEmpty { mutated = line }
                }
                guard let ours = try? JSONLineDecoder().decode(MetadataRecord.self, from: mutated) else { continue }
                accepted += 1
                let theirs = try? JSONDecoder().decode(MetadataRecord.self, from: Data(mutated))
                #expect(theirs == ours, "\(String(decoding: mutated, as: UTF8.self))")
            }
        }
        #expect(accepted > 0)
    }
}
