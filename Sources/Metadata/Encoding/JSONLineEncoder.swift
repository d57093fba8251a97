/// Encodes `Encodable` values as compact JSON straight into a byte buffer, keys in the order the type
/// encodes them.
///
/// Foundation's `JSONEncoder` builds an intermediate tree per value; at hundreds of thousands of records per
/// extraction that tree dominates the cost, so this encoder writes bytes as the value walks itself. Output is
/// deterministic (declaration order, no whitespace), which keeps chunk checksums stable for equal input.
/// Optionals that are `nil` are omitted; non-finite floating-point values are refused.
public struct JSONLineEncoder {
    public init() {}

    /// Appends the JSON form of `value` to `buffer`, without a trailing newline.
    public func encode(_ value: some Encodable, into buffer: inout [UInt8]) throws {
        let output = JSONOutput(bytes: buffer)
        buffer = []
        defer { buffer = output.bytes }
        try output.encodeValue(value)
    }

    /// Returns the JSON form of `value`.
    public func encode(_ value: some Encodable) throws -> [UInt8] {
        var buffer: [UInt8] = []
        try encode(value, into: &buffer)
        return buffer
    }
}

/// The shared state of one encoding: the bytes written so far and the stack of open containers.
private final class JSONOutput {
    struct Frame {
        let closer: UInt8
        var count = 0
    }

    // Exclusivity is checked statically here: every access is from the one encoding call that owns this
    // object, never overlapping, and the dynamic checks were a tenth of extraction time.
    @exclusivity(unchecked) var bytes: [UInt8]
    @exclusivity(unchecked) var frames: [Frame] = []
    @exclusivity(unchecked) var codingPath: [any CodingKey] = []

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Encodes one value at the current position, closing whatever containers it opened.
    func encodeValue(_ value: some Encodable) throws {
        let level = frames.count
        let start = bytes.count
        try value.encode(to: StreamingEncoder(output: self, level: level))
        close(downTo: level)
        if bytes.count == start {
            bytes.append(contentsOf: "{}".utf8)
        }
    }

    /// Closes every container deeper than `level`, in order.
    func close(downTo level: Int) {
        while frames.count > level {
            bytes.append(frames.removeLast().closer)
        }
    }

    /// Opens a container at `level`, or reuses the one already open there.
    func open(at level: Int, opener: UInt8, closer: UInt8) {
        close(downTo: level + 1)
        if frames.count == level + 1 { return }
        bytes.append(opener)
        frames.append(Frame(closer: closer))
    }

    /// Prepares to write the next element of the container at `level`: closes deeper containers, adds a comma.
    func beginElement(at level: Int) {
        close(downTo: level + 1)
        if frames[level].count > 0 { bytes.append(UInt8(ascii: ",")) }
        frames[level].count += 1
    }

    func beginKey(_ key: some CodingKey, at level: Int) {
        beginElement(at: level)
        writeString(key.stringValue)
        bytes.append(UInt8(ascii: ":"))
    }

    func writeString(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), 0x30, 0x30])
                    bytes.append(hex[Int(byte >> 4)])
                    bytes.append(hex[Int(byte & 0x0F)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    func writeInteger(_ value: some BinaryInteger) {
        bytes.append(contentsOf: String(value).utf8)
    }

    func writeFloat(_ value: some BinaryFloatingPoint & LosslessStringConvertible) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: codingPath, debugDescription: "JSON cannot represent \(value)"))
        }
        bytes.append(contentsOf: value.description.utf8)
    }

    func writeBool(_ value: Bool) {
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    func writeNull() {
        bytes.append(contentsOf: "null".utf8)
    }
}

private struct StreamingEncoder: Encoder {
    let output: JSONOutput
    /// The stack depth at which this encoder's own container lives.
    let level: Int

