internal import AsyncHTTPClient
internal import Crypto
internal import Foundation
internal import Logging
internal import Metadata
internal import NIOCore
internal import NIOHTTP1
internal import OutpostProtocol

/// Direct ingestion: asks the control plane for upload grants in batches and PUTs each spooled file, decrypted
/// on the fly, to its pre-signed URL.
///
/// Files the control plane accepted are recorded in the run's state, so a resumed delivery sends only the rest.
/// A grant that expired (or is refused as expired) is requested again.
struct DirectDelivery: Sendable {
    static let batchSize = 50

    let client: ControlPlaneClient
    let network: OutboundNetwork
    let tracker: RunTracker
    let folder: String
    let key: [UInt8]
    /// Hosts besides the control plane's that uploads may go to (the local policy's `allowedHosts`).
    let allowedHosts: [String]
    let logger: Logger

    /// One file to upload, as the grant request names it.
    struct Item: Sendable {
        var file: UploadGrantRequest.File
        var localPath: String
    }

    /// What the run delivers: every chunk the manifest lists, then the manifest itself.
    static func items(folder: String, key: [UInt8]) throws -> [Item] {
        let manifest = try ExtractionFolder(path: folder, sealingKey: key).readManifest()
        let manifestPath = folder + "/" + MetadataFormat.manifestFileName
        let manifestBytes = try SealedFile.readAll(path: manifestPath, key: key, limit: 64 * 1024 * 1024)
        var items = manifest.files.map {
            Item(
                file: .init(path: $0.path, bytes: $0.bytes, sha256: $0.sha256), localPath: folder + "/" + $0.path)
        }
        items.append(
            Item(
                file: .init(
                    path: MetadataFormat.manifestFileName, bytes: Int64(manifestBytes.count),
                    sha256: Hex.encode(SHA256.hash(data: manifestBytes))),
                localPath: manifestPath))
        return items
    }

    /// Uploads every file not yet delivered.
    ///
    /// - Throws: `AgentError` — retryable while the control plane or the upload target is unreachable,
    ///   `.delivery` when a file is refused for good.
    func deliver() async throws {
        let runId = await tracker.runId
        let leaseId = await tracker.leaseId
        let delivered = Set(await tracker.state.delivered)
        let pending = try Self.items(folder: folder, key: key).filter { !delivered.contains($0.file.path) }
        logger.info(
            "delivery.uploading",
            metadata: [
                "run.id": "\(runId)", "delivery.files": "\(pending.count)",
                "delivery.bytes": "\(pending.reduce(Int64(0)) { $0 + $1.file.bytes })",
            ])
        var index = 0
        while index < pending.count {
            let batch = Array(pending[index..<min(index + Self.batchSize, pending.count)])
            try await upload(batch, runId: runId, leaseId: leaseId)
            index += batch.count
        }
    }

    private func upload(_ batch: [Item], runId: String, leaseId: Int64) async throws {
        var remaining = batch
        var regrants = 0
        while !remaining.isEmpty {
            let response = try await client.uploadGrants(
                runId: runId, UploadGrantRequest(leaseId: leaseId, files: remaining.map(\.file)))
            let grants = Dictionary(response.grants.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
            var expired: [Item] = []
            for item in remaining {
                guard let grant = grants[item.file.path] else {
                    throw AgentError(.delivery, "the control plane granted no upload for \(item.file.path)")
                }
                if Self.isExpired(grant.expiresAt) {
                    expired.append(item)
                    continue
                }
                switch try await put(item, grant: grant) {
                case .accepted:
                    try await tracker.update { $0.delivered.append(item.file.path) }
                case .grantRefused:
                    expired.append(item)
                }
            }
            if !expired.isEmpty {
                regrants += 1
                guard regrants <= 5 else {
                    throw AgentError(.delivery, "upload grants kept expiring before use; the clock may be skewed")
                }
                logger.info("delivery.regrant", metadata: ["run.id": "\(runId)", "files": "\(expired.count)"])
            }
            remaining = expired
        }
    }

    private enum PutOutcome {
        case accepted
        /// 401/403: the grant expired or its signature no longer holds — ask for a new one.
        case grantRefused
    }

    private func put(_ item: Item, grant: UploadGrantResponse.Grant) async throws -> PutOutcome {
        try checkEgress(grant.url)
        var request = HTTPClientRequest(url: grant.url)
        request.method = HTTPMethod(rawValue: grant.method)
        for (name, value) in grant.headers where name.lowercased() != "content-length" {
            request.headers.add(name: name, value: value)
        }
        request.body = .stream(SealedFileBody(path: item.localPath, key: key), length: .known(item.file.bytes))
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await network.client(forURL: grant.url).execute(request, timeout: .minutes(15))
            body = try await response.body.collect(upTo: 64 * 1024)
        } catch let error as MetadataError {
            throw AgentError(.io, "cannot read \(item.file.path) from the spool: \(error)")
        } catch {
            throw AgentError(
                .unavailable, "uploading \(item.file.path) failed: \(ControlPlaneClient.describe(error))")
        }
        let status = Int(response.status.code)
        if (200..<300).contains(status) { return .accepted }
        if status == 401 || status == 403 { return .grantRefused }
        let problem = try? JSONDecoder().decode(ProblemResponse.self, from: Data(body.readableBytesView))
        let message = problem?.message ?? String(decoding: body.readableBytesView.prefix(300), as: UTF8.self)
        if status == 408 || status == 429 || status >= 500 {
            throw AgentError(.unavailable, "uploading \(item.file.path) answered \(status): \(message)", status: status)
        }
        throw AgentError(.delivery, "uploading \(item.file.path) was refused (\(status)): \(message)", status: status)
    }

    /// Upload URLs come from the control plane, so they are held to the local policy like everything else: the
    /// control plane's own host, or a host in `policy.allowedHosts` (an S3 blob store's endpoint).
    private func checkEgress(_ url: String) throws {
        guard let components = URLComponents(string: url), let host = components.plainHost,
            ["http", "https"].contains(components.scheme?.lowercased() ?? "")
        else {
            throw AgentError(.delivery, "the control plane granted an upload URL that is not http(s)")
        }
        if host.lowercased() == client.host.lowercased() { return }
        let port = components.port ?? (components.scheme?.lowercased() == "http" ? 80 : 443)
        let decision = try EgressPolicy(allowedHosts: allowedHosts, allowedSources: []).checkHost(
            host: host, port: port)
        guard decision.allowed else {
            throw AgentError(
                .policyDenied,
                "the control plane asked for uploads to \(host):\(port), which the agent's local policy refuses "
                    + "(add it to policy.allowedHosts if it is your control plane's blob store)")
        }
    }

    /// A grant counts as expired a few seconds early, so it cannot run out mid-upload because of clock skew.
    static func isExpired(_ text: String) -> Bool {
        guard let date = Timestamps.parse(text) else { return false }
        return date.timeIntervalSinceNow < 5
    }
}
