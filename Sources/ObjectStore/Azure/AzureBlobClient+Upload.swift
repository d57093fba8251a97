internal import Crypto
internal import Foundation

/// How `AzureBlobClient.upload` sends a blob: one Put Blob up to the threshold, blocks above it.
public struct AzureUploadPolicy: Sendable, Equatable {
    /// Bytes per block; the memory one upload holds at most.
    public let blockSize: Int
    /// Blobs of at most this many bytes go in one Put Blob.
    public let singlePutThreshold: Int64

    /// - Throws: `ObjectStoreError` `invalidArgument` outside 1 byte … 4000 MiB per block or a threshold above the
    ///   block size.
    public init(blockSize: Int = 8 * 1024 * 1024, singlePutThreshold: Int64 = 8 * 1024 * 1024) throws(ObjectStoreError)
    {
        guard blockSize >= 1, blockSize <= 4000 * 1024 * 1024 else {
            throw ObjectStoreError(.invalidArgument, "a block is 1 byte to 4000 MiB")
        }
        guard singlePutThreshold >= 0, singlePutThreshold <= Int64(blockSize) else {
            throw ObjectStoreError(.invalidArgument, "the single-put threshold is at most the block size")
        }
        self.blockSize = blockSize
        self.singlePutThreshold = singlePutThreshold
    }

    public static let standard = try! AzureUploadPolicy()
}

extension AzureBlobClient {
    /// Uploads `size` bytes that `read` hands over in pieces (empty at the end), holding at most one block in
    /// memory; every request carries its Content-MD5, which the service checks.
    ///
    /// Block ids are derived from `contentId` (a hash of the content) and the block's index, so an upload of the
    /// same content started again (after a restart) sends only the blocks the service does not already hold
    /// uncommitted, then commits them all with the whole blob's MD5 as its property.
    ///
    /// - Returns: how many requests carried bytes (1 for a Put Blob; blocks the service held are not counted).
    /// - Throws: `ObjectStoreError`; `file` when `read` delivers more or fewer bytes than `size`.
    @discardableResult
    public func upload(
        name: String, size: Int64, contentId: String, metadata: [String: String] = [:],
        policy: AzureUploadPolicy = .standard, read: (Int) throws -> [UInt8]
    ) async throws -> Int {
        if size <= policy.singlePutThreshold {
            let bytes = try Pieces.readExactly(Int(size), from: read)
            guard bytes.count == size, try read(1).isEmpty else {
                throw ObjectStoreError(.file, "\(describe(name)) does not have the \(size) bytes announced")
            }
            try await putBlob(name: name, bytes: bytes, metadata: metadata)
            return 1
        }
        let held = try await uncommittedBlocks(name: name)
        let stem = String(contentId.prefix(32))
        var md5 = Insecure.MD5()
        var ids: [String] = []
        var offset: Int64 = 0
        var sent = 0
        while offset < size {
            let count = Int(min(Int64(policy.blockSize), size - offset))
            let block = try Pieces.readExactly(count, from: read)
            guard block.count == count else {
                throw ObjectStoreError(.file, "\(describe(name)) ended before the \(size) bytes announced")
            }
            md5.update(data: block)
            let id = Data("\(stem)-\(String(format: "%06d", ids.count))".utf8).base64EncodedString()
            if held[id] != Int64(count) {
                try await putBlock(name: name, blockId: id, bytes: block)
                sent += 1
            }
            ids.append(id)
            offset += Int64(count)
        }
        guard try read(1).isEmpty else {
            throw ObjectStoreError(.file, "\(describe(name)) grew beyond the \(size) bytes announced")
        }
        try await putBlockList(name: name, blockIds: ids, metadata: metadata, contentMD5: Array(md5.finalize()))
        return sent
    }
}
