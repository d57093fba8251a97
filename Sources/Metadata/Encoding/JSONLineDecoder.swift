/// Decodes one JSON value — a metadata record line — into a `Decodable` type: the reading half of
/// `JSONLineEncoder`, used where every line of a large delivery is validated.
///
/// The line is first checked against the JSON grammar (RFC 8259) in one pass that records every value in a flat
/// list; containers then look keys up in that list instead of building a dictionary per object, which is what
/// makes Foundation's `JSONDecoder` spend most of an ingestion decoding. Stricter than JSON requires in two
/// ways a record never needs: an object may not repeat a key (so a record cannot say two different things about
/// one field), and values nest at most `maximumDepth` deep. Errors are `DecodingError`s, like `JSONDecoder`'s:
/// `.dataCorrupted` for text that is not JSON, with the byte offset, and the usual type, key and value errors
/// with their coding path.
public struct JSONLineDecoder: Sendable {
    /// The deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 128

    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from line: [UInt8]) throws -> T {
        var parser = JSONTapeParser(bytes: line)
        let nodes = try parser.parse()
        let decoder = JSONTapeDecoder(tape: JSONTape(bytes: line, nodes: nodes), index: 0, codingPath: [])
        return try T(from: decoder)
    }
}

// MARK: Tape

/// One JSON value of a line: scalars keep their byte range, containers the index just past their last descendant.
struct JSONTapeNode {
    enum Kind: UInt8 {
        case object, array, string, number, `true`, `false`, null
    }

    var kind: Kind
    /// Strings: the first byte after the opening quote. Numbers: the first byte.
    var start: Int
    /// Strings: the closing quote. Numbers: one past the last byte. Containers: the index of the node after the
    /// container's last descendant (its next sibling).
    var end: Int
    /// Containers: the number of elements (objects: of members). Strings: 1 when the text holds an escape.
    var count: Int
}

/// The parsed line: its bytes and the flat list of its values in document order (an object's members as key
/// string, then value).
final class JSONTape {
    let bytes: [UInt8]
    let nodes: [JSONTapeNode]

    init(bytes: [UInt8], nodes: [JSONTapeNode]) {
        self.bytes = bytes
        self.nodes = nodes
    }

    /// The index of the value after the one at `index` (skipping its descendants).
    func next(after index: Int) -> Int {
        let node = nodes[index]
        return node.kind == .object || node.kind == .array ? node.end : index + 1
    }

    /// The text of the string at `index`, escapes resolved (the parser has checked them and the UTF-8).
    func string(at index: Int) -> String {
        let node = nodes[index]
        if node.count == 0 {
            return String(decoding: bytes[node.start..<node.end], as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(node.end - node.start)
        var position = node.start
        while position < node.end {
            let byte = bytes[position]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                position += 1
                continue
            }
            let escape = bytes[position + 1]
            position += 2
            switch escape {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                // The parser has checked that a high surrogate comes with its low one, and that none is alone.
                var scalar = hex4(at: position)
                position += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (hex4(at: position + 2) - 0xDC00)
                    position += 6
                }
                let value = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(value)).utf8))
            default: out.append(escape)  // `"`, `\` and `/` stand for themselves.
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether the string at `index` is exactly `text` (a coding key), without building a `String` for it.
    func string(at index: Int, equals text: String) -> Bool {
        let node = nodes[index]
        if node.count == 0 {
            return text.utf8.count == node.end - node.start && text.utf8.elementsEqual(bytes[node.start..<node.end])
        }
        return string(at: index) == text
    }

    /// A cheap summary of a string's UTF-8 (length, first and last byte): equal texts have equal signatures.
    static func signature(_ utf8: some BidirectionalCollection<UInt8>) -> Int {
        guard let first = utf8.first, let last = utf8.last else { return 0 }
        return utf8.count << 16 | Int(first) << 8 | Int(last)
    }

    /// The signature of the string at `index`'s text.
    func signature(at index: Int) -> Int {
        let node = nodes[index]
        return node.count == 0 ? Self.signature(bytes[node.start..<node.end]) : Self.signature(string(at: index).utf8)
    }

