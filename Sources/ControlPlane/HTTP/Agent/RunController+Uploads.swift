import ControlPlaneStorage
import Hummingbird
import Logging
import OutpostProtocol

extension RunController {
    /// The most files one grant request may name.
    static var maximumFilesPerGrantRequest: Int { 1000 }

    /// `POST /v1/runs/{id}/uploads`: a batch of pre-signed upload URLs for direct ingestion, one per file, each bound
    /// to the tenant, run, file name, exact size and SHA-256, and expiring after `uploadGrantSeconds`: the server's
    /// own HMAC-signed URLs, or SigV4 URLs straight into the bucket when the blob store is S3.
    ///
    /// Fenced by the lease like every run call. Asking again (say, after a grant expired) simply signs again. Every
    /// grant is recorded, so the run's total stays within `RunLimits.maxUploadBytes` across requests and what it
    /// uploaded outside its accepted delivery is removed when it ends (`DeliveryJanitor`).
    @Sendable func uploads(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(UploadGrantRequest.self)
        let identity = try context.requireIdentity()
        let runId = try context.parameters.require("id")
        try Self.check(
            body, maximumFileBytes: configuration.maximumUploadFileBytes,
            maximumTotalBytes: configuration.runLimits.maxUploadBytes)
        let now = clock.now
        guard let run = try await store.run(tenantId: identity.tenantId, id: runId) else {
            throw APIError.notFound("no run \(runId)")
        }
        let agent = try Self.callingAgent(request)
        guard
            Self.isActive(run, leaseId: body.leaseId, at: now, runningGraceSeconds: configuration.leaseGraceSeconds),
            Self.isHeld(run, by: agent)
        else {
            throw APIError.staleLease(runId: runId)
        }
        // The limit holds for the run as a whole, however many requests ask (a file granted again counts once).
        let limit = configuration.runLimits.maxUploadBytes
        guard
            try await store.recordUploadGrants(
                tenantId: identity.tenantId, runId: runId, files: body.files.map { ($0.path, $0.bytes) }, limit: limit)
                != nil
        else {
            throw APIError(
                .contentTooLarge, "payload_too_large",
                "the run's uploads would exceed \(limit) bytes in all; a run delivers at most that much")
        }

        let expires = now.milliseconds / 1000 + Int64(configuration.uploadGrantSeconds)
        let expiresAt = Timestamp(milliseconds: expires * 1000).rfc3339
        let baseURL = address.baseURL
        var grants: [UploadGrantResponse.Grant] = []
        for file in body.files {
            if let presigner {
                // Straight into the blob store's bucket, bound to the object, its size and its checksum.
                let upload = try await presigner.presignedUpload(
                    key: DeliveryBlobKey.make(tenantId: identity.tenantId, runId: runId, file: file.path),
                    bytes: file.bytes, sha256: file.sha256, expiresIn: configuration.uploadGrantSeconds)
                grants.append(
                    UploadGrantResponse.Grant(
                        path: file.path, method: "PUT", url: upload.url, headers: upload.headers,
                        expiresAt: expiresAt))
                continue
            }
            let grant = UploadSigner.Grant(
                tenantId: identity.tenantId, runId: runId, path: file.path, bytes: file.bytes, sha256: file.sha256,
                expires: expires)
            grants.append(
                UploadGrantResponse.Grant(
                    path: file.path, method: "PUT",
                    url: UploadURL.make(baseURL: baseURL, grant: grant, signature: signer.signature(for: grant)),
                    headers: ["Content-Length": String(file.bytes), UploadURL.checksumHeader: file.sha256],
                    expiresAt: expiresAt))
        }
        context.logger.debug(
            "run.uploads_granted",
            metadata: ["run.id": .string(runId), "upload.files": .stringConvertible(grants.count)])
        return try JSONResponse<UploadGrantResponse>.make(UploadGrantResponse(grants: grants), status: .ok)
    }

    static func check(_ body: UploadGrantRequest, maximumFileBytes: Int64, maximumTotalBytes: Int64) throws {
        guard !body.files.isEmpty else { throw APIError.invalidRequest("name at least one file", field: "files") }
        guard body.files.count <= maximumFilesPerGrantRequest else {
            throw APIError.invalidRequest(
                "at most \(maximumFilesPerGrantRequest) files per request; ask in batches", field: "files")
        }
        var seen = Set<String>()
        var total: Int64 = 0
        for (index, file) in body.files.enumerated() {
            guard UploadURL.isSafeFileName(file.path) else {
                throw APIError.invalidRequest(
                    "a file name is 1–\(UploadURL.maximumFileNameBytes) letters, digits, '.', '_' or '-', not "
                        + "starting with '.' (manifest.json, records-00001.jsonl.gz)",
                    field: "files[\(index)].path")
            }
            guard seen.insert(file.path).inserted else {
                throw APIError.invalidRequest("'\(file.path)' is named twice", field: "files[\(index)].path")
            }
            guard file.bytes >= 0 else {
                throw APIError.invalidRequest("must not be negative", field: "files[\(index)].bytes")
            }
            guard file.bytes <= maximumFileBytes else {
                throw APIError.invalidRequest(
                    "'\(file.path)' is larger than the \(maximumFileBytes) bytes this server accepts per file; "
                        + "write smaller chunks", field: "files[\(index)].bytes")
            }
            guard isSHA256(file.sha256) else {
                throw APIError.invalidRequest("must be a lower-case hex SHA-256", field: "files[\(index)].sha256")
            }
            total += file.bytes
        }
        guard total <= maximumTotalBytes else {
            throw APIError.invalidRequest(
                "the files add up to \(total) bytes; a run may upload at most \(maximumTotalBytes)", field: "files")
        }
    }
}
