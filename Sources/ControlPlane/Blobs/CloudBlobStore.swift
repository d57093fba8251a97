internal import NIOCore
internal import ObjectStore

/// What the blob stores in a cloud's object store (S3, Cloud Storage, Azure Blob Storage) share: blob keys under a
/// prefix, and `read`, `exists` and `delete` over the store's own three operations, with one wording of failures
/// (the blob key and the service's answer, never a credential, token or signed URL).
protocol CloudBlobStore: BlobStore {
    /// Prepended to every blob key; empty or ending in `/`.
    var prefix: String { get }
    /// Streams the object named `name`.
    func download(_ name: String, _ receive: (ByteBuffer) async throws -> Void) async throws
    /// Asks for the object's properties; throws `ObjectStoreError` with `isNotFound` when it does not exist.
    func head(_ name: String) async throws
    /// Deletes the object; a missing one is not an error.
    func remove(_ name: String) async throws
}

extension CloudBlobStore {
    /// The object name of a blob key, after refusing keys that could escape the prefix.
    func objectName(_ key: String) throws -> String {
        try BlobError.validate(key: key)
        return prefix + key
    }

    public func read(key: String, _ body: ([UInt8]) async throws -> Void) async throws {
        let name = try objectName(key)
        do {
            try await download(name) { piece in try await body(Array(piece.readableBytesView)) }
        } catch let error as ObjectStoreError {
            throw Self.blobError(error, key: key)
        }
    }

    public func exists(key: String) async throws -> Bool {
        let name = try objectName(key)
        do {
            try await head(name)
            return true
        } catch let error as ObjectStoreError where error.isNotFound {
            return false
        } catch {
            throw Self.blobError(error, key: key)
        }
    }

    public func delete(key: String) async throws {
        let name = try objectName(key)
        do {
            try await remove(name)
        } catch {
            throw Self.blobError(error, key: key)
        }
    }

    /// Blob-store errors name the blob key and the service's answer, never a credential or a signed URL.
    static func blobError(_ error: any Error, key: String) -> any Error {
        switch error {
        case let error as ObjectStoreError where error.isNotFound:
            return BlobError(.notFound, "blob \(key) does not exist")
        case let error as ObjectStoreError:
            return BlobError(.io, "blob \(key): \(error.description)")
        default:
            return error
        }
    }
}
