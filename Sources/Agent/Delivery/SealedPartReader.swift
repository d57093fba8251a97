internal import Metadata

/// Reads a sealed spool file's plaintext in pieces of any size, decrypting one segment at a time, for uploads
/// that want parts of their own size (S3 multipart).
final class SealedPartReader {
    private let reader: SealedFileReader
    private var pending: [UInt8] = []
    private var ended = false

    init(path: String, key: [UInt8]) throws {
        reader = try SealedFileReader(path: path, key: key)
    }

    /// Up to `count` bytes; empty at the end.
    func read(upTo count: Int) throws -> [UInt8] {
        while pending.count < count && !ended {
            if let segment = try reader.next() { pending += segment } else { ended = true }
        }
        let taken = Array(pending.prefix(count))
        pending.removeFirst(taken.count)
        return taken
    }
}
