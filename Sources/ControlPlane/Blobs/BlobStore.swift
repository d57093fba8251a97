/// Where the control plane keeps delivered files (chunks, manifests) and run logs: a local folder encrypted at
/// rest by default, an S3 bucket for several replicas.
///
/// Keys are relative paths chosen by the server (`<tenant>/<run>/<file>`), never by a client; implementations
/// still refuse keys that could escape their root.
public protocol BlobStore: Sendable {
    /// Stores `source`'s bytes under `key`, replacing any earlier object, and returns the plaintext's size and
    /// SHA-256 so the caller can compare them with what a grant promised.
    func put(key: String, from source: some AsyncSequence<[UInt8], any Error> & Sendable) async throws -> BlobInfo
    /// Streams the object's plaintext in pieces; throws `BlobError.notFound` if absent.
    func read(key: String, _ body: ([UInt8]) async throws -> Void) async throws
    func exists(key: String) async throws -> Bool
    func delete(key: String) async throws
}

/// What was stored.
public struct BlobInfo: Sendable, Equatable {
    public var bytes: Int64
    /// Lower-case hex SHA-256 of the plaintext.
    public var sha256: String

    public init(bytes: Int64, sha256: String) {
        self.bytes = bytes
        self.sha256 = sha256
    }
}

/// A blob-store failure; messages never contain key material.
public struct BlobError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: Sendable, Equatable {
        case notFound
        case invalidKey
        case corrupt
        case tooLarge
        case io
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// Refuses keys that are empty, absolute, or have empty, `.` or `..` segments or control characters.
    static func validate(key: String) throws {
        let segments = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !key.isEmpty, !key.hasPrefix("/"),
            segments.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }),
            !key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else {
            throw BlobError(.invalidKey, "invalid blob key")
        }
    }
}
