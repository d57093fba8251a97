import ControlPlaneStorage
import Crypto
import HTTPTypes
import Hummingbird
import Logging
import Metadata
import NIOCore
import OutpostProtocol

/// `PUT /v1/blobs/{run}/{file}`: a direct-ingestion upload into the server's blob store.
///
/// No API key: the pre-signed URL is the credential. Its signature binds tenant, run, file name, size, SHA-256 and
/// expiry, so the URL can neither be pointed at another object nor carry other content. The body is streamed into
/// the blob store (never collected), cut off as soon as it passes the granted size, and checked against the grant
/// as it streams, so a mismatching body is abandoned before the store commits it: a granted URL used again with
/// other bytes is refused and the accepted object stays. The same bytes again (an agent retrying after a lost
/// answer) are accepted, which leaves the object as it was.
struct BlobController<Store: ControlPlaneStore, Blobs: BlobStore>: Sendable {
    let store: Store
    let blobs: Blobs
    let signer: UploadSigner
    let clock: WallClock

    func addRoutes(to group: RouterGroup<ControlPlaneRequestContext>) {
        group.put("{run}/{file}", use: put)
    }

    @Sendable func put(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let runId = try context.parameters.require("run")
        let file = try context.parameters.require("file")
        guard UploadURL.isSafeFileName(file),
            let (grant, signature) = UploadURL.grant(
                runId: runId, path: file, query: { request.uri.queryParameters.get($0) }),
            signer.verify(grant, signature: signature, now: .min)
        else {
            throw APIError(
                .forbidden, "invalid_signature",
                "the upload URL's signature does not match; use the URL exactly as granted")
        }
        guard clock.now.milliseconds / 1000 < grant.expires else {
            throw APIError(.forbidden, "expired_grant", "the upload grant has expired; ask for a new one")
        }
        if let declared = request.headers[.contentLength].flatMap({ Int64($0) }), declared != grant.bytes {
            throw declared > grant.bytes
                ? APIError.uploadTooLarge(grant) : APIError.uploadSizeMismatch(grant, received: declared)
        }
        guard let checksum = request.headers[HTTPField.Name(UploadURL.checksumHeader)!] else {
            throw APIError.invalidRequest(
                "the upload must carry the \(UploadURL.checksumHeader) header it was granted with",
                field: UploadURL.checksumHeader)
        }
        guard checksum == grant.sha256 else {
            throw APIError(
                .badRequest, "checksum_mismatch",
                "the \(UploadURL.checksumHeader) header differs from the SHA-256 the upload was granted for",
                field: UploadURL.checksumHeader)
        }
        guard let run = try await store.run(tenantId: grant.tenantId, id: runId) else {
            throw APIError.notFound("no run \(runId)")
        }
        guard run.status == .leased || run.status == .running else {
            throw APIError.conflict("run \(runId) is \(run.status.rawValue): its delivery is closed to uploads")
        }

        let key = Ingestor<Store, Blobs>.blobKey(tenantId: grant.tenantId, runId: runId, file: file)
        _ = try await blobs.put(key: key, from: UploadBody(base: request.body, grant: grant))
        context.logger.debug(
            "blob.stored", metadata: ["run.id": .string(runId), "blob.file": .string(file)])
        return Response(status: .ok, headers: [.contentLength: "0"])
    }
}

extension APIError {
    /// 413: the upload passed the size its grant names.
    fileprivate static func uploadTooLarge(_ grant: UploadSigner.Grant) -> APIError {
        APIError(
            .contentTooLarge, "payload_too_large",
            "'\(grant.path)' is larger than the \(grant.bytes) bytes it was granted for; it was discarded")
    }

    /// 400: the upload has another size than its grant names.
    fileprivate static func uploadSizeMismatch(_ grant: UploadSigner.Grant, received: Int64) -> APIError {
        APIError(
            .badRequest, "size_mismatch",
            "'\(grant.path)' has \(received) bytes, not the \(grant.bytes) granted; it was discarded", field: "bytes")
    }
}

/// A request body as the blob store reads it: byte arrays, cut off with 413 once more than the granted size came,
/// and ending with an error instead of its end when fewer bytes came or their SHA-256 is not the granted one, so
/// the store abandons the object rather than committing it.
struct UploadBody: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    typealias Failure = any Error

    let base: RequestBody
    let grant: UploadSigner.Grant

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let grant: UploadSigner.Grant
        var received: Int64 = 0
        var hasher = SHA256()

        mutating func next() async throws -> [UInt8]? {
            guard let buffer = try await base.next() else {
                guard received == grant.bytes else { throw APIError.uploadSizeMismatch(grant, received: received) }
                let digest = Hex.encode(hasher.finalize())
                guard digest == grant.sha256 else {
                    throw APIError(
                        .badRequest, "checksum_mismatch",
                        "the upload arrived with SHA-256 \(digest), not the \(grant.sha256) granted; it was discarded",
                        field: "sha256")
                }
                return nil
            }
            received += Int64(buffer.readableBytes)
            guard received <= grant.bytes else { throw APIError.uploadTooLarge(grant) }
            let bytes = Array(buffer.readableBytesView)
            hasher.update(data: bytes)
            return bytes
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), grant: grant)
    }
}
