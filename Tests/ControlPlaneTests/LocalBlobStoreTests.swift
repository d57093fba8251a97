import ControlPlane
import Foundation
import OutpostTesting
import Testing

/// Feeds byte arrays as an async sequence, as an HTTP request body arrives.
struct Pieces: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    let pieces: [[UInt8]]

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: [[UInt8]]
        mutating func next() async throws -> [UInt8]? { remaining.isEmpty ? nil : remaining.removeFirst() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: pieces) }

    init(pieces: [[UInt8]]) { self.pieces = pieces }

    /// `bytes` in pieces of `size` bytes (the last one shorter).
    init(bytes: [UInt8], size: Int) {
        pieces = stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<Swift.min(bytes.count, $0 + size)]) }
    }
}

@Suite("Local blob store")
struct LocalBlobStoreTests {
    static let key = [UInt8](repeating: 7, count: 32)

    static func readAll(_ store: LocalBlobStore, _ key: String) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await store.read(key: key) { out += $0 }
        return out
    }

    @Test(
        "objects round-trip across segment boundaries and are encrypted at rest",
        arguments: [0, 1, 1_048_576, 2_500_000])
    func roundTrip(_ size: Int) async throws {
        let directory = try TemporaryDirectory()
        let store = try LocalBlobStore(root: directory.path, key: Self.key)
        let canary = Array("CANARY-PLAINTEXT-".utf8)
        var bytes = [UInt8]()
        while bytes.count < size { bytes += canary }
        bytes = Array(bytes.prefix(size))
        let pieces = stride(from: 0, to: bytes.count, by: 300_000).map {
            Array(bytes[$0..<min($0 + 300_000, bytes.count)])
        }
        let info = try await store.put(key: "t/r/records-00001.jsonl.gz", from: Pieces(pieces: pieces))
        #expect(info.bytes == Int64(size))
        #expect(try await Self.readAll(store, "t/r/records-00001.jsonl.gz") == bytes)
        let raw = try Data(contentsOf: URL(fileURLWithPath: directory.path + "/t/r/records-00001.jsonl.gz"))
        if size > 0 { #expect(raw.range(of: Data(canary)) == nil) }
        let mode =
            try FileManager.default.attributesOfItem(atPath: directory.path + "/t/r/records-00001.jsonl.gz")[
                .posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("tampering, truncation and a wrong key are detected", arguments: ["flip", "truncate", "wrongKey"])
    func tampering(_ damage: String) async throws {
        let directory = try TemporaryDirectory()
        let store = try LocalBlobStore(root: directory.path, key: Self.key)
        _ = try await store.put(key: "a/b", from: Pieces(pieces: [[UInt8](repeating: 1, count: 2_200_000)]))
        let path = directory.path + "/a/b"
        var raw = try Data(contentsOf: URL(fileURLWithPath: path))
        var reader = store
        switch damage {
        case "flip": raw[raw.count / 2] ^= 1
        case "truncate": raw = raw.prefix(raw.count - 1_100_000)
        default: reader = try LocalBlobStore(root: directory.path, key: [UInt8](repeating: 8, count: 32))
        }
        try raw.write(to: URL(fileURLWithPath: path))
        await #expect(throws: BlobError.self) { _ = try await Self.readAll(reader, "a/b") }
    }

    @Test("keys that could escape the root are refused", arguments: ["../x", "/abs", "a//b", "a/./b", "", "a/\n"])
    func invalidKeys(_ key: String) async throws {
        let directory = try TemporaryDirectory()
        let store = try LocalBlobStore(root: directory.path, key: Self.key)
        await #expect(throws: BlobError.self) { _ = try await store.put(key: key, from: Pieces(pieces: [[1]])) }
    }

    @Test("the key file is created once with mode 0600 and reused")
    func keyFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/blob.key"
        let first = try LocalBlobStore.loadOrCreateKey(at: path)
        #expect(first.count == 32)
        #expect(try LocalBlobStore.loadOrCreateKey(at: path) == first)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}

@Suite("Upload signer")
struct UploadSignerTests {
    let signer = UploadSigner(secret: Array("server-secret-for-tests".utf8))
    let grant = UploadSigner.Grant(
        tenantId: "ten_a", runId: "run_1", path: "records-00001.jsonl.gz", bytes: 1234,
        sha256: String(repeating: "ab", count: 32), expires: 1_000)

    @Test("a signature is valid only for its object, size, checksum and lifetime")
    func binding() {
        let signature = signer.signature(for: grant)
        #expect(signer.verify(grant, signature: signature, now: 999))
        #expect(!signer.verify(grant, signature: signature, now: 1_000))
        var other = grant
        other.bytes = 1235
        #expect(!signer.verify(other, signature: signature, now: 0))
        other = grant
        other.path = "manifest.json"
        #expect(!signer.verify(other, signature: signature, now: 0))
        other = grant
        other.tenantId = "ten_b"
        #expect(!signer.verify(other, signature: signature, now: 0))
        other = grant
        other.sha256 = String(repeating: "cd", count: 32)
        #expect(!signer.verify(other, signature: signature, now: 0))
        #expect(!UploadSigner(secret: Array("another".utf8)).verify(grant, signature: signature, now: 0))
        #expect(!signer.verify(grant, signature: "zz", now: 0))
    }

    @Test("a key file that is a symbolic link or writable by group or others is refused, a 0600 one is read")
    func keyFilesAreChecked() throws {
        let directory = try TemporaryDirectory()
        let planted = directory.path + "/planted.key"
        try Data(repeating: 9, count: 32).write(to: URL(fileURLWithPath: planted))
        chmod(planted, 0o600)
        let link = directory.path + "/upload-signing.key"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: planted)
        #expect(throws: BlobError.self) { try LocalBlobStore.loadOrCreateKey(at: link) }

        let writable = directory.path + "/blob.key"
        try Data(repeating: 3, count: 32).write(to: URL(fileURLWithPath: writable))
        chmod(writable, 0o622)
        #expect(throws: BlobError.self) { try LocalBlobStore.loadOrCreateKey(at: writable) }
        chmod(writable, 0o600)
        #expect(try LocalBlobStore.loadOrCreateKey(at: writable) == [UInt8](repeating: 3, count: 32))

        let created = try LocalBlobStore.loadOrCreateKey(at: directory.path + "/new.key")
        #expect(try LocalBlobStore.loadOrCreateKey(at: directory.path + "/new.key") == created)
    }
}