    var codingPath: [any CodingKey] { output.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        output.open(at: level, opener: UInt8(ascii: "{"), closer: UInt8(ascii: "}"))
        return KeyedEncodingContainer(KeyedContainer<Key>(output: output, level: level))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        output.open(at: level, opener: UInt8(ascii: "["), closer: UInt8(ascii: "]"))
        return UnkeyedContainer(output: output, level: level)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(output: output)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let output: JSONOutput
    let level: Int
    var codingPath: [any CodingKey] { output.codingPath }

    mutating func encodeNil(forKey key: Key) throws {
        output.beginKey(key, at: level)
        output.writeNull()
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        output.beginKey(key, at: level)
        output.writeBool(value)
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        output.beginKey(key, at: level)
        output.writeString(value)
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        output.beginKey(key, at: level)
        try output.writeFloat(value)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        output.beginKey(key, at: level)
        try output.writeFloat(value)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try integer(value, key) }

    private func integer(_ value: some BinaryInteger, _ key: Key) throws {
        output.beginKey(key, at: level)
        output.writeInteger(value)
    }

    mutating func encode(_ value: some Encodable, forKey key: Key) throws {
        output.beginKey(key, at: level)
        output.codingPath.append(key)
        defer { output.codingPath.removeLast() }
        try output.encodeValue(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        output.beginKey(key, at: level)
        return StreamingEncoder(output: output, level: level + 1).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        output.beginKey(key, at: level)
        return StreamingEncoder(output: output, level: level + 1).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        output.beginKey(AnyKey("super"), at: level)
        return StreamingEncoder(output: output, level: level + 1)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        output.beginKey(key, at: level)
        return StreamingEncoder(output: output, level: level + 1)
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let output: JSONOutput
    let level: Int
    var codingPath: [any CodingKey] { output.codingPath }
    var count: Int { output.frames.count > level ? output.frames[level].count : 0 }

    mutating func encodeNil() throws {
        output.beginElement(at: level)
        output.writeNull()
    }
    mutating func encode(_ value: Bool) throws {
        output.beginElement(at: level)
        output.writeBool(value)
    }
    mutating func encode(_ value: String) throws {
        output.beginElement(at: level)
        output.writeString(value)
    }
    mutating func encode(_ value: Double) throws {
        output.beginElement(at: level)
        try output.writeFloat(value)
    }
    mutating func encode(_ value: Float) throws {
        output.beginElement(at: level)
        try output.writeFloat(value)
    }
    mutating func encode(_ value: Int) throws { integer(value) }
    mutating func encode(_ value: Int8) throws { integer(value) }
    mutating func encode(_ value: Int16) throws { integer(value) }
    mutating func encode(_ value: Int32) throws { integer(value) }
    mutating func encode(_ value: Int64) throws { integer(value) }
    mutating func encode(_ value: UInt) throws { integer(value) }
    mutating func encode(_ value: UInt8) throws { integer(value) }
    mutating func encode(_ value: UInt16) throws { integer(value) }
    mutating func encode(_ value: UInt32) throws { integer(value) }
    mutating func encode(_ value: UInt64) throws { integer(value) }

    private func integer(_ value: some BinaryInteger) {
        output.beginElement(at: level)
        output.writeInteger(value)
    }

    mutating func encode(_ value: some Encodable) throws {
        output.beginElement(at: level)
        try output.encodeValue(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        output.beginElement(at: level)
        return StreamingEncoder(output: output, level: level + 1).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        output.beginElement(at: level)
        return StreamingEncoder(output: output, level: level + 1).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        output.beginElement(at: level)
        return StreamingEncoder(output: output, level: level + 1)
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let output: JSONOutput
    var codingPath: [any CodingKey] { output.codingPath }

    mutating func encodeNil() throws { output.writeNull() }
    mutating func encode(_ value: Bool) throws { output.writeBool(value) }
    mutating func encode(_ value: String) throws { output.writeString(value) }
    mutating func encode(_ value: Double) throws { try output.writeFloat(value) }
    mutating func encode(_ value: Float) throws { try output.writeFloat(value) }
    mutating func encode(_ value: Int) throws { output.writeInteger(value) }
    mutating func encode(_ value: Int8) throws { output.writeInteger(value) }
    mutating func encode(_ value: Int16) throws { output.writeInteger(value) }
    mutating func encode(_ value: Int32) throws { output.writeInteger(value) }
    mutating func encode(_ value: Int64) throws { output.writeInteger(value) }
    mutating func encode(_ value: UInt) throws { output.writeInteger(value) }
    mutating func encode(_ value: UInt8) throws { output.writeInteger(value) }
    mutating func encode(_ value: UInt16) throws { output.writeInteger(value) }
    mutating func encode(_ value: UInt32) throws { output.writeInteger(value) }
    mutating func encode(_ value: UInt64) throws { output.writeInteger(value) }
    mutating func encode(_ value: some Encodable) throws { try output.encodeValue(value) }
}

private struct AnyKey: CodingKey {
    let stringValue: String
    let intValue: Int? = nil
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
