internal import CZlib

/// A streaming gzip (RFC 1952) compressor over zlib's deflate.
///
/// Not thread-safe; one compressor per chunk. The zlib stream lives on the heap so its address stays fixed,
/// as zlib requires between calls.
final class GzipCompressor {
    private let stream: UnsafeMutablePointer<z_stream>
    private var outputBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var finished = false

    /// - Parameter level: 1 (fastest) … 9 (smallest).
    init(level: Int32) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 15 window bits + 16 selects the gzip wrapper; 8 is zlib's default memory level.
        let status = deflateInit2_(
            stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
            Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw MetadataError(.compression, "cannot start gzip compression (zlib status \(status))")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses `input`, handing every piece of compressed output to `emit`.
    func compress(_ input: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        try run(input, flush: Z_NO_FLUSH, emit: emit)
    }

    /// Ends the gzip member (writes the trailer with CRC-32 and length).
    func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !finished else { return }
        finished = true
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH, emit: emit)
    }

    private func run(
        _ input: UnsafeRawBufferPointer, flush: Int32, emit: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        stream.pointee.next_in = UnsafeMutablePointer(
            mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = UInt32(input.count)
        let capacity = outputBuffer.count
        try outputBuffer.withUnsafeMutableBytes { output in
            while true {
                stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = UInt32(capacity)
                let status = deflate(stream, flush)
                guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                    throw MetadataError(.compression, "gzip compression failed (zlib status \(status))")
                }
                let produced = capacity - Int(stream.pointee.avail_out)
                if produced > 0 {
                    try emit(UnsafeRawBufferPointer(rebasing: output[0..<produced]))
                }
                if flush == Z_FINISH {
                    if status == Z_STREAM_END { break }
                } else if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 {
                    break
                }
            }
        }
        stream.pointee.next_in = nil
    }
}

/// A streaming gzip decompressor that accepts concatenated members and detects truncation.
public final class GzipDecompressor {
    private let stream: UnsafeMutablePointer<z_stream>
    private var outputBuffer = [UInt8](repeating: 0, count: 256 * 1024)
    /// True between the end of one member and the start of the next: a clean place for input to end.
    public private(set) var atMemberBoundary = true

    /// - Throws: `MetadataError` `.compression` when zlib cannot start.
    public init() throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = inflateInit2_(stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw MetadataError(.compression, "cannot start gzip decompression (zlib status \(status))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Decompresses `input`, handing every piece of output to `emit`.
    public func decompress(_ input: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard input.count > 0 else { return }
        stream.pointee.next_in = UnsafeMutablePointer(
            mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = UInt32(input.count)
        let capacity = outputBuffer.count
        try outputBuffer.withUnsafeMutableBytes { output in
            while true {
                if stream.pointee.avail_in > 0 { atMemberBoundary = false }
                stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = UInt32(capacity)
                let status = inflate(stream, Z_NO_FLUSH)
                let produced = capacity - Int(stream.pointee.avail_out)
                if produced > 0 {
                    try emit(UnsafeRawBufferPointer(rebasing: output[0..<produced]))
                }
                switch status {
                case Z_STREAM_END:
                    atMemberBoundary = true
                    guard inflateReset(stream) == Z_OK else {
                        throw MetadataError(.corruptChunk, "gzip stream could not be reset after a member")
                    }
                    if stream.pointee.avail_in == 0 { return }
                case Z_OK:
                    if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 { return }
                case Z_BUF_ERROR where produced == 0:
                    return
                default:
                    throw MetadataError(.corruptChunk, "gzip data is corrupt (zlib status \(status))")
                }
            }
        }
        stream.pointee.next_in = nil
    }
}
