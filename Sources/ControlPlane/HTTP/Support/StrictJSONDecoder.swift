public import OutpostProtocol

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// Decodes JSON into a `Decodable` type and refuses every object key the type did not read.
///
/// Foundation's `JSONDecoder` silently ignores unknown keys, so a misspelt field (`leaseID`) or a field from a
/// newer protocol would be dropped without notice. This decoder parses the body into `JSONValue`, decodes the
/// type from that tree while recording which keys each object was asked for, and then reports the first key
/// nobody asked for. Errors carry the field's JSON path (`files[2].sha256`) and a message safe to show. Before any
/// of that, `JSONStructureLimits` bounds the body's shape in one pass over its bytes.
public struct StrictJSONDecoder: Sendable {
    /// Checked before parsing, so a hostile shape is refused at the cost of reading its bytes once.
    public var limits: JSONStructureLimits

    public init(limits: JSONStructureLimits = JSONStructureLimits()) {
        self.limits = limits
    }

    /// A body that cannot be decoded into the requested type.
    public struct Failure: Error, Sendable, Equatable {
        /// The JSON path of the field at fault; nil when the body as a whole is wrong.
        public var field: String?
        public var message: String
    }

    public func decode<T: Decodable>(_ type: T.Type, from bytes: some Sequence<UInt8>) throws(Failure) -> T {
        let body = Array(bytes)
        do {
            try limits.check(body)
        } catch {
            throw Failure(field: nil, message: error.message)
        }
        let root: JSONValue
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: Data(body))
        } catch {
            throw Failure(field: nil, message: "the body is not valid JSON")
        }
        return try decode(type, from: root)
    }

    public func decode<T: Decodable>(_ type: T.Type, from root: JSONValue) throws(Failure) -> T {
        let ledger = KeyLedger()
        let value: T
        do {
            value = try T(from: ValueDecoder(value: root, codingPath: [], ledger: ledger))
        } catch let error as DecodingError {
            throw Self.failure(from: error)
        } catch {
            throw Failure(field: nil, message: "the body could not be decoded")
        }
        if let unknown = ledger.firstUnknownKey() {
            throw Failure(field: unknown, message: "unknown field '\(unknown)'")
        }
        return value
    }

    static func failure(from error: DecodingError) -> Failure {
        switch error {
        case .keyNotFound(let key, let context):
            let path = JSONPath.render(context.codingPath + [key])
            return Failure(field: path, message: "missing field '\(path)'")
        case .valueNotFound(_, let context):
            let path = JSONPath.render(context.codingPath)
            return Failure(
                field: path.isEmpty ? nil : path,
                message: "field '\(path)' must not be null: leave an optional field out instead")
        case .typeMismatch(_, let context):
            // Our own descriptions ("expected a string, found a number"): safe to show.
            let path = JSONPath.render(context.codingPath)
            return Failure(
                field: path.isEmpty ? nil : path,
                message: path.isEmpty ? context.debugDescription : "field '\(path)': \(context.debugDescription)")
        case .dataCorrupted(let context):
            // Raised by the standard library (an unknown enum value): its text names Swift types, so say less.
            let path = JSONPath.render(context.codingPath)
            return Failure(
                field: path.isEmpty ? nil : path,
                message: path.isEmpty ? "the body has an invalid value" : "field '\(path)' has an invalid value")
        @unknown default:
            return Failure(field: nil, message: "the body could not be decoded")
        }
    }
}

