internal import Foundation
public import OutpostProtocol

/// A JSON value as the Kubernetes API sends and takes it: manifests are built from it and answers read through it.
/// The contract's `JSONValue`, with the readers the Kubernetes client needs.
public typealias KubernetesJSON = JSONValue

extension JSONValue {
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
