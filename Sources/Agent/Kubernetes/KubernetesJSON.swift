internal import Foundation

/// A JSON value as the Kubernetes API sends and takes it: manifests are built from it and answers read through it.
public enum KubernetesJSON: Sendable, Equatable, Codable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([KubernetesJSON])
    case object([String: KubernetesJSON])

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: KubernetesJSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, KubernetesJSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([KubernetesJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: KubernetesJSON].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The member `key` of an object; nil for anything else or a missing key.
    public subscript(key: String) -> KubernetesJSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The text of a string value.
    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value of an integer, or of a string holding one (Argo writes exit codes as strings).
    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .string(let value): Int64(value)
        default: nil
        }
    }

    /// The elements of an array; empty for anything else.
    public var elements: [KubernetesJSON] {
        if case .array(let values) = self { return values }
        return []
    }

    /// Compact JSON with sorted keys.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }

    /// Parses JSON bytes.
    public static func decode(_ bytes: some Collection<UInt8>) throws -> KubernetesJSON {
        try JSONDecoder().decode(KubernetesJSON.self, from: Data(bytes))
    }
}