/// Renders coding paths as JSON paths: `files[2].sha256`.
enum JSONPath {
    static func render(_ path: [any CodingKey]) -> String {
        var result = ""
        for key in path {
            if key is IndexKey, let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += (result.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return result
    }
}

/// The position in an array, rendered as `[n]`.
struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { String(intValue ?? 0) }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

/// Which keys every decoded object has and which of them the type asked for.
///
/// A class because the decoder and its containers are values handed around by the standard library; one
/// decode runs on one thread, so no lock is needed.
final class KeyLedger {
    private var objects: [String: (keys: Set<String>, used: Set<String>)] = [:]
    private var order: [String] = []

    func register(path: String, keys: some Sequence<String>) {
        if objects[path] == nil {
            objects[path] = (Set(keys), [])
            order.append(path)
        }
    }

    func use(path: String, key: String) {
        objects[path]?.used.insert(key)
    }

    func useAll(path: String) {
        if let entry = objects[path] { objects[path]?.used = entry.keys }
    }

    /// The JSON path of the first key no one asked for, in document order of objects and sorted key order.
    func firstUnknownKey() -> String? {
        for path in order {
            guard let entry = objects[path] else { continue }
            if let key = entry.keys.subtracting(entry.used).sorted().first {
                return path.isEmpty ? key : "\(path).\(key)"
            }
        }
        return nil
    }
}

/// A `Decoder` over a `JSONValue` tree.
struct ValueDecoder: Decoder, SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]
    let ledger: KeyLedger
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else { throw mismatch([String: JSONValue].self, "an object") }
        let path = JSONPath.render(codingPath)
        ledger.register(path: path, keys: object.keys)
        return KeyedDecodingContainer(
            KeyedContainer<Key>(object: object, codingPath: codingPath, path: path, ledger: ledger))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let array) = value else { throw mismatch([JSONValue].self, "an array") }
        return UnkeyedContainer(array: array, codingPath: codingPath, ledger: ledger)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    // MARK: Single values

    func decodeNil() -> Bool { value == .null }

    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let bool) = value else { throw mismatch(type, "a boolean") }
        return bool
    }

    func decode(_ type: String.Type) throws -> String {
        guard case .string(let string) = value else { throw mismatch(type, "a string") }
        return string
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch value {
        case .double(let double): return double
        case .integer(let integer): return Double(integer)
        default: throw mismatch(type, "a number")
        }
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }
    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if type == JSONValue.self, let value = value as? T {
            // A free-form value: everything under it counts as read.
            return value
        }
        if value == .null && !(type is any ExpressibleByNilLiteral.Type) {
            throw DecodingError.valueNotFound(
                type, .init(codingPath: codingPath, debugDescription: "must not be null"))
        }
        return try T(from: self)
    }

    private func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        switch value {
        case .integer(let integer):
            guard let result = T(exactly: integer) else { throw mismatch(type, "an integer in range") }
            return result
        case .double(let double):
            guard let result = T(exactly: double) else { throw mismatch(type, "an integer") }
            return result
        default:
            throw mismatch(type, "an integer")
        }
    }

    func mismatch(_ type: Any.Type, _ expected: String) -> DecodingError {
        if value == .null {
            return .valueNotFound(type, .init(codingPath: codingPath, debugDescription: "must not be null"))
        }
        return .typeMismatch(
            type, .init(codingPath: codingPath, debugDescription: "expected \(expected), found \(value.kindName)"))
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: [String: JSONValue]
    let codingPath: [any CodingKey]
    let path: String
    let ledger: KeyLedger

    var allKeys: [Key] {
        ledger.useAll(path: path)
        return object.keys.compactMap { Key(stringValue: $0) }
    }

    func contains(_ key: Key) -> Bool {
        ledger.use(path: path, key: key.stringValue)
        return object[key.stringValue] != nil
    }

    private func decoder(for key: Key) throws -> ValueDecoder {
        ledger.use(path: path, key: key.stringValue)
        guard let value = object[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
        }
        return ValueDecoder(value: value, codingPath: codingPath + [key], ledger: ledger)
    }

    /// Refuses `null`: an optional field is left out, never sent as null. One way to say "absent" everywhere, as
    /// the OpenAPI document's schemas (no `null` types) say; `decodeIfPresent` reaches here only for a present key.
    func decodeNil(forKey key: Key) throws -> Bool {
        guard try decoder(for: key).decodeNil() else { return false }
        throw DecodingError.valueNotFound(
            JSONValue.self, .init(codingPath: codingPath + [key], debugDescription: "must not be null"))
    }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoder(for: key).decode(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder(for: key).decode(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decoder(for: key).decode(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decoder(for: key).decode(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decoder(for: key).decode(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decoder(for: key).decode(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decoder(for: key).decode(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decoder(for: key).decode(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decoder(for: key).decode(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decoder(for: key).decode(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decoder(for: key).decode(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decoder(for: key).decode(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decoder(for: key).decode(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decoder(for: key).decode(type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoder(for: key).decode(type) }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try decoder(for: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(for: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        ValueDecoder(value: .object(object), codingPath: codingPath, ledger: ledger)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder { try decoder(for: key) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let array: [JSONValue]
    let codingPath: [any CodingKey]
    let ledger: KeyLedger
    private(set) var currentIndex = 0

    init(array: [JSONValue], codingPath: [any CodingKey], ledger: KeyLedger) {
        self.array = array
        self.codingPath = codingPath
        self.ledger = ledger
    }

    var count: Int? { array.count }
    var isAtEnd: Bool { currentIndex >= array.count }

    private mutating func next() throws -> ValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                JSONValue.self,
                .init(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "the array is too short"))
        }
        defer { currentIndex += 1 }
        return ValueDecoder(
            value: array[currentIndex], codingPath: codingPath + [IndexKey(currentIndex)], ledger: ledger)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, array[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().decode(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next().decode(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().decode(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next().decode(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().decode(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().decode(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().decode(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().decode(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().decode(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next().decode(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().decode(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().decode(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().decode(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().decode(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }

    mutating func superDecoder() throws -> any Decoder { try next() }
}
