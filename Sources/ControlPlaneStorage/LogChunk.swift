/// One stored piece of a run's log: the bytes starting at `offset`.
struct LogChunk: Sendable, Equatable {
    var offset: Int64
    var bytes: [UInt8]

    /// Bytes `from ..< from + limit` out of `chunks`, which must be contiguous, sorted by offset, and start at or
    /// before `from` (what the stores' range queries return).
    static func slice(_ chunks: [LogChunk], from: Int64, limit: Int) -> [UInt8] {
        guard from >= 0, limit > 0 else { return [] }
        let end = self.end(from: from, limit: limit)
        var result: [UInt8] = []
        for chunk in chunks {
            let chunkEnd = chunk.offset + Int64(chunk.bytes.count)
            let lower = max(from, chunk.offset)
            let upper = min(end, chunkEnd)
            guard lower < upper else { continue }
            result.append(contentsOf: chunk.bytes[Int(lower - chunk.offset)..<Int(upper - chunk.offset)])
        }
        return result
    }

    /// `from + limit`, saturating, so a caller asking for "everything" with `Int.max` cannot overflow.
    static func end(from: Int64, limit: Int) -> Int64 {
        let (sum, overflow) = from.addingReportingOverflow(Int64(limit))
        return overflow ? .max : sum
    }

    /// What `appendLog` does with `text` at `offset` when the log holds `storedBytes` bytes.
    enum AppendDecision: Equatable {
        /// Store the chunk; the log grows to the returned offset.
        case append
        /// Already stored (or empty at the end): answer the current length without writing.
        case alreadyStored
        /// Compare with the stored bytes at `offset ..< offset + text.count`; equal means already stored.
        case compareStored
        case mismatch
    }

    static func decide(offset: Int64, count: Int, storedBytes: Int64) -> AppendDecision {
        if offset == storedBytes { return count == 0 ? .alreadyStored : .append }
        if offset >= 0, offset < storedBytes, offset + Int64(count) <= storedBytes { return .compareStored }
        return .mismatch
    }

    /// The error for an offset the store cannot accept; the agent resumes from `expected`.
    static func mismatch(runId: String, offset: Int64, expected: Int64) -> StorageError {
        StorageError(
            .offsetMismatch(expected: expected),
            "log chunk for run \(runId) at offset \(offset) does not continue the stored log; "
                + "resend from offset \(expected)")
    }
}
