internal import AsyncHTTPClient
internal import Crypto
internal import Foundation
internal import GoogleCloud
internal import NIOCore
internal import NIOHTTP1

/// How `GCSClient.upload` sends an object: one multipart request up to the threshold, a resumable upload in
/// chunks above it.
public struct GCSUploadPolicy: Sendable, Equatable {
    /// Cloud Storage wants every chunk but the last to be a multiple of 256 KiB.
    public static let chunkQuantum = 256 * 1024

    /// Bytes per resumable chunk; the memory one upload holds at most.
    public let chunkSize: Int
    /// Objects of at most this many bytes go in one multipart request.
    public let resumableThreshold: Int64
    /// How often one chunk is sent before the upload fails (retryable failures only).
    public let chunkAttempts: Int

    /// Creates a policy.
    ///
    /// - Throws: `ObjectStoreError` `invalidArgument` when the chunk size is not a positive multiple of 256 KiB,
    ///   the threshold is below 1 byte or above the chunk size, or fewer than one attempt is allowed.
    public init(
        chunkSize: Int = 16 * 1024 * 1024, resumableThreshold: Int64 = 16 * 1024 * 1024, chunkAttempts: Int = 5
    ) throws(ObjectStoreError) {
        guard chunkSize >= Self.chunkQuantum, chunkSize % Self.chunkQuantum == 0 else {
            throw ObjectStoreError(.invalidArgument, "a resumable chunk is a multiple of 256 KiB")
        }
        guard resumableThreshold >= 1, resumableThreshold <= Int64(chunkSize) else {
            throw ObjectStoreError(
                .invalidArgument, "the resumable-upload threshold is between 1 byte and the chunk size")
        }
        guard chunkAttempts >= 1 else {
            throw ObjectStoreError(.invalidArgument, "a chunk is sent at least once")
        }
        self.chunkSize = chunkSize
        self.resumableThreshold = resumableThreshold
        self.chunkAttempts = chunkAttempts
    }

    /// 16 MiB chunks above 16 MiB, five attempts per chunk.
    public static let standard = try! GCSUploadPolicy()
}

/// Where the resumable session of one upload is kept between attempts, so an upload cut off (the process
/// restarted) goes on from what Cloud Storage already holds instead of starting over. The session URI lets anyone
/// who has it write that object for up to a week: keep it where only the uploader can read it.
public struct GCSSessionStore: Sendable {
    public var load: @Sendable () -> String?
    public var save: @Sendable (String) -> Void
    public var clear: @Sendable () -> Void

    public init(
        load: @escaping @Sendable () -> String?, save: @escaping @Sendable (String) -> Void,
        clear: @escaping @Sendable () -> Void
    ) {
        self.load = load
        self.save = save
        self.clear = clear
    }
}

extension GCSClient {
    /// Uploads `size` bytes that `read` hands over in pieces (`read(n)` returns up to n bytes, empty at the end),
    /// holding at most one chunk in memory.
    ///
    /// - Parameters:
    ///   - metadata: custom metadata, returned by `object(name:)` and `listObjects`.
    ///   - kmsKeyName: a Cloud KMS key (`projects/P/locations/L/keyRings/R/cryptoKeys/K`) to encrypt the object
    ///     with; nil leaves the bucket's default.
    ///   - ifGenerationMatch: a precondition on the object's generation: 0 creates it only if it does not exist
    ///     (`PreconditionFailed` otherwise).
    ///   - session: where a resumable upload keeps its session: a session found there (of the same object, size
    ///     and precondition) is asked what it holds and continued; `read` is still read from the start, the bytes
    ///     already held hashed but not sent.
    /// - Returns: the object as Cloud Storage stored it, whose size and CRC-32C were checked against what was sent.
    /// - Throws: `ObjectStoreError`; `file` when `read` delivers more or fewer bytes than `size`; `BadDigest` when
    ///   Cloud Storage holds other bytes than were sent (the object is deleted).
    @discardableResult
    public func upload(
        name: String, size: Int64, contentType: String = "application/octet-stream",
        metadata: [String: String] = [:], kmsKeyName: String? = nil, ifGenerationMatch: Int64? = nil,
        policy: GCSUploadPolicy = .standard, session: GCSSessionStore? = nil, read: (Int) throws -> [UInt8]
    ) async throws -> GCSObject {
        try await upload(
            name: name, size: size, contentType: contentType, metadata: metadata, kmsKeyName: kmsKeyName,
            ifGenerationMatch: ifGenerationMatch, policy: policy, sessionStore: session
        ) {
            let bytes = try read(policy.chunkSize)
            return bytes.isEmpty ? nil : bytes
        }
    }

