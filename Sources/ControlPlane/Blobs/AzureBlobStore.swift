internal import Crypto
public import Foundation
internal import Metadata
internal import NIOCore
public import ObjectStore

/// A `BlobStore` in an Azure Blob Storage container under a prefix, for control planes with several replicas. Azure
/// encrypts every blob at rest.
///
/// Agents upload straight into the container with a SAS bound to one blob (`sr=b`), write-only (`cw`) and
/// short-lived: a user delegation SAS under the server's Entra ID identity, or a service SAS signed with the account
/// key. A SAS cannot bind a size or a checksum, so nothing rests on the upload alone: ingestion reads every file and
/// checks its size and SHA-256 against the manifest before anything is published. `put` streams a body of unknown
/// length in blocks, holding one in memory.
public struct AzureBlobStore: CloudBlobStore, UploadPresigner {
    /// Who signs upload URLs.
    public enum Signer: Sendable {
        /// The storage account key (service SAS).
        case accountKey(AzureSharedKey)
        /// The server's Entra ID identity, through user delegation keys (the client must use bearer tokens).
        case userDelegation
    }

    public let client: AzureBlobClient
    /// Prepended to every blob key; empty or ending in `/`.
    public let prefix: String
    public let signer: Signer
    public let blockSize: Int
    let now: @Sendable () -> Date
    private let delegation = DelegationKeyCache()

    public init(
        client: AzureBlobClient, prefix: String = "", signer: Signer, blockSize: Int = 8 * 1024 * 1024,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.client = client
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.signer = signer
        self.blockSize = max(1, blockSize)
        self.now = now
    }

    /// Parses `azure://ACCOUNT/CONTAINER[/PREFIX]`.
    ///
    /// - Throws: `BlobError` `invalidKey` when the location is not of that form.
    public static func parseLocation(_ text: String) throws -> (account: String, container: String, prefix: String) {
        guard text.hasPrefix("azure://") else {
            throw BlobError(.invalidKey, "an Azure blob store is given as azure://ACCOUNT/CONTAINER[/PREFIX]")
        }
        let parts = text.dropFirst("azure://".count).split(
            separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, AzureBlobClient.isValidAccountName(String(parts[0])),
            AzureBlobClient.isValidContainerName(String(parts[1]))
        else {
            throw BlobError(.invalidKey, "azure:// names no valid storage account and container ('\(text)')")
        }
        return (String(parts[0]), String(parts[1]), parts.count > 2 ? String(parts[2].drop { $0 == "/" }) : "")
    }

    public func put(
        key: String, from source: some AsyncSequence<[UInt8], any Error> & Sendable
    ) async throws -> BlobInfo {
        let name = try objectName(key)
        var hasher = SHA256()
        var total: Int64 = 0
        var pending: [UInt8] = []
        var ids: [String] = []
        let stem = UUID().uuidString
        do {
            for try await piece in source {
                hasher.update(data: piece)
                total += Int64(piece.count)
                pending += piece
                while pending.count > blockSize {
                    let id = AzureBlobClient.blockId(stem: stem, index: ids.count)
                    try await client.putBlock(name: name, blockId: id, bytes: Array(pending[..<blockSize]))
                    pending.removeFirst(blockSize)
                    ids.append(id)
                }
            }
            if ids.isEmpty {
                try await client.putBlob(name: name, bytes: pending)
            } else {
                if !pending.isEmpty {
                    let id = AzureBlobClient.blockId(stem: stem, index: ids.count)
                    try await client.putBlock(name: name, blockId: id, bytes: pending)
                    ids.append(id)
                }
                try await client.putBlockList(name: name, blockIds: ids)
            }
        } catch {
            throw Self.blobError(error, key: key)
        }
        return BlobInfo(bytes: total, sha256: Hex.encode(hasher.finalize()))
    }

    func download(_ name: String, _ receive: (ByteBuffer) async throws -> Void) async throws {
        try await client.download(name: name, receive)
    }

    func head(_ name: String) async throws { _ = try await client.properties(name: name) }

    func remove(_ name: String) async throws { try await client.delete(name: name) }

    /// A SAS for this one blob, create and write only, from a minute ago (clock skew) to `expiresIn` seconds ahead.
    /// The upload must be a single Put Blob (`x-ms-blob-type: BlockBlob`).
    public func presignedUpload(
        key: String, bytes: Int64, sha256: String, expiresIn: Int
    ) async throws -> PresignedUpload {
        let name = try objectName(key)
        let start = now().addingTimeInterval(-60)
        let expiry = now().addingTimeInterval(TimeInterval(expiresIn))
        var sas = AzureSAS(
            permissions: "cw", start: Self.iso8601(start), expiry: Self.iso8601(expiry),
            version: AzureBlobClient.version, resource: "b")
        sas.httpsOnly = client.accountURL.hasPrefix("https://")
        let resource = AzureSAS.canonicalResource(account: client.account, container: client.container, blob: name)
        let token: String
        do {
            switch signer {
            case .accountKey(let key):
                token = sas.token(canonicalResource: resource, signedWith: key)
            case .userDelegation:
                let key = try await delegation.key(client: client, now: now())
                token = try sas.token(canonicalResource: resource, delegationKey: key)
            }
        } catch {
            throw Self.blobError(error, key: key)
        }
        return PresignedUpload(
            url: client.url(of: name) + "?" + token,
            headers: ["x-ms-blob-type": "BlockBlob", "Content-Length": String(bytes)])
    }

    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// The server's user delegation key, fetched for a day and renewed an hour before it expires.
actor DelegationKeyCache {
    private var cached: (key: AzureSAS.UserDelegationKey, renewAfter: Date)?

    func key(client: AzureBlobClient, now: Date) async throws -> AzureSAS.UserDelegationKey {
        if let cached, now < cached.renewAfter { return cached.key }
        let expiry = now.addingTimeInterval(24 * 3600)
        let key = try await client.userDelegationKey(
            start: AzureBlobStore.iso8601(now.addingTimeInterval(-60)), expiry: AzureBlobStore.iso8601(expiry))
        cached = (key, expiry.addingTimeInterval(-3600))
        return key
    }
}
