import AsyncHTTPClient
import AzureCloud
import ControlPlane
import ControlPlaneStorage
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Metadata
import NIOCore
import NIOHTTP1
import NIOSSL
import ObjectStore
import OutpostProtocol
import OutpostTesting
import Testing

/// The control plane's Azure blob store against the project's fake Azure server (a FAKE proven with
/// azure-storage-blob by its self-test; it checks Entra tokens, Shared Key, service and user delegation SAS): the
/// store itself, and direct ingestion end to end through SAS upload URLs.
@Suite("Azure blob store", .serialized)
struct AzureBlobStoreTests {
    static func tls(_ azure: TestAzure) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(azure.caBundle))
        return tls
    }

    /// A store with the account key (service SAS), or under the managed identity (user delegation SAS).
    static func store(
        _ azure: TestAzure, delegated: Bool = false, now: @escaping @Sendable () -> Date = { Date() }
    ) throws -> AzureBlobStore {
        let tls = try tls(azure)
        let key = try AzureSharedKey(account: TestAzure.storageAccount, base64Key: azure.accountKey)
        let authorization: AzureBlobClient.Authorization =
            delegated
            ? .bearer(
                AzureAccessTokens(
                    identity: .managedIdentity(clientId: nil, endpoint: .imds(azure.base)), authorityHost: azure.base,
                    client: .shared, tlsConfiguration: tls))
            : .sharedKey(key)
        return AzureBlobStore(
            client: try AzureBlobClient(
                account: TestAzure.storageAccount, container: "blobs", accountURL: azure.blobEndpoint,
                authorization: authorization, tlsConfiguration: tls),
            prefix: "cp", signer: delegated ? .userDelegation : .accountKey(key), blockSize: 64 * 1024, now: now)
    }

    @Test("put streams small and block bodies under the prefix; read, exists and delete follow")
    func roundTrip() async throws {
        let azure = try TestAzure(containers: ["blobs"])
        for delegated in [false, true] {
            let store = try Self.store(azure, delegated: delegated)
            for size in [0, 1000, 200_000] {
                let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
                let key = "ten/run/\(delegated)-\(size)"
                let info = try await store.put(key: key, from: Pieces(bytes: bytes, size: 30_000))
                #expect(info == BlobInfo(bytes: Int64(size), sha256: Hex.encode(SHA256.hash(data: bytes))))
                var read: [UInt8] = []
                try await store.read(key: key) { read += $0 }
                #expect(read == bytes)
            }
            #expect(try await store.exists(key: "ten/run/\(delegated)-1000"))
            try await store.delete(key: "ten/run/\(delegated)-1000")
            #expect(try await !store.exists(key: "ten/run/\(delegated)-1000"))
        }
        #expect(try AzureBlobStore.parseLocation("azure://acct1/blobs/cp/x") == ("acct1", "blobs", "cp/x"))
        for bad in ["azure://acct1", "azure://Acct/blobs", "gs://acct1/blobs", "azure://acct1/Blobs"] {
            #expect(throws: BlobError.self) { try AzureBlobStore.parseLocation(bad) }
        }
    }

    /// Each grant is a SAS for one blob, create/write only; it cannot read, write another blob or be altered, and
    /// one already expired is refused. The run is published from what the agent uploaded.
    @Test(arguments: [false, true])
    func directIngestionEndToEnd(delegated: Bool) async throws {
        let azure = try TestAzure(containers: ["blobs"])
        let store = try Self.store(azure, delegated: delegated)
        let tls = try Self.tls(azure)
        try await DeliveryHarness.serve(blobs: { _ in store }) { harness, client in
            let (assignment, files) = try await client.startOrdersRun(harness)
            let grants = try await client.grants(harness, assignment, for: files)
            func send(
                _ method: HTTPMethod, _ url: String, _ headers: [String: String], _ body: [UInt8]
            ) async throws
                -> UInt
            {
                var request = HTTPClientRequest(url: url)
                request.method = method
                request.tlsConfiguration = tls
                for (name, value) in headers where name != "Content-Length" {
                    request.headers.add(name: name, value: value)
                }
                if method == .PUT { request.body = .bytes(ByteBuffer(bytes: body)) }
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                _ = try await response.body.collect(upTo: 64 * 1024)
                return response.status.code
            }
            for (index, (file, grant)) in zip(files, grants).enumerated() {
                let url = try #require(URLComponents(string: grant.url))
                #expect(grant.url.hasPrefix("\(azure.blobEndpoint)/blobs/cp/"))
                let query = Dictionary(uniqueKeysWithValues: (url.queryItems ?? []).map { ($0.name, $0.value ?? "") })
                #expect(query["sr"] == "b")
                #expect(query["sp"] == "cw")
                #expect(query["spr"] == "https")
                #expect((query["skoid"] != nil) == delegated)
                #expect(grant.headers["x-ms-blob-type"] == "BlockBlob")
                if index == 0 {
                    let elsewhere = grant.url.replacingOccurrences(of: "/\(file.path)?", with: "/other.json?")
                    #expect(try await send(.PUT, elsewhere, grant.headers, file.bytes) == 403)
                    // The holder widens its permissions: the signature no longer matches.
                    let tampered = grant.url.replacingOccurrences(of: "sp=cw", with: "sp=cwd")
                    #expect(tampered != grant.url)
                    #expect(try await send(.PUT, tampered, grant.headers, file.bytes) == 403)
                    #expect(try await send(.GET, grant.url, [:], []) == 403)
                }
                #expect(try await send(.PUT, grant.url, grant.headers, file.bytes) == 201)
            }
            // A grant signed two hours ago for fifteen minutes.
            let stale = try Self.store(azure, delegated: delegated, now: { Date().addingTimeInterval(-7200) })
            let expired = try await stale.presignedUpload(
                key: "\(harness.tenantA.tenant.id)/\(assignment.runId)/late.json", bytes: 1,
                sha256: String(repeating: "0", count: 64),
                expiresIn: 900)
            #expect(try await send(.PUT, expired.url, expired.headers, [1]) == 403)

            let completed = try await client.complete(harness, assignment)
            #expect(completed.status == .ok)
            let run = try await harness.finishedRun(assignment.runId)
            #expect(run.status == .succeeded, "\(run.error ?? "")")
            let found = try await client.search(harness, "q=orders")
            #expect(found.map(\.qualifiedName) == ["wh/d/s/orders"])
        }
    }
}
