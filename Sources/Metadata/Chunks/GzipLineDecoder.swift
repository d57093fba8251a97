/// Turns a gzip-compressed JSON Lines stream, fed in arbitrary pieces, into lines.
///
/// Used wherever a chunk arrives as a stream (a file, a blob, an HTTP body) so that memory stays bounded by one
/// line, and truncation is detected: `finish()` throws unless the gzip stream ended cleanly.
public final class GzipLineDecoder {
    public let maxLineBytes: Int
    /// Decompressed bytes seen so far.
    public private(set) var uncompressedBytes: Int64 = 0
    /// Compressed bytes fed so far.
    public private(set) var compressedBytes: Int64 = 0
    private let decompressor: GzipDecompressor
    private var line: [UInt8] = []

    public init(maxLineBytes: Int = 64 * 1024 * 1024) throws {
        self.maxLineBytes = maxLineBytes
        self.decompressor = try GzipDecompressor()
    }

    /// Decompresses `compressed` and hands every complete line (without its newline) to `onLine`.
    public func feed(_ compressed: UnsafeRawBufferPointer, _ onLine: ([UInt8]) throws -> Void) throws {
        compressedBytes += Int64(compressed.count)
        try decompressor.decompress(compressed) { output in
            uncompressedBytes += Int64(output.count)
            var start = 0
            for index in 0..<output.count where output[index] == UInt8(ascii: "\n") {
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: output[start..<index]))
                start = index + 1
                try onLine(line)
                line.removeAll(keepingCapacity: true)
            }
            line.append(contentsOf: UnsafeRawBufferPointer(rebasing: output[start..<output.count]))
            guard line.count <= maxLineBytes else {
                throw MetadataError(.corruptChunk, "a line is longer than \(maxLineBytes) bytes")
            }
        }
    }

    public func feed(_ compressed: [UInt8], _ onLine: ([UInt8]) throws -> Void) throws {
        try compressed.withUnsafeBytes { try feed($0, onLine) }
    }

    /// Ends the stream: hands over a last line without a newline, and throws if the gzip data did not end.
    public func finish(_ onLine: ([UInt8]) throws -> Void) throws {
        guard decompressor.atMemberBoundary, compressedBytes > 0 else {
            throw MetadataError(.corruptChunk, "the gzip stream is truncated")
        }
        if !line.isEmpty {
            try onLine(line)
            line.removeAll()
        }
    }
}