    /// Uploads the pieces `next` gives (nil at the end), of a length known only at the end, holding at most one
    /// chunk in memory (a resumable upload whose size is given with its last chunk).
    ///
    /// - Returns: the object as Cloud Storage stored it, whose size and CRC-32C were checked against what was sent.
    /// - Throws: `ObjectStoreError`, or what `next` threw.
    @discardableResult
    public func upload(
        name: String, contentType: String = "application/octet-stream", metadata: [String: String] = [:],
        kmsKeyName: String? = nil, policy: GCSUploadPolicy = .standard, next: () async throws -> [UInt8]?
    ) async throws -> GCSObject {
        try await upload(
            name: name, size: nil, contentType: contentType, metadata: metadata, kmsKeyName: kmsKeyName,
            ifGenerationMatch: nil, policy: policy, sessionStore: nil, next: next)
    }

    /// Both uploads: the pieces `next` gives (nil at the end) go in one multipart request when they end within
    /// the threshold, otherwise in resumable chunks; `size`, when known, is checked and announced.
    private func upload(
        name: String, size: Int64?, contentType: String, metadata: [String: String], kmsKeyName: String?,
        ifGenerationMatch: Int64?, policy: GCSUploadPolicy, sessionStore: GCSSessionStore?,
        next: () async throws -> [UInt8]?
    ) async throws -> GCSObject {
        try Self.validate(name: name)
        var resource: [String: Any] = ["name": name, "contentType": contentType]
        if !metadata.isEmpty { resource["metadata"] = metadata }
        let query =
            (kmsKeyName.map { "&kmsKeyName=" + Self.encode($0) } ?? "")
            + (ifGenerationMatch.map { "&ifGenerationMatch=\($0)" } ?? "")
        var pending: [UInt8] = []
        var ended = false
        func fill(_ count: Int) async throws {
            while !ended && pending.count < count {
                if let piece = try await next() { pending += piece } else { ended = true }
            }
        }
        func wrongSize(_ sent: Int64) -> ObjectStoreError {
            ObjectStoreError(.file, "\(describe(name)) has \(sent) bytes or more, not the \(size ?? 0) announced")
        }
        var crc: UInt32 = 0
        var md5 = Insecure.MD5()
        try await fill(Int(policy.resumableThreshold) + 1)
        let stored: GCSObject
        if ended && pending.count <= policy.resumableThreshold {
            guard size == nil || Int64(pending.count) == size else { throw wrongSize(Int64(pending.count)) }
            crc = CRC32C.checksum(pending)
            md5.update(data: pending)
            resource["crc32c"] = Self.base64(crc)
            resource["md5Hash"] = Data(md5.finalize()).base64EncodedString()
            stored = try await multipart(name: name, resource: resource, bytes: pending, query: query)
        } else {
            let (session, held, finished) = try await resumableSession(
                name: name, resource: resource, size: size, query: query, store: sessionStore)
            // Bytes the session already holds are hashed, not sent again.
            var offset: Int64 = 0
            while offset < held {
                try await fill(policy.chunkSize)
                let count = Int(min(Int64(pending.count), held - offset))
                guard count > 0 else { throw wrongSize(offset) }
                crc = CRC32C.checksum(pending[..<count], continuing: crc)
                md5.update(data: pending[..<count])
                pending.removeFirst(count)
                offset += Int64(count)
            }
            if let finished {
                try await fill(1)
                guard pending.isEmpty, ended else { throw wrongSize(offset + Int64(pending.count)) }
                sessionStore?.clear()
                return try await verified(finished, name: name, size: size, crc: crc)
            }
            while true {
                try await fill(policy.chunkSize + 1)
                if pending.count > policy.chunkSize {
                    let chunk = Array(pending[..<policy.chunkSize])
                    pending.removeFirst(policy.chunkSize)
                    guard size.map({ offset + Int64(chunk.count) < $0 }) ?? true else { throw wrongSize(offset) }
                    crc = CRC32C.checksum(chunk, continuing: crc)
                    md5.update(data: chunk)
                    _ = try await sendChunk(
                        chunk, at: offset, total: size, session: session, name: name, hash: nil, policy: policy)
                    offset += Int64(chunk.count)
                } else {
                    let total = offset + Int64(pending.count)
                    guard size == nil || total == size else { throw wrongSize(total) }
                    crc = CRC32C.checksum(pending, continuing: crc)
                    md5.update(data: pending)
                    let hash = "crc32c=\(Self.base64(crc)),md5=\(Data(md5.finalize()).base64EncodedString())"
                    guard
                        let finished = try await sendChunk(
                            pending, at: offset, total: total, session: session, name: name, hash: hash,
                            policy: policy)
                    else {
                        throw ObjectStoreError(
                            .invalidResponse, "Cloud Storage did not finish the upload of \(describe(name))")
                    }
                    stored = finished
                    break
                }
            }
        }
        sessionStore?.clear()
        return try await verified(stored, name: name, size: size, crc: crc)
    }

