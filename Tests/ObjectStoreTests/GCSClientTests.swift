import AsyncHTTPClient
import Crypto
import Foundation
import GoogleCloud
import NIOCore
import ObjectStore
import OutpostTesting
import Testing

/// The Cloud Storage client against fake-gcs-server (a real emulator) behind the fake's verifying proxy, which
/// checks the bearer tokens the fake token endpoint and metadata server issue.
@Suite("Cloud Storage client against fake-gcs-server", .serialized)
struct GCSClientTests {
    static func client(
        _ google: TestGoogle, identity: GoogleAccessTokens.Identity? = nil, retryDelay: Duration = .milliseconds(20)
    ) throws -> GCSClient {
        let identity =
            try identity
            ?? .serviceAccount(
                GoogleServiceAccountKey(json: Array(Data(contentsOf: URL(fileURLWithPath: google.readerKeyFile)))))
        return try GCSClient(
            bucket: "relay", endpoint: google.storage,
            tokens: GoogleAccessTokens(identity: identity, client: .shared), retryDelay: retryDelay)
    }

    static func bytes(_ count: Int, seed: UInt8 = 7) -> [UInt8] {
        var state = UInt32(seed) &+ 2_463_534_242
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            return UInt8(truncatingIfNeeded: state)
        }
    }

    static func upload(
        _ client: GCSClient, _ name: String, _ bytes: [UInt8], policy: GCSUploadPolicy,
        metadata: [String: String] = [:], ifGenerationMatch: Int64? = nil, session: GCSSessionStore? = nil
    ) async throws -> GCSObject {
        var offset = 0
        return try await client.upload(
            name: name, size: Int64(bytes.count), metadata: metadata, ifGenerationMatch: ifGenerationMatch,
            policy: policy, session: session
        ) { count in
            let piece = Array(bytes[offset..<min(bytes.count, offset + count)])
            offset += piece.count
            return piece
        }
    }

    static func download(_ client: GCSClient, _ name: String) async throws -> [UInt8] {
        var received: [UInt8] = []
        try await client.download(name: name) { received += $0.readableBytesView }
        return received
    }

    @Test("multipart and resumable uploads round-trip names with spaces, '+', unicode and '#', with metadata")
    func roundTrip() async throws {
        let google = try TestGoogle(buckets: ["relay"])
        let client = try Self.client(google)
        let policy = try GCSUploadPolicy(chunkSize: 256 * 1024, resumableThreshold: 100_000)
        let small = Self.bytes(99_999)
        let large = Self.bytes(700_001, seed: 9)
        let names = ["out/run 1/small+file ü#1.json", "out/run 1/large file.json"]
        let stored = try await Self.upload(client, names[0], small, policy: policy, metadata: ["outpost-sha256": "a"])
        #expect(stored.bytes == 99_999)
        let storedLarge = try await Self.upload(
            client, names[1], large, policy: policy, metadata: ["outpost-sha256": "b"])
        #expect(storedLarge.bytes == 700_001)
        #expect(try await Self.download(client, names[0]) == small)
        #expect(try await Self.download(client, names[1]) == large)
        var listed: [GCSObject] = []
        try await client.listObjects(prefix: "out/run 1/") { listed.append($0) }
        #expect(listed.map(\.name).sorted() == names.sorted())
        #expect(Set(listed.map { $0.metadata["outpost-sha256"] ?? "" }) == ["a", "b"])
        #expect(try await client.object(name: names[1]).crc32c == storedLarge.crc32c)
        try await client.delete(name: names[0])
        await #expect(throws: ObjectStoreError.self) { try await client.object(name: names[0]) }
        do {
            _ = try await Self.download(client, names[0])
            Issue.record("a deleted object was downloaded")
        } catch let error as ObjectStoreError {
            #expect(error.isNotFound, "\(error)")
        }
        try await client.delete(name: names[0])  // already gone: not an error
    }

    @Test("a resumable chunk that fails (503, a dropped connection) is re-sent from what the session holds")
    func resumableUploadSurvivesFailedChunks() async throws {
        let google = try TestGoogle(buckets: ["relay"])
        let client = try Self.client(google)
        let policy = try GCSUploadPolicy(chunkSize: 256 * 1024, resumableThreshold: 1, chunkAttempts: 4)
        let bytes = Self.bytes(900_000, seed: 3)
        // The second and third chunk requests fail: one answered 503, one cut off without an answer.
        _ = try google.control("/_fake/faults", ["faults": [], "append": false])
        var offset = 0
        var chunks = 0
        let stored = try await client.upload(name: "r/big", size: Int64(bytes.count), policy: policy) { count in
            chunks += 1
            if chunks == 2 { _ = try? google.control("/_fake/faults", ["faults": ["503@upload", "drop@upload"]]) }
            let piece = Array(bytes[offset..<min(bytes.count, offset + count)])
            offset += piece.count
            return piece
        }
        #expect(stored.bytes == 900_000)
        #expect(try await Self.download(client, "r/big") == bytes)
        let faults = try google.control("/_fake/faults", ["faults": [], "append": true])
        #expect((faults["fired"] as? [Any])?.count == 2, "\(faults)")
    }

    /// A session kept where a restarted uploader finds it (here in memory).
    final class KeptSession: @unchecked Sendable {
        private let lock = NSLock()
        private var uri: String?
        var value: String? { lock.withLock { uri } }
        var store: GCSSessionStore {
            GCSSessionStore(
                load: { self.value }, save: { uri in self.lock.withLock { self.uri = uri } },
                clear: { self.lock.withLock { self.uri = nil } })
        }
    }

    @Test("an upload cut off (the uploader stopped), started again with its kept session, sends only the rest")
    func resumableUploadGoesOnFromAKeptSession() async throws {
        let google = try TestGoogle(buckets: ["relay"])
        let client = try Self.client(google)
        let policy = try GCSUploadPolicy(chunkSize: 256 * 1024, resumableThreshold: 1)
        let bytes = Self.bytes(900_000, seed: 7)
        let kept = KeptSession()
        struct Stopped: Error {}
        var offset = 0
        await #expect(throws: Stopped.self) {
            try await client.upload(name: "r/kept", size: 900_000, policy: policy, session: kept.store) { count in
                // Two chunks go out; the third is never read.
                guard offset < 2 * 256 * 1024 + 1 else { throw Stopped() }
                let piece = Array(bytes[offset..<min(bytes.count, offset + count)])
                offset += piece.count
                return piece
            }
        }
        let session = try #require(kept.value)
        let before = try google.requests("storage")
        let stored = try await Self.upload(client, "r/kept", bytes, policy: policy, session: kept.store)
        #expect(stored.bytes == 900_000)
        // One status query, then the two chunks the session lacked: no new session, nothing sent twice.
        #expect(try google.requests("storage") - before == 3)
        #expect(kept.value == nil)
        #expect(try await Self.download(client, "r/kept") == bytes)
        // A session Cloud Storage no longer knows is replaced by a new one.
        let stale = KeptSession()
        stale.store.save(session.replacingOccurrences(of: "upload_id=", with: "upload_id=gone"))
        #expect(try await Self.upload(client, "r/fresh", bytes, policy: policy, session: stale.store).bytes == 900_000)
    }

    @Test("a chunk that keeps failing fails the upload with a retryable error naming the object, never a token")
    func resumableUploadGivesUp() async throws {
        let google = try TestGoogle(buckets: ["relay"])
        let client = try Self.client(google)
        let policy = try GCSUploadPolicy(chunkSize: 256 * 1024, resumableThreshold: 1, chunkAttempts: 2)
        _ = try google.control("/_fake/faults", ["faults": ["503x10@upload"]])
        do {
            _ = try await Self.upload(client, "r/never", Self.bytes(300_000), policy: policy)
            Issue.record("the upload succeeded through failing chunks")
        } catch let error as ObjectStoreError {
            #expect(error.isRetryable)
            #expect(error.description.contains("gs://relay/r/never"), "\(error)")
            #expect(!error.description.contains("ya29"), "\(error)")
        }
    }

    @Test("creating only if absent: a second upload of the same name is refused as PreconditionFailed")
    func ifGenerationMatchZero() async throws {
        let google = try TestGoogle(buckets: ["relay"])
        let client = try Self.client(google)
        for policy in [GCSUploadPolicy.standard] {
            _ = try await Self.upload(client, "p/once", [1, 2, 3], policy: policy, ifGenerationMatch: 0)
            do {
                _ = try await Self.upload(client, "p/once", [4, 5, 6], policy: policy, ifGenerationMatch: 0)
                Issue.record("an existing object was replaced")
            } catch let error as ObjectStoreError {
                #expect(error.code == .preconditionFailed, "\(error)")
            }
        }
        #expect(try await Self.download(client, "p/once") == [1, 2, 3])
    }

    @Test("a token the service stopped accepting is replaced once (401), from the metadata server")
    func expiredTokenIsRefreshed() async throws {
        let google = try TestGoogle(buckets: ["relay"])
        let client = try Self.client(google, identity: .metadataServer(host: google.metadataHost))
        _ = try await Self.upload(client, "t/one", [1], policy: .standard)
        // The fake's clock moves past the token's hour; the client's cache still believes in it.
        _ = try google.control("/_fake/clock", ["offsetSeconds": 7200])
        #expect(try await Self.download(client, "t/one") == [1])
        #expect(try google.requests("metadata") == 2)
    }

    @Test("a bucket name Cloud Storage would refuse is refused before any request")
    func bucketNames() throws {
        let tokens = GoogleAccessTokens(identity: .metadataServer(host: "127.0.0.1:9"), client: .shared)
        for name in ["ab", "Upper", "-dash", "under_", "a/b", String(repeating: "a", count: 64)] {
            #expect(throws: ObjectStoreError.self) { try GCSClient(bucket: name, tokens: tokens) }
        }
        for name in ["abc", "my-bucket_1", "a.b.c", String(repeating: "a", count: 63)] {
            #expect(throws: Never.self) { try GCSClient(bucket: name, tokens: tokens) }
        }
    }
}
