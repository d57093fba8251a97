internal import AsyncHTTPClient
internal import Metadata
internal import NIOCore

/// A sealed spool file as an HTTP request body: decrypted one segment at a time as the client pulls, so an
/// upload holds one segment in memory and never writes plaintext to disk.
struct SealedFileBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let path: String
    let key: [UInt8]

    struct AsyncIterator: AsyncIteratorProtocol {
        let path: String
        let key: [UInt8]
        var reader: SealedFileReader?

        mutating func next() async throws -> ByteBuffer? {
            if reader == nil { reader = try SealedFileReader(path: path, key: key) }
            guard let segment = try reader!.next() else { return nil }
            return ByteBuffer(bytes: segment)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(path: path, key: key, reader: nil) }
}