    /// Whether the strings at `first` and `second` have the same text.
    func sameString(_ first: Int, _ second: Int) -> Bool {
        let (one, other) = (nodes[first], nodes[second])
        if one.count == 0, other.count == 0 {
            return bytes[one.start..<one.end] == bytes[other.start..<other.end]
        }
        return string(at: first) == string(at: second)
    }

    private func hex4(at position: Int) -> UInt32 {
        var value: UInt32 = 0
        for byte in bytes[position..<position + 4] {
            value = value << 4 | UInt32(Hex.value(ofDigit: byte) ?? 0)
        }
        return value
    }
}

/// Checks a line against the JSON grammar and records its values.
struct JSONTapeParser {
    let bytes: [UInt8]
    var position = 0
    var nodes: [JSONTapeNode] = []

    init(bytes: [UInt8]) {
        self.bytes = bytes
        nodes.reserveCapacity(64)
    }

    mutating func parse() throws -> [JSONTapeNode] {
        skipWhitespace()
        try parseValue(depth: 0)
        skipWhitespace()
        guard position == bytes.count else { throw corrupt("unexpected text after the JSON value") }
        return nodes
    }

    private mutating func parseValue(depth: Int) throws {
        guard position < bytes.count else { throw corrupt("the line ends where a value should be") }
        switch bytes[position] {
        case UInt8(ascii: "{"): try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): try parseString()
        case UInt8(ascii: "t"): try parseLiteral("true", .true)
        case UInt8(ascii: "f"): try parseLiteral("false", .false)
        case UInt8(ascii: "n"): try parseLiteral("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try parseNumber()
        default: throw corrupt("unexpected character where a value should be")
        }
    }

