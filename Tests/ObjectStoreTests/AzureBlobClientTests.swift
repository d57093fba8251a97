import AsyncHTTPClient
import AzureCloud
import Crypto
import Foundation
import NIOCore
import NIOSSL
import ObjectStore
import OutpostTesting
import Testing

/// The Azure Blob client against the project's fake Azure server (a FAKE proven with azure-storage-blob by its
/// self-test; it checks Entra tokens, Shared Key signatures and every Content-MD5).
@Suite("Azure Blob client against the fake Azure server", .serialized)
struct AzureBlobClientTests {
    static func tls(_ azure: TestAzure) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(azure.caBundle))
        return tls
    }

    static func client(
        _ azure: TestAzure, sharedKey: Bool = false, encryptionScope: String? = nil
    ) throws -> AzureBlobClient {
        let tls = try tls(azure)
        let authorization: AzureBlobClient.Authorization =
            sharedKey
            ? .sharedKey(try AzureSharedKey(account: TestAzure.storageAccount, base64Key: azure.accountKey))
            : .bearer(
                AzureAccessTokens(
                    identity: .managedIdentity(clientId: nil, endpoint: .imds(azure.base)), authorityHost: azure.base,
                    client: .shared, tlsConfiguration: tls))
        return try AzureBlobClient(
            account: TestAzure.storageAccount, container: "relay", accountURL: azure.blobEndpoint,
            authorization: authorization, tlsConfiguration: tls, encryptionScope: encryptionScope)
    }

    static func bytes(_ count: Int, seed: UInt32 = 5) -> [UInt8] {
        var state = seed &+ 2_463_534_242
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            return UInt8(truncatingIfNeeded: state)
        }
    }

    static func reader(_ bytes: [UInt8], failAfter limit: Int? = nil) -> (Int) throws -> [UInt8] {
        var offset = 0
        return { count in
            struct Interrupted: Error {}
            if let limit, offset >= limit { throw Interrupted() }
            let piece = Array(bytes[offset..<min(bytes.count, offset + count)])
            offset += piece.count
            return piece
        }
    }

    static func download(_ client: AzureBlobClient, _ name: String) async throws -> [UInt8] {
        var received: [UInt8] = []
        try await client.download(name: name) { received += $0.readableBytesView }
        return received
    }

    @Test("Put Blob and blocks round-trip names with spaces, '+' and unicode, with metadata, by token and Shared Key")
    func roundTrip() async throws {
        let azure = try TestAzure(containers: ["relay"])
        let policy = try AzureUploadPolicy(blockSize: 4096, singlePutThreshold: 4096)
        for sharedKey in [false, true] {
            let client = try Self.client(azure, sharedKey: sharedKey)
            let small = Self.bytes(4000)
            let large = Self.bytes(10_001, seed: 9)
            let names = ["run \(sharedKey)/small+ü.json", "run \(sharedKey)/large.json"]
            #expect(
                try await client.upload(
                    name: names[0], size: 4000, contentId: "a", metadata: ["outpost-sha256": "a"], policy: policy,
                    read: Self.reader(small)) == 1)
            #expect(
                try await client.upload(
                    name: names[1], size: 10_001, contentId: "b", metadata: ["outpost-sha256": "b"], policy: policy,
                    read: Self.reader(large)) == 3)
            #expect(try await Self.download(client, names[0]) == small)
            #expect(try await Self.download(client, names[1]) == large)
            var listed: [AzureBlob] = []
            try await client.listBlobs(prefix: "run \(sharedKey)/") { listed.append($0) }
            #expect(listed.map(\.name).sorted() == names.sorted())
            #expect(Set(listed.map { $0.metadata["outpost-sha256"] ?? "" }) == ["a", "b"])
            try await client.delete(name: names[0])
            do {
                _ = try await Self.download(client, names[0])
                Issue.record("a deleted blob was downloaded")
            } catch let error as ObjectStoreError {
                #expect(error.isNotFound, "\(error)")
            }
            try await client.delete(name: names[0])
        }
    }

    /// Every block is written under the client's encryption scope; an unknown scope is refused.
    @Test("an interrupted block upload, started again, sends only the blocks the service does not hold")
    func blocksResumeFromTheUncommittedBlockList() async throws {
        let azure = try TestAzure(containers: ["relay"], encryptionScopes: ["cmk"])
        let client = try Self.client(azure, encryptionScope: "cmk")
        // Three blocks at once: the three on their way when the read fails still arrive.
        let policy = try AzureUploadPolicy(blockSize: 1000, singlePutThreshold: 1000, parallelBlocks: 3)
        #expect(throws: ObjectStoreError.self) { try AzureUploadPolicy(parallelBlocks: 0) }
        let bytes = Self.bytes(5500)
        let sha = hexDigest(SHA256.hash(data: bytes))
        await #expect(throws: (any Error).self) {
            try await client.upload(
                name: "big", size: 5500, contentId: sha, policy: policy, read: Self.reader(bytes, failAfter: 3000))
        }
        let sent = try await client.upload(
            name: "big", size: 5500, contentId: sha, policy: policy, read: Self.reader(bytes))
        #expect(sent == 3)
        #expect(try await Self.download(client, "big") == bytes)
        let held = try azure.blobs()[TestAzure.storageAccount] as? [String: Any]
        let blobs = ((held?["containers"] as? [String: Any])?["relay"] as? [String: Any])?["blobs"] as? [String: Any]
        #expect(
            (blobs?["big"] as? [String: Any])?["encryptionScope"] as? String == "cmk", "\(String(describing: blobs))")
        let unknown = try Self.client(azure, encryptionScope: "not-defined")
        await #expect(throws: ObjectStoreError.self) { try await unknown.putBlob(name: "x", bytes: [1]) }
        #expect(throws: ObjectStoreError.self) { try Self.client(azure, encryptionScope: "a") }
    }

    @Test("refusals: a container that does not exist, a wrong account key, an endpoint on plain http elsewhere")
    func refusals() async throws {
        let azure = try TestAzure(containers: ["relay"])
        let tls = try Self.tls(azure)
        let missing = try AzureBlobClient(
            account: TestAzure.storageAccount, container: "nope", accountURL: azure.blobEndpoint,
            authorization: .sharedKey(
                try AzureSharedKey(account: TestAzure.storageAccount, base64Key: azure.accountKey)),
            tlsConfiguration: tls)
        let error = await #expect(throws: ObjectStoreError.self) { try await missing.putBlob(name: "x", bytes: [1]) }
        #expect(error?.code == .noSuchBucket, "\(String(describing: error))")
        let wrongKey = try AzureBlobClient(
            account: TestAzure.storageAccount, container: "relay", accountURL: azure.blobEndpoint,
            authorization: .sharedKey(
                try AzureSharedKey(
                    account: TestAzure.storageAccount, base64Key: Data(repeating: 1, count: 32).base64EncodedString())),
            tlsConfiguration: tls)
        let denied = await #expect(throws: ObjectStoreError.self) { try await wrongKey.putBlob(name: "x", bytes: [1]) }
        #expect(denied?.code == .accessDenied)
        #expect(denied?.description.contains("AuthenticationFailed") == true, "\(String(describing: denied))")
        #expect(throws: ObjectStoreError.self) {
            try AzureBlobClient(
                account: "acct", container: "relay", accountURL: "http://blob.example.com/acct",
                authorization: .sharedKey(try AzureSharedKey(account: "acct", base64Key: azure.accountKey)))
        }
        for (account, container) in [("Acct", "relay"), ("ab", "relay"), ("acct", "Relay"), ("acct", "a--b")] {
            #expect(throws: ObjectStoreError.self) {
                try AzureBlobClient(
                    account: account, container: container,
                    authorization: .sharedKey(try AzureSharedKey(account: account, base64Key: azure.accountKey)))
            }
        }
    }
}

private func hexDigest(_ digest: SHA256.Digest) -> String { digest.map { String(format: "%02x", $0) }.joined() }
