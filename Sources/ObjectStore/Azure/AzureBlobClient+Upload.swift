internal import Crypto
internal import Foundation

/// How `AzureBlobClient.upload` sends a blob: one Put Blob up to the threshold, blocks above it, several at once.
public struct AzureUploadPolicy: Sendable, Equatable {
    /// Bytes per block.
    public let blockSize: Int
    /// Blobs of at most this many bytes go in one Put Blob.
    public let singlePutThreshold: Int64
    /// Blocks sent at once; an upload holds at most this many blocks in memory.
    public let parallelBlocks: Int

    /// - Throws: `ObjectStoreError` `invalidArgument` outside 1 byte … 4000 MiB per block, a threshold above the
    ///   block size, or fewer than 1 or more than 16 blocks at once.
    public init(
        blockSize: Int = 8 * 1024 * 1024, singlePutThreshold: Int64 = 8 * 1024 * 1024, parallelBlocks: Int = 4
    ) throws(ObjectStoreError) {
        guard blockSize >= 1, blockSize <= 4000 * 1024 * 1024 else {
            throw ObjectStoreError(.invalidArgument, "a block is 1 byte to 4000 MiB")
        }
        guard singlePutThreshold >= 0, singlePutThreshold <= Int64(blockSize) else {
            throw ObjectStoreError(.invalidArgument, "the single-put threshold is at most the block size")
        }
        guard (1...16).contains(parallelBlocks) else {
            throw ObjectStoreError(.invalidArgument, "1 to 16 blocks are sent at once")
        }
        self.blockSize = blockSize
        self.singlePutThreshold = singlePutThreshold
        self.parallelBlocks = parallelBlocks
    }

    public static let standard = try! AzureUploadPolicy()
}

extension AzureBlobClient {
    /// The id of a blob's block `index`: base64 of `STEM-NNNNNN`, so every id of a blob has the same length, as
    /// Put Block requires.
    public static func blockId(stem: String, index: Int) -> String {
        Data("\(stem)-\(String(format: "%06d", index))".utf8).base64EncodedString()
    }

    /// Uploads `size` bytes that `read` hands over in pieces (empty at the end); above the single-put threshold,
    /// in blocks sent `policy.parallelBlocks` at a time, so memory holds at most that many blocks and the one being
    /// read. Every request carries its Content-MD5, which the service checks.
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
        let sent = try await withThrowingTaskGroup(of: Void.self, returning: Int.self) { group in
            var sent = 0
            var inFlight = 0
            while offset < size {
                let count = Int(min(Int64(policy.blockSize), size - offset))
                let id = Self.blockId(stem: stem, index: ids.count)
                let send = held[id] != Int64(count)
                // A free slot before the block is read: at most `parallelBlocks` blocks on their way.
                if send && inFlight == policy.parallelBlocks {
                    try await group.next()
                    inFlight -= 1
                }
                let block: [UInt8]
                do {
                    block = try Pieces.readExactly(count, from: read)
                    guard block.count == count else {
                        throw ObjectStoreError(.file, "\(describe(name)) ended before the \(size) bytes announced")
                    }
                } catch {
                    // The blocks already on their way are let through: a later attempt need not send them again.
                    while true {
                        do {
                            guard try await group.next() != nil else { break }
                        } catch {}
                    }
                    throw error
                }
                md5.update(data: block)
                if send {
                    group.addTask { try await self.putBlock(name: name, blockId: id, bytes: block) }
                    inFlight += 1
                    sent += 1
                }
                ids.append(id)
                offset += Int64(count)
            }
            try await group.waitForAll()
            return sent
        }
        guard try read(1).isEmpty else {
            throw ObjectStoreError(.file, "\(describe(name)) grew beyond the \(size) bytes announced")
        }
        try await putBlockList(name: name, blockIds: ids, metadata: metadata, contentMD5: Array(md5.finalize()))
        return sent
    }
}