    private mutating func parseObject(depth: Int) throws {
        guard depth <= JSONLineDecoder.maximumDepth else { throw corrupt("values nest too deeply") }
        let index = nodes.count
        nodes.append(JSONTapeNode(kind: .object, start: position, end: 0, count: 0))
        position += 1
        skipWhitespace()
        var members = 0
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
        } else {
            while true {
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                    throw corrupt("expected a member name in quotes")
                }
                try parseString()
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                    throw corrupt("expected ':' after a member name")
                }
                position += 1
                skipWhitespace()
                try parseValue(depth: depth)
                members += 1
                skipWhitespace()
                guard position < bytes.count else { throw corrupt("the line ends inside an object") }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    skipWhitespace()
                } else if bytes[position] == UInt8(ascii: "}") {
                    position += 1
                    break
                } else {
                    throw corrupt("expected ',' or '}' in an object")
                }
            }
        }
        nodes[index].end = nodes.count
        nodes[index].count = members
    }

    private mutating func parseArray(depth: Int) throws {
        guard depth <= JSONLineDecoder.maximumDepth else { throw corrupt("values nest too deeply") }
        let index = nodes.count
        nodes.append(JSONTapeNode(kind: .array, start: position, end: 0, count: 0))
        position += 1
        skipWhitespace()
        var elements = 0
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
        } else {
            while true {
                try parseValue(depth: depth)
                elements += 1
                skipWhitespace()
                guard position < bytes.count else { throw corrupt("the line ends inside an array") }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    skipWhitespace()
                } else if bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    break
                } else {
                    throw corrupt("expected ',' or ']' in an array")
                }
            }
        }
        nodes[index].end = nodes.count
        nodes[index].count = elements
    }

    private mutating func parseString() throws {
        let opening = position
        position += 1
        let start = position
        var escaped = false
        var nonASCII = false
        while true {
            guard position < bytes.count else {
                position = opening
                throw corrupt("a string is not closed")
            }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                guard position + 1 < bytes.count else { throw corrupt("a string ends in an escape") }
                switch bytes[position + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    position += 2
                case UInt8(ascii: "u"):
                    let unit = try codeUnit(at: position)
                    position += 6
                    if (0xDC00..<0xE000).contains(unit) { throw corrupt("a \\u escape is a lone low surrogate") }
                    if (0xD800..<0xDC00).contains(unit) {
                        guard (0xDC00..<0xE000).contains((try? codeUnit(at: position)) ?? 0) else {
                            throw corrupt("a \\u escape is a high surrogate without its low surrogate")
                        }
                        position += 6
                    }
                default:
                    throw corrupt("invalid escape in a string")
                }
                continue
            }
            guard byte >= 0x20 else { throw corrupt("a control character in a string must be escaped") }
            if byte >= 0x80 { nonASCII = true }
            position += 1
        }
        if nonASCII, String(validating: bytes[start..<position], as: UTF8.self) == nil {
            position = start
            throw corrupt("a string is not valid UTF-8")
        }
        nodes.append(JSONTapeNode(kind: .string, start: start, end: position, count: escaped ? 1 : 0))
        position += 1
    }

    /// The UTF-16 code unit of the `\uXXXX` escape at `position`.
    private func codeUnit(at position: Int) throws -> UInt32 {
        guard position + 6 <= bytes.count, bytes[position] == UInt8(ascii: "\\"),
            bytes[position + 1] == UInt8(ascii: "u")
        else { throw corrupt("a \\u escape needs four hexadecimal digits") }
        var value: UInt32 = 0
        for byte in bytes[position + 2..<position + 6] {
            guard let digit = Hex.value(ofDigit: byte) else {
                throw corrupt("a \\u escape needs four hexadecimal digits")
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private mutating func parseNumber() throws {
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count, Self.isDigit(bytes[position]) else { throw corrupt("a number needs digits") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            while position < bytes.count, Self.isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard position < bytes.count, Self.isDigit(bytes[position]) else {
                throw corrupt("a number's fraction needs digits")
            }
            while position < bytes.count, Self.isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, Self.isDigit(bytes[position]) else {
                throw corrupt("a number's exponent needs digits")
            }
            while position < bytes.count, Self.isDigit(bytes[position]) { position += 1 }
        }
        nodes.append(JSONTapeNode(kind: .number, start: start, end: position, count: 0))
    }

    private mutating func parseLiteral(_ literal: StaticString, _ kind: JSONTapeNode.Kind) throws {
        let length = literal.utf8CodeUnitCount
        let matches = literal.withUTF8Buffer { expected in
            position + length <= bytes.count && bytes[position..<position + length].elementsEqual(expected)
        }
        guard matches else { throw corrupt("unexpected character where a value should be") }
        nodes.append(JSONTapeNode(kind: kind, start: position, end: position + length, count: 0))
        position += length
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): position += 1
            default: return
            }
        }
    }

    private func corrupt(_ message: String) -> DecodingError {
        DecodingError.dataCorrupted(
            DecodingError.Context(codingPath: [], debugDescription: "not valid JSON at byte \(position): \(message)"))
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

}

// MARK: Decoder

/// A decoder positioned at one value of the tape.
struct JSONTapeDecoder: Decoder {
    let tape: JSONTape
    let index: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try JSONTapeKeyedContainer<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try JSONTapeUnkeyedContainer(decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        JSONTapeSingleValue(tape: tape, index: index, codingPath: codingPath)
    }

    static func describe(_ kind: JSONTapeNode.Kind) -> String {
        switch kind {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .true, .false: "a boolean"
        case .null: "null"
        }
    }

    static func mismatch(_ type: Any.Type, found kind: JSONTapeNode.Kind, path: [any CodingKey]) -> DecodingError {
        DecodingError.typeMismatch(
            type,
            DecodingError.Context(
                codingPath: path, debugDescription: "expected \(type) but found \(describe(kind)) instead"))
    }
}

/// A value read as one of the standard library's scalar types; shared by the three kinds of container.
private struct JSONTapeScalars {
    let tape: JSONTape

    func decodeNil(_ index: Int) -> Bool {
        tape.nodes[index].kind == .null
    }