    /// The stored object when its size and CRC-32C are those sent; otherwise it is deleted (`BadDigest`).
    private func verified(_ stored: GCSObject, name: String, size: Int64?, crc: UInt32) async throws -> GCSObject {
        guard size == nil || stored.bytes == size, stored.crc32c == nil || stored.crc32c == Self.base64(crc) else {
            try? await delete(name: name)
            throw ObjectStoreError(
                "BadDigest", "Cloud Storage holds other bytes under \(describe(name)) than were sent; it was deleted")
        }
        return stored
    }

    /// The resumable session to send through: the stored one when Cloud Storage still knows it (with what it
    /// holds, or the object when it completed), else a new one, stored before the first byte is sent.
    private func resumableSession(
        name: String, resource: [String: Any], size: Int64?, query: String, store: GCSSessionStore?
    ) async throws -> (session: String, held: Int64, finished: GCSObject?) {
        if let saved = store?.load(), saved.hasPrefix(endpoint + "/") {
            do {
                let state = try await sessionState(session: saved, name: name, total: size)
                if let object = state.object { return (saved, object.bytes, object) }
                return (saved, state.held, nil)
            } catch let error as ObjectStoreError where !error.isRetryable || error.code == .uploadSessionExpired {
                // Expired, cancelled or unknown: a new session.
                store?.clear()
            }
        }
        let session = try await startResumable(name: name, resource: resource, size: size, query: query)
        store?.save(session)
        return (session, 0, nil)
    }

    /// `objects.insert` with `uploadType=multipart`: the resource (with the bytes' CRC-32C and MD5, which Cloud
    /// Storage checks) and the bytes in one request.
    private func multipart(
        name: String, resource: [String: Any], bytes: [UInt8], query: String
    ) async throws -> GCSObject {
        let boundary = "outpost-" + UUID().uuidString
        var body = ByteBuffer()
        body.writeString("--\(boundary)\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n")
        body.writeBytes(try JSONSerialization.data(withJSONObject: resource, options: [.sortedKeys]))
        body.writeString("\r\n--\(boundary)\r\nContent-Type: \(resource["contentType"] ?? "")\r\n\r\n")
        body.writeBytes(bytes)
        body.writeString("\r\n--\(boundary)--\r\n")
        let response = try await send(
            .POST, uploadURL + "?uploadType=multipart" + query, operation: "objects.insert", name: name,
            headers: [("Content-Type", "multipart/related; boundary=\(boundary)")], body: body,
            timeout: .minutes(15))
        return try await Self.object(from: response, operation: "objects.insert", target: describe(name))
    }

    /// Starts a resumable upload and returns its session URI, which must be on this client's endpoint (the token
    /// goes with every chunk).
    private func startResumable(
        name: String, resource: [String: Any], size: Int64?, query: String
    ) async throws -> String {
        var body = ByteBuffer()
        body.writeBytes(try JSONSerialization.data(withJSONObject: resource, options: [.sortedKeys]))
        let response = try await send(
            .POST, uploadURL + "?uploadType=resumable" + query, operation: "objects.insert resumable", name: name,
            headers: [
                ("Content-Type", "application/json; charset=UTF-8"),
                ("X-Upload-Content-Type", resource["contentType"] as? String ?? "application/octet-stream"),
            ] + (size.map { [("X-Upload-Content-Length", String($0))] } ?? []), body: body)
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard let session = response.headers.first(name: "location"), session.hasPrefix(endpoint + "/") else {
            throw ObjectStoreError(
                .invalidResponse,
                "Cloud Storage gave no resumable session on \(endpoint) for \(describe(name))")
        }
        return session
    }

