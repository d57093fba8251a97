internal import Crypto
internal import Foundation
internal import NIOCore

/// A local file read front to back in fixed-size pieces, for hashing and for streaming request bodies without
/// ever holding the file.
///
/// Reads are small blocking reads on the calling task; local-disk reads of a few hundred KiB at a time are short
/// enough not to starve the cooperative pool.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let path: String
    let chunkSize: Int

    init(path: String, chunkSize: Int = 256 * 1024) {
        self.path = path
        self.chunkSize = chunkSize
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let path: String
        let chunkSize: Int
        var handle: FileReader?
        var finished = false

        mutating func next() async throws -> ByteBuffer? {
            if finished { return nil }
            if handle == nil { handle = try FileReader(path: path) }
            guard let bytes = try handle?.read(upTo: chunkSize), !bytes.isEmpty else {
                finished = true
                handle = nil
                return nil
            }
            return ByteBuffer(bytes: bytes)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(path: path, chunkSize: chunkSize) }

    /// The file's size and SHA-256 (lower-case hex), in one bounded pass.
    static func sizeAndSHA256(path: String) throws -> (bytes: Int64, sha256: String) {
        let reader = try FileReader(path: path)
        var hasher = SHA256()
        var total: Int64 = 0
        while true {
            let bytes = try reader.read(upTo: 256 * 1024)
            if bytes.isEmpty { break }
            hasher.update(data: bytes)
            total += Int64(bytes.count)
        }
        return (total, hasher.finalize().hexString)
    }
}

/// A read-only file handle whose failures are `ObjectStoreError`s naming the path.
final class FileReader {
    private let handle: FileHandle
    let path: String

    init(path: String) throws(ObjectStoreError) {
        self.path = path
        do {
            handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        } catch {
            throw ObjectStoreError(.file, "cannot open \(path) for reading", underlying: error)
        }
    }

    /// Up to `count` bytes; fewer only at the end of the file, none after it.
    func read(upTo count: Int) throws(ObjectStoreError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(min(count, 1024 * 1024))
        while out.count < count {
            let data: Data?
            do {
                data = try handle.read(upToCount: count - out.count)
            } catch {
                throw ObjectStoreError(.file, "cannot read \(path)", underlying: error)
            }
            guard let data, !data.isEmpty else { break }
            out += data
        }
        return out
    }

    /// The file's current size.
    func size() throws(ObjectStoreError) -> Int64 {
        do {
            let end = try handle.seekToEnd()
            try handle.seek(toOffset: 0)
            return Int64(end)
        } catch {
            throw ObjectStoreError(.file, "cannot find the size of \(path)", underlying: error)
        }
    }

    deinit { try? handle.close() }
}

extension Sequence<UInt8> {
    /// Lower-case hex.
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in self { out += [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]] }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Reading from a `read(n)` source that may hand over fewer bytes than asked before its end.
enum Pieces {
    /// Reads until `count` bytes or the end.
    static func readExactly(_ count: Int, from read: (Int) throws -> [UInt8]) throws -> [UInt8] {
        var bytes = try read(count)
        while bytes.count < count {
            let more = try read(count - bytes.count)
            if more.isEmpty { break }
            bytes += more
        }
        return bytes
    }
}