    func bool(_ index: Int, _ path: [any CodingKey]) throws -> Bool {
        switch tape.nodes[index].kind {
        case .true: return true
        case .false: return false
        case let kind: throw JSONTapeDecoder.mismatch(Bool.self, found: kind, path: path)
        }
    }

    func string(_ index: Int, _ path: [any CodingKey]) throws -> String {
        let kind = tape.nodes[index].kind
        guard kind == .string else { throw JSONTapeDecoder.mismatch(String.self, found: kind, path: path) }
        return tape.string(at: index)
    }

    func integer<T: FixedWidthInteger>(_ type: T.Type, _ index: Int, _ path: [any CodingKey]) throws -> T {
        let node = tape.nodes[index]
        guard node.kind == .number else { throw JSONTapeDecoder.mismatch(type, found: node.kind, path: path) }
        let text = tape.bytes[node.start..<node.end]
        let negative = text.first == UInt8(ascii: "-")
        var value: T = 0
        for byte in text.dropFirst(negative ? 1 : 0) {
            let digit = Int(byte) - Int(UInt8(ascii: "0"))
            guard (0...9).contains(digit) else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(
                        codingPath: path, debugDescription: "\(String(decoding: text, as: UTF8.self)) is not \(type)"))
            }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) =
                negative
                ? shifted.subtractingReportingOverflow(T(digit)) : shifted.addingReportingOverflow(T(digit))
            guard !overflow, !overflow2 else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(
                        codingPath: path,
                        debugDescription: "\(String(decoding: text, as: UTF8.self)) does not fit in \(type)"))
            }
            value = next
        }
        return value
    }

    func floatingPoint(_ index: Int, _ path: [any CodingKey]) throws -> Double {
        let node = tape.nodes[index]
        guard node.kind == .number else { throw JSONTapeDecoder.mismatch(Double.self, found: node.kind, path: path) }
        guard let value = Double(String(decoding: tape.bytes[node.start..<node.end], as: UTF8.self)), value.isFinite
        else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: path, debugDescription: "the number does not fit in Double"))
        }
        return value
    }

    func decode<T: Decodable>(_ type: T.Type, _ index: Int, _ path: [any CodingKey]) throws -> T {
        // The scalar types directly; everything else (records, names, arrays) through its own `init(from:)`.
        if T.self == String.self, let value = try string(index, path) as? T { return value }
        if T.self == Bool.self, let value = try bool(index, path) as? T { return value }
        if T.self == Int64.self, let value = try integer(Int64.self, index, path) as? T { return value }
        if T.self == Int.self, let value = try integer(Int.self, index, path) as? T { return value }
        return try T(from: JSONTapeDecoder(tape: tape, index: index, codingPath: path))
    }
}

/// A coding key for positions in arrays and for nested paths.
private struct JSONTapeIndexKey: CodingKey {
    let stringValue: String
    let intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        intValue = nil
    }

    init(intValue: Int) {
        stringValue = "Index \(intValue)"
        self.intValue = intValue
    }
}