    /// Sends one chunk (`Content-Range: bytes FIRST-LAST/TOTAL`). After a retryable failure it waits, asks the
    /// session how much it holds and sends the rest of the chunk from there, up to `policy.chunkAttempts` times.
    ///
    /// - Returns: the object, when this was the last chunk and Cloud Storage completed the upload.
    private func sendChunk(
        _ chunk: [UInt8], at start: Int64, total: Int64?, session: String, name: String, hash: String?,
        policy: GCSUploadPolicy
    ) async throws -> GCSObject? {
        let end = start + Int64(chunk.count)
        var held = start
        var failures = 0
        while true {
            do {
                if held < end {
                    var headers = [("Content-Range", "bytes \(held)-\(end - 1)/\(total.map(String.init) ?? "*")")]
                    if let hash { headers.append(("X-Goog-Hash", hash)) }
                    let response = try await send(
                        .PUT, session, operation: "resumable upload", name: name, headers: headers,
                        body: ByteBuffer(bytes: chunk[Int(held - start)...]), timeout: .minutes(5))
                    if response.status.code != 308 {
                        return try await Self.object(
                            from: response, operation: "resumable upload", target: describe(name))
                    }
                    _ = try? await response.body.collect(upTo: 64 * 1024)
                    let now = Self.heldBytes(response.headers)
                    guard now > held else { throw Self.noProgress(describe(name), at: held) }
                    held = now
                    if held >= end, hash == nil { return nil }
                } else {
                    let state = try await sessionState(session: session, name: name, total: total)
                    guard let object = state.object else { throw Self.noProgress(describe(name), at: held) }
                    return object
                }
            } catch let error as ObjectStoreError where error.isRetryable && error.code != .uploadSessionExpired {
                failures += 1
                guard failures < policy.chunkAttempts else { throw error }
                try await Task.sleep(for: retryDelay * (1 << min(failures - 1, 6)))
                do {
                    let state = try await sessionState(session: session, name: name, total: total)
                    if let object = state.object { return object }
                    guard state.held >= start, state.held <= end else {
                        throw ObjectStoreError(
                            .invalidResponse,
                            "the resumable session of \(describe(name)) holds \(state.held) bytes, outside the chunk "
                                + "\(start)–\(end) being sent")
                    }
                    held = state.held
                } catch let error as ObjectStoreError where error.isRetryable {
                    continue
                }
            }
        }
    }

    /// Asks the session what it holds (`Content-Range: bytes */TOTAL`, no body): the object once complete,
    /// otherwise the number of bytes held.
    private func sessionState(
        session: String, name: String, total: Int64?
    ) async throws -> (object: GCSObject?, held: Int64) {
        let response = try await send(
            .PUT, session, operation: "resumable upload status", name: name,
            headers: [("Content-Range", "bytes */\(total.map(String.init) ?? "*")")])
        guard response.status.code == 308 else {
            let object = try await Self.object(
                from: response, operation: "resumable upload status", target: describe(name))
            return (object, object.bytes)
        }
        _ = try? await response.body.collect(upTo: 64 * 1024)
        return (nil, Self.heldBytes(response.headers))
    }

    /// The bytes a session holds, from its `Range: bytes=0-LAST` (none: 0).
    static func heldBytes(_ headers: HTTPHeaders) -> Int64 {
        guard let range = headers.first(name: "range"), range.hasPrefix("bytes=0-"),
            let last = Int64(range.dropFirst("bytes=0-".count))
        else { return 0 }
        return last + 1
    }

    static func noProgress(_ target: String, at offset: Int64) -> ObjectStoreError {
        ObjectStoreError(.invalidResponse, "the resumable upload of \(target) made no progress past byte \(offset)")
    }

    /// Base64 of a CRC-32C in big-endian order, as Cloud Storage writes it.
    static func base64(_ crc: UInt32) -> String {
        Data([UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)])
            .base64EncodedString()
    }
}
