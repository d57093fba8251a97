/// One-shot gzip for small payloads (log chunks, request bodies), with a bound on the decompressed size so a
/// tiny "zip bomb" cannot exhaust memory.
public enum Gzip {
    /// Compresses `bytes` into one gzip member.
    public static func compress(_ bytes: [UInt8], level: Int = 6) throws -> [UInt8] {
        let compressor = try GzipCompressor(level: Int32(min(9, max(1, level))))
        var output: [UInt8] = []
        try bytes.withUnsafeBytes { input in
            try compressor.compress(input) { output.append(contentsOf: $0) }
        }
        try compressor.finish { output.append(contentsOf: $0) }
        return output
    }

    /// Decompresses one or more gzip members.
    ///
    /// - Throws: `MetadataError` with `.corruptChunk` for invalid or truncated data, `.compression` when the
    ///   output would exceed `maxOutputBytes`.
    public static func decompress(_ bytes: [UInt8], maxOutputBytes: Int) throws -> [UInt8] {
        let decompressor = try GzipDecompressor()
        var output: [UInt8] = []
        try bytes.withUnsafeBytes { input in
            try decompressor.decompress(input) { piece in
                guard output.count + piece.count <= maxOutputBytes else {
                    throw MetadataError(.compression, "gzip data expands beyond \(maxOutputBytes) bytes")
                }
                output.append(contentsOf: piece)
            }
        }
        guard decompressor.atMemberBoundary, !bytes.isEmpty else {
            throw MetadataError(.corruptChunk, "gzip data is truncated")
        }
        return output
    }
}