private struct JSONTapeKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let tape: JSONTape
    let codingPath: [any CodingKey]
    /// Tape indices of each member's name; its value is the next node.
    private let names: [Int]
    /// Each name's `JSONTape.signature`: most names differ in it, so lookups compare bytes only on a match.
    private let signatures: [Int]
    private let scalars: JSONTapeScalars

    init(decoder: JSONTapeDecoder) throws {
        tape = decoder.tape
        codingPath = decoder.codingPath
        scalars = JSONTapeScalars(tape: tape)
        let node = tape.nodes[decoder.index]
        guard node.kind == .object else {
            throw JSONTapeDecoder.mismatch([String: Any].self, found: node.kind, path: decoder.codingPath)
        }
        var names: [Int] = []
        var signatures: [Int] = []
        names.reserveCapacity(node.count)
        signatures.reserveCapacity(node.count)
        var position = decoder.index + 1
        while position < node.end {
            names.append(position)
            signatures.append(tape.signature(at: position))
            position = tape.next(after: position + 1)
        }
        self.names = names
        self.signatures = signatures
        try checkUnique()
    }

    /// Refuses an object that names a member twice.
    private func checkUnique() throws {
        if names.count <= 24 {
            for offset in names.indices {
                for other in (offset + 1)..<names.count
                where signatures[other] == signatures[offset] && tape.sameString(names[offset], names[other]) {
                    throw duplicate(tape.string(at: names[offset]))
                }
            }
        } else {
            var seen = Set<String>()
            for name in names where !seen.insert(tape.string(at: name)).inserted {
                throw duplicate(tape.string(at: name))
            }
        }
    }

    private func duplicate(_ name: String) -> DecodingError {
        DecodingError.dataCorrupted(
            DecodingError.Context(codingPath: codingPath, debugDescription: "the object names '\(name)' twice"))
    }

    var allKeys: [Key] {
        names.compactMap { Key(stringValue: tape.string(at: $0)) }
    }

    private func valueIndex(_ key: Key) -> Int? {
        let text = key.stringValue
        let signature = JSONTape.signature(text.utf8)
        for offset in names.indices
        where signatures[offset] == signature && tape.string(at: names[offset], equals: text) {
            return names[offset] + 1
        }
        return nil
    }

    private func require(_ key: Key) throws -> Int {
        guard let index = valueIndex(key) else {
            throw DecodingError.keyNotFound(
                key,
                DecodingError.Context(
                    codingPath: codingPath, debugDescription: "no value for the key '\(key.stringValue)'"))
        }
        return index
    }

    /// A present, non-null value, or the error `JSONDecoder` gives for null where a value is required.
    private func requireValue<T>(_ key: Key, _ type: T.Type) throws -> Int {
        let index = try require(key)
        guard tape.nodes[index].kind != .null else {
            throw DecodingError.valueNotFound(
                type,
                DecodingError.Context(
                    codingPath: codingPath + [key], debugDescription: "expected \(type) but found null instead"))
        }
        return index
    }

    func contains(_ key: Key) -> Bool {
        valueIndex(key) != nil
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        scalars.decodeNil(try require(key))
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        try scalars.bool(try requireValue(key, type), codingPath + [key])
    }

    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try scalars.string(try requireValue(key, type), codingPath + [key])
    }

    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try scalars.floatingPoint(try requireValue(key, type), codingPath + [key])
    }

    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        Float(try scalars.floatingPoint(try requireValue(key, type), codingPath + [key]))
    }

    func decode(_ type: Int.Type, forKey key: Key) throws -> Int {
        try scalars.integer(type, try requireValue(key, type), codingPath + [key])
    }

    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 {
        try scalars.integer(type, try requireValue(key, type), codingPath + [key])
    }

    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 {
        try scalars.integer(type, try requireValue(key, type), codingPath + [key])
    }

    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 {
        try scalars.integer(type, try requireValue(key, type), codingPath + [key])
    }

    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 {
        try scalars.integer(type, try requireValue(key, type), codingPath + [key])
    }

    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt {
        try scalars.integer(type, try requireValue(key, type), codingPath + [key])
    }

    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 {
        try scalars.integer(type, try requireValue(key, type), codingPath + [key])
    }

    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 {
        try scalars.integer(type, try requireValue(key, type), codingPath + [key])
    }

    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 {
        try scalars.integer(type, try requireValue(key, type), codingPath + [key])
    }

    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 {
        try scalars.integer(type, try requireValue(key, type), codingPath + [key])
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try scalars.decode(type, try requireValue(key, type), codingPath + [key])
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let index = valueIndex(key), tape.nodes[index].kind != .null else { return nil }
        return try scalars.decode(type, index, codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try JSONTapeDecoder(tape: tape, index: try require(key), codingPath: codingPath + [key])
            .container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try JSONTapeDecoder(tape: tape, index: try require(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        guard let key = Key(stringValue: "super") else {
            throw DecodingError.keyNotFound(
                JSONTapeIndexKey(stringValue: "super"),
                DecodingError.Context(codingPath: codingPath, debugDescription: "no 'super' key in this object"))
        }
        return try superDecoder(forKey: key)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        JSONTapeDecoder(tape: tape, index: try require(key), codingPath: codingPath + [key])
    }
}

private struct JSONTapeUnkeyedContainer: UnkeyedDecodingContainer {
    let tape: JSONTape
    let codingPath: [any CodingKey]
    let count: Int?
    private(set) var currentIndex = 0
    /// The tape index of the element at `currentIndex`.
    private var position: Int
    private let scalars: JSONTapeScalars

    init(decoder: JSONTapeDecoder) throws {
        tape = decoder.tape
        codingPath = decoder.codingPath
        scalars = JSONTapeScalars(tape: tape)
        let node = tape.nodes[decoder.index]
        guard node.kind == .array else {
            throw JSONTapeDecoder.mismatch([Any].self, found: node.kind, path: decoder.codingPath)
        }
        count = node.count
        position = decoder.index + 1
    }

    var isAtEnd: Bool { currentIndex >= count ?? 0 }

    private var path: [any CodingKey] { codingPath + [JSONTapeIndexKey(intValue: currentIndex)] }

    /// The current element's tape index, moving past it.
    private mutating func advance<T>(_ type: T.Type, allowNull: Bool = false) throws -> Int {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                type, DecodingError.Context(codingPath: path, debugDescription: "the array has no more elements"))
        }
        if !allowNull, tape.nodes[position].kind == .null {
            throw DecodingError.valueNotFound(
                type, DecodingError.Context(codingPath: path, debugDescription: "expected \(type) but found null"))
        }
        let index = position
        position = tape.next(after: position)
        currentIndex += 1
        return index
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, tape.nodes[position].kind == .null else { return false }
        _ = try advance(Never.self, allowNull: true)
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let path = self.path
        return try scalars.decode(type, try advance(type), path)
    }

    mutating func decodeIfPresent<T: Decodable>(_ type: T.Type) throws -> T? {
        if try decodeNil() { return nil }
        return try decode(type)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        let path = self.path
        return try JSONTapeDecoder(tape: tape, index: try advance(type), codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let path = self.path
        return try JSONTapeDecoder(tape: tape, index: try advance([Any].self), codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let path = self.path
        return JSONTapeDecoder(tape: tape, index: try advance(Any.self, allowNull: true), codingPath: path)
    }
}

private struct JSONTapeSingleValue: SingleValueDecodingContainer {
    let tape: JSONTape
    let index: Int
    let codingPath: [any CodingKey]

    private var scalars: JSONTapeScalars { JSONTapeScalars(tape: tape) }

    func decodeNil() -> Bool {
        scalars.decodeNil(index)
    }

    private func nonNull<T>(_ type: T.Type) throws -> Int {
        guard tape.nodes[index].kind != .null else {
            throw DecodingError.valueNotFound(
                type, DecodingError.Context(codingPath: codingPath, debugDescription: "expected \(type) but found null")
            )
        }
        return index
    }

    func decode(_ type: Bool.Type) throws -> Bool { try scalars.bool(try nonNull(type), codingPath) }
    func decode(_ type: String.Type) throws -> String { try scalars.string(try nonNull(type), codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try scalars.floatingPoint(try nonNull(type), codingPath) }
    func decode(_ type: Float.Type) throws -> Float { Float(try scalars.floatingPoint(try nonNull(type), codingPath)) }
    func decode(_ type: Int.Type) throws -> Int { try scalars.integer(type, try nonNull(type), codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try scalars.integer(type, try nonNull(type), codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try scalars.integer(type, try nonNull(type), codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try scalars.integer(type, try nonNull(type), codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try scalars.integer(type, try nonNull(type), codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try scalars.integer(type, try nonNull(type), codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try scalars.integer(type, try nonNull(type), codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try scalars.integer(type, try nonNull(type), codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try scalars.integer(type, try nonNull(type), codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try scalars.integer(type, try nonNull(type), codingPath) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try scalars.decode(type, try nonNull(type), codingPath)
    }
}
