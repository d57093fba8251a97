import ControlPlaneStorage
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Metadata
import NIOCore
import OutpostProtocol
import OutpostTesting
import Testing

@testable import ControlPlane

@Suite("Upload grants")
struct UploadGrantTests {
    static let checksumHeader = "x-outpost-sha256"
    static let sha = String(repeating: "ab", count: 32)

    @Test("a grant is a signed PUT URL on the public address, bound to the file, with its headers and expiry")
    func grantShape() async throws {
        try await DeliveryHarness.serve(
            setup: .router, configure: { $0.publicBaseURL = "https://outpost.example.com/" }
        ) { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            let response = try await client.requestGrants(
                harness, assignment,
                files: [
                    .init(path: "manifest.json", bytes: 2, sha256: Self.sha),
                    .init(path: "records-00001.jsonl.gz", bytes: 0, sha256: Self.sha),
                ])
            #expect(response.status == .ok)
            let grants = try response.decode(UploadGrantResponse.self).grants
            #expect(grants.map(\.path) == ["manifest.json", "records-00001.jsonl.gz"])
            let grant = grants[0]
            #expect(grant.method == "PUT")
            #expect(grant.headers == ["Content-Length": "2", Self.checksumHeader: Self.sha])
            #expect(grant.expiresAt == harness.clock.now.adding(seconds: 600).rfc3339)
            let expires = harness.clock.now.milliseconds / 1000 + 600
            #expect(
                grant.url.hasPrefix(
                    "https://outpost.example.com/v1/blobs/\(assignment.runId)/manifest.json?tenant="
                        + "\(harness.tenantA.tenant.id)&bytes=2&sha256=\(Self.sha)&expires=\(expires)&signature="))
        }
    }

    static let badFiles: [(UploadGrantRequest.File, String)] = [
        (.init(path: "../manifest.json", bytes: 1, sha256: sha), "files[0].path"),
        (.init(path: "a/b.jsonl.gz", bytes: 1, sha256: sha), "files[0].path"),
        (.init(path: ".hidden", bytes: 1, sha256: sha), "files[0].path"),
        (.init(path: "", bytes: 1, sha256: sha), "files[0].path"),
        (.init(path: "with space.gz", bytes: 1, sha256: sha), "files[0].path"),
        (.init(path: String(repeating: "a", count: 256), bytes: 1, sha256: sha), "files[0].path"),
        (.init(path: "records-00001.jsonl.gz", bytes: -1, sha256: sha), "files[0].bytes"),
        (.init(path: "records-00001.jsonl.gz", bytes: 1001, sha256: sha), "files[0].bytes"),
        (.init(path: "records-00001.jsonl.gz", bytes: 1, sha256: sha.uppercased()), "files[0].sha256"),
        (.init(path: "records-00001.jsonl.gz", bytes: 1, sha256: "abc"), "files[0].sha256"),
    ]

    @Test("grant requests with an unsafe name, a bad size or checksum, or too many files are refused")
    func invalidGrantRequests() async throws {
        try await DeliveryHarness.serve(setup: .router, configure: { $0.maximumUploadFileBytes = 1000 }) {
            harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            for (file, field) in Self.badFiles {
                let response = try await client.requestGrants(harness, assignment, files: [file])
                #expect(response.status == .badRequest, "\(file)")
                #expect(response.problem?.field == field, "\(file)")
            }
            let valid = UploadGrantRequest.File(path: "manifest.json", bytes: 1, sha256: Self.sha)
            let empty = try await client.requestGrants(harness, assignment, files: [])
            #expect(empty.problem?.field == "files")
            let repeated = try await client.requestGrants(harness, assignment, files: [valid, valid])
            #expect(repeated.problem?.field == "files[1].path")
            let many = (0...1000).map {
                UploadGrantRequest.File(path: "records-\($0).jsonl.gz", bytes: 1, sha256: Self.sha)
            }
            let tooMany = try await client.requestGrants(harness, assignment, files: many)
            #expect(tooMany.status == .badRequest)
            #expect(tooMany.problem?.field == "files")
            let atLimit = try await client.requestGrants(harness, assignment, files: Array(many.prefix(1000)))
            #expect(atLimit.status == .ok)
        }
    }

    @Test("grants are fenced by the lease like every run call")
    func grantsNeedTheCurrentLease() async throws {
        try await DeliveryHarness.serve(setup: .router) { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            var assignment = try await client.startRun(harness, connectionId: connection.id)
            let file = UploadGrantRequest.File(path: "manifest.json", bytes: 1, sha256: Self.sha)
            assignment.leaseId += 1
            let stale = try await client.requestGrants(harness, assignment, files: [file])
            #expect(stale.status == .conflict)
            #expect(stale.problem?.error == "stale_lease")
            assignment.leaseId -= 1
            // Past the TTL and the grace, until which a running run's lease is still accepted.
            harness.clock.advance(seconds: assignment.leaseTTLSeconds + harness.configuration.leaseGraceSeconds)
            let expired = try await client.requestGrants(harness, assignment, files: [file])
            #expect(expired.status == .conflict)
            let unknown = try await client.send(
                .post, AgentProtocol.Path.uploads(run: "run_unknown"), key: harness.tenantA.agent,
                json: UploadGrantRequest(leaseId: 1, files: [file]))
            #expect(unknown.status == .notFound)
        }
    }

    @Test("file names: the chunk writer's names pass, anything that could escape or needs escaping does not")
    func fileNames() {
        for name in ["manifest.json", "records-00001.jsonl.gz", "A_b-1.c", String(repeating: "a", count: 255)] {
            #expect(UploadURL.isSafeFileName(name), "\(name)")
        }
        for name in ["", ".", "..", ".manifest", "a/b", "a\\b", "a b", "a%2Fb", "ü", "a\u{0}", "a?b", "a#b"] {
            #expect(!UploadURL.isSafeFileName(name), "\(name)")
        }
        #expect(UploadURL.escape("ten_abc-1.~") == "ten_abc-1.~")
        #expect(UploadURL.escape("a&b=c d/é") == "a%26b%3Dc%20d%2F%C3%A9")
    }

    @Test("a streamed body without a length is cut off with 413 as soon as it passes the grant, and not stored")
    func streamedBodyIsCutOff() async throws {
        let directory = try TemporaryDirectory()
        let blobs = try LocalBlobStore(root: directory.path, key: [UInt8](repeating: 1, count: 32))
        let grant = UploadSigner.Grant(
            tenantId: "ten_a", runId: "run_a", path: "records-00001.jsonl.gz", bytes: 10, sha256: Self.sha,
            expires: 0)
        let pieces = [
            ByteBuffer(bytes: [UInt8](repeating: 1, count: 6)), ByteBuffer(bytes: [UInt8](repeating: 2, count: 6)),
        ]
        let body = UploadBody(base: RequestBody(asyncSequence: pieces.async), grant: grant)
        do {
            _ = try await blobs.put(key: "ten_a/run_a/records-00001.jsonl.gz", from: body)
            Issue.record("the oversized body was stored")
        } catch let error as APIError {
            #expect(error.status == .contentTooLarge)
        }
        #expect(try await blobs.exists(key: "ten_a/run_a/records-00001.jsonl.gz") == false)

        // Fewer bytes than granted, or the granted size with other content: refused at the end, never stored.
        let short = UploadBody(base: RequestBody(asyncSequence: pieces.prefix(1).async), grant: grant)
        await #expect(throws: APIError.self) {
            _ = try await blobs.put(key: "ten_a/run_a/records-00001.jsonl.gz", from: short)
        }
        let exact = [UInt8](repeating: 7, count: 10)
        let other = UploadBody(base: RequestBody(asyncSequence: [ByteBuffer(bytes: exact)].async), grant: grant)
        await #expect(throws: APIError.self) {
            _ = try await blobs.put(key: "ten_a/run_a/records-00001.jsonl.gz", from: other)
        }
        #expect(try await blobs.exists(key: "ten_a/run_a/records-00001.jsonl.gz") == false)

        var fittingGrant = grant
        fittingGrant.sha256 = Hex.encode(SHA256.hash(data: exact))
        let fitting = UploadBody(
            base: RequestBody(asyncSequence: [ByteBuffer(bytes: exact)].async), grant: fittingGrant)
        let stored = try await blobs.put(key: "ten_a/run_a/records-00001.jsonl.gz", from: fitting)
        #expect(stored.bytes == 10)
    }
}

/// An array as an async sequence.
struct AsyncArray<Element: Sendable>: AsyncSequence, Sendable {
    let elements: [Element]

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: ArraySlice<Element>
        mutating func next() async -> Element? { remaining.popFirst() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: elements[...]) }
}

extension Array where Element: Sendable {
    var async: AsyncArray<Element> { AsyncArray(elements: self) }
}

extension ArraySlice where Element: Sendable {
    var async: AsyncArray<Element> { AsyncArray(elements: Array(self)) }
}
