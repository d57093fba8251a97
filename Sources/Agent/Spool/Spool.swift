internal import Crypto
public import Metadata
internal import Synchronization

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// The agent's on-disk, encrypted store of everything the control plane has not yet acknowledged: per run, its
/// state (what the agent must still do after a restart), its extracted files and its job log.
///
/// Layout: `directory/runs/<runId>/{state.sealed, files/, logs/}`. Every byte is sealed with the spool key
/// (AES-256-GCM): the state as a sealed file replaced atomically, the files as sealed chunks and manifest written
/// by the job process (`ExtractionFolder(path: filesDirectory(runId:), sealingKey: key)`), the log as segments of
/// sealed records bound to their run and offset. Nothing is ever on disk in the clear, and a modified, reordered
/// or truncated file is reported as `.corrupt` instead of being read.
///
/// Log appends are refused with `.full` once the spool's total size would exceed its cap (the caller counts the
/// dropped bytes); state writes are small and always allowed so progress can still be recorded. Log appends are
/// written without fsync: after a crash, a torn last record is dropped when the log is next opened. Thread-safe:
/// counters and log positions live behind one mutex, which also serialises writes.
public final class Spool: Sendable {
    /// The name of a run's state file.
    public static let stateFileName = "state.sealed"
    /// File bytes after which a log segment is closed and a new one started: a segment is read whole.
    static let logSegmentBytes: Int64 = 1024 * 1024
    /// Plaintext bytes per sealed log record; larger appends are split.
    static let maxLogRecordBytes = 64 * 1024
    static let maxStateBytes = 16 * 1024 * 1024
    private static let frameBytes = 4 + SealedRecord.overhead
    private static let maxSegmentFileBytes = Int(logSegmentBytes) + maxLogRecordBytes + frameBytes

    /// The spool's root directory.
    public let directory: String
    /// The size the spool's files may reach together, in bytes.
    public let capBytes: Int64
    private let key: [UInt8]
    private let counters: Mutex<Counters>

    private struct Counters {
        var usedBytes: Int64
        var logs: [String: LogCursor] = [:]
    }

    /// Where a run's log ends and which segment takes the next record.
    private struct LogCursor {
        var end: Int64
        var segmentStart: Int64?
        var segmentFileBytes: Int64
    }

    private struct Segment {
        let start: Int64
        let path: String
    }

    /// Opens (creating if needed, mode 0700) the spool in `directory` and counts what it holds.
    ///
    /// - Parameters:
    ///   - key: the 32-byte spool key (`SpoolKey.loadOrCreate(at:)`).
    ///   - capBytes: the most the spool may hold; log appends beyond it fail with `.full`.
    public init(directory: String, key: [UInt8], capBytes: Int64) throws {
        guard key.count == SpoolKey.size else {
            throw SpoolError(.invalidKey, "the spool key must be \(SpoolKey.size) bytes; this one has \(key.count)")
        }
        self.directory = directory
        self.capBytes = capBytes
        self.key = key
        try SpoolFiles.makeDirectory(directory + "/runs")
        // Leftovers of state writes interrupted by a crash.
        for run in try SpoolFiles.list(directory + "/runs") where Self.isValid(run) {
            let runDirectory = directory + "/runs/" + run
            for name in try SpoolFiles.list(runDirectory) where name.hasPrefix(Self.stateFileName + ".tmp-") {
                try SpoolFiles.removeTree(runDirectory + "/" + name)
            }
        }
        counters = Mutex(Counters(usedBytes: try SpoolFiles.treeSize(directory)))
    }

    /// The total size of the spool's files, counted at start and kept up to date by the spool's own writes.
    ///
    /// Files the job process writes into `filesDirectory(runId:)` are counted at start and by `recount()`.
    public func usedBytes() -> Int64 {
        counters.withLock { $0.usedBytes }
    }

    /// Counts the spool's files again (after a job process wrote extraction files) and returns the total.
    @discardableResult
    public func recount() throws -> Int64 {
        try counters.withLock { counters in
            counters.usedBytes = try SpoolFiles.treeSize(directory)
            return counters.usedBytes
        }
    }

    // MARK: Runs

    /// The directory (created, mode 0700) where the run's job process writes its sealed chunks and manifest.
    public func filesDirectory(runId: String) throws -> String {
        let path = try runDirectory(runId) + "/files"
        try SpoolFiles.makeDirectory(path)
        return path
    }

    /// The run's extraction folder, sealed with the spool key: where the job process writes its chunks and manifest
    /// and from which the delivery verifies (`forEachRecord`) and streams (`readFile`) their plaintext.
    public func extractionFolder(runId: String) throws -> ExtractionFolder {
        ExtractionFolder(path: try filesDirectory(runId: runId), sealingKey: key)
    }

    /// The runs that have a state, sorted: what to resume after a restart.
    public func runIds() throws -> [String] {
        try SpoolFiles.list(directory + "/runs").filter {
            Self.isValid($0) && SpoolFiles.fileSize(directory + "/runs/" + $0 + "/" + Self.stateFileName) != nil
        }.sorted()
    }

    /// Removes everything spooled for a run (state, files, log): the control plane acknowledged it.
    public func removeRun(runId: String) throws {
        let path = try runDirectory(runId, create: false)
        try counters.withLock { counters in
            let size = try SpoolFiles.treeSize(path)
            defer { counters.logs[runId] = nil }
            do {
                try SpoolFiles.removeTree(path)
            } catch {
                counters.usedBytes = (try? SpoolFiles.treeSize(directory)) ?? counters.usedBytes
                throw error
            }
            counters.usedBytes -= size
        }
    }

    // MARK: State

    /// Stores the run's state (JSON, sealed), replacing the previous one atomically.
    public func writeState<T: Encodable>(_ value: T, runId: String) throws {
        let runPath = try runDirectory(runId)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes: [UInt8]
        do {
            bytes = Array(try encoder.encode(value))
        } catch {
            throw SpoolError(.io, "cannot encode the state of run \(runId): \(error)", underlying: error)
        }
        let target = runPath + "/" + Self.stateFileName
        let temporary = target + ".tmp-" + Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255) })
        try counters.withLock { counters in
            do {
                try SealedFile.write(bytes, to: temporary, key: key)
            } catch {
                throw SpoolError(.io, "cannot write the state of run \(runId): \(error)", underlying: error)
            }
            let previous = SpoolFiles.fileSize(target) ?? 0
            let size = SpoolFiles.fileSize(temporary) ?? 0
            do {
                try SpoolFiles.move(temporary, to: target)
            } catch {
                try? SpoolFiles.removeTree(temporary)
                throw error
            }
            SpoolFiles.syncDirectory(runPath)
            counters.usedBytes += size - previous
        }
    }

    /// The run's state, or nil if none was written.
    ///
    /// - Throws: `SpoolError` `.corrupt` when the state file was modified, truncated or sealed with another key,
    ///   or does not decode as `type`.
    public func readState<T: Decodable>(_ type: T.Type, runId: String) throws -> T? {
        let path = try runDirectory(runId, create: false) + "/" + Self.stateFileName
        guard SpoolFiles.fileSize(path) != nil else { return nil }
        let bytes: [UInt8]
        do {
            bytes = try SealedFile.readAll(path: path, key: key, limit: Self.maxStateBytes)
        } catch let error as MetadataError where error.code != .io {
            throw SpoolError(.corrupt, "the spooled state of run \(runId) is unusable: \(error)", underlying: error)
        } catch {
            throw SpoolError(.io, "cannot read the spooled state of run \(runId): \(error)", underlying: error)
        }
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw SpoolError(
                .corrupt, "the spooled state of run \(runId) does not decode as \(type): \(error)", underlying: error)
        }
    }

    // MARK: Logs

    /// Appends job output to the run's log and returns the log's new end offset.
    ///
    /// - Throws: `SpoolError` `.full` when the spool's cap would be exceeded (nothing is written then).
    @discardableResult
    public func appendLog(runId: String, _ bytes: [UInt8]) throws -> Int64 {
        let logsPath = try runDirectory(runId) + "/logs"
        return try counters.withLock { counters in
            var cursor = try loadCursor(runId, logsPath: logsPath, &counters)
            guard !bytes.isEmpty else { return cursor.end }
            let pieces = stride(from: 0, to: bytes.count, by: Self.maxLogRecordBytes).map {
                bytes[$0..<min($0 + Self.maxLogRecordBytes, bytes.count)]
            }
            let diskBytes = Int64(pieces.count * Self.frameBytes + bytes.count)
            guard counters.usedBytes + diskBytes <= capBytes else {
                throw SpoolError(
                    .full,
                    "the spool is full: \(counters.usedBytes) of \(capBytes) bytes used, \(diskBytes) more needed "
                        + "for the log of run \(runId); the log lines are dropped until deliveries free space "
                        + "(raise the spool cap if this repeats)")
            }
            do {
                try SpoolFiles.makeDirectory(logsPath)
                var batch: [UInt8] = []
                for piece in pieces {
                    if cursor.segmentStart == nil || cursor.segmentFileBytes >= Self.logSegmentBytes {
                        if let start = cursor.segmentStart, !batch.isEmpty {
                            try SpoolFiles.append(batch, to: Self.segmentPath(logsPath, start))
                            batch.removeAll()
                        }
                        cursor.segmentStart = cursor.end
                        cursor.segmentFileBytes = 0
                    }
                    let sealed = try SealedRecord.seal(
                        Array(piece), key: key, associatedData: Self.logAssociatedData(runId, cursor.end))
                    batch += Self.bigEndian32(UInt32(sealed.count)) + sealed
                    cursor.end += Int64(piece.count)
                    cursor.segmentFileBytes += Int64(4 + sealed.count)
                }
                try SpoolFiles.append(batch, to: Self.segmentPath(logsPath, cursor.segmentStart!))
            } catch {
                // Part of the append may be on disk: re-derive the position and the size from the files.
                counters.logs[runId] = nil
                counters.usedBytes = (try? SpoolFiles.treeSize(directory)) ?? counters.usedBytes
                throw error as? SpoolError ?? SpoolError(.io, "cannot append to the log of run \(runId): \(error)")
            }
            counters.usedBytes += diskBytes
            counters.logs[runId] = cursor
            return cursor.end
        }
    }

    /// The end offset of the run's log: how many bytes were appended in total.
    public func logEnd(runId: String) throws -> Int64 {
        let logsPath = try runDirectory(runId, create: false) + "/logs"
        return try counters.withLock { try loadCursor(runId, logsPath: logsPath, &$0).end }
    }

    /// Up to `maxBytes` of the run's log, starting at `offset` (plaintext, authenticated).
    ///
    /// - Throws: `SpoolError` `.invalidOffset` beyond the log's end, `.corrupt` when a piece of the log was
    ///   modified, moved or removed.
    public func readLog(runId: String, from offset: Int64, maxBytes: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        try forEachLogPiece(runId: runId, from: offset) { piece in
            let take = min(piece.count, maxBytes - result.count)
            result += piece.prefix(take)
            return result.count < maxBytes
        }
        return result
    }

    /// Lower-case hex SHA-256 over the whole log, as `complete` reports it.
    public func logSHA256(runId: String) throws -> String {
        var hasher = SHA256()
        try forEachLogPiece(runId: runId, from: 0) { piece in
            piece.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            return true
        }
        return Hex.encode(hasher.finalize())
    }

    /// Walks the log's plaintext from `offset` to the end known now, authenticating every record it uses.
    ///
    /// Reads happen outside the lock: segments only grow, and records before the end taken under the lock are
    /// complete, so a concurrent append cannot be observed half-written.
    private func forEachLogPiece(
        runId: String, from offset: Int64, _ body: (ArraySlice<UInt8>) throws -> Bool
    ) throws {
        let logsPath = try runDirectory(runId, create: false) + "/logs"
        let end = try counters.withLock { try loadCursor(runId, logsPath: logsPath, &$0).end }
        guard offset >= 0, offset <= end else {
            throw SpoolError(.invalidOffset, "offset \(offset) is outside the log of run \(runId) (0…\(end))")
        }
        guard offset < end else { return }
        let segments = try Self.segments(logsPath)
        guard segments.first?.start == 0, let first = segments.lastIndex(where: { $0.start <= offset }) else {
            throw SpoolError(.corrupt, "the spooled log of run \(runId) misses its beginning")
        }
        var expected = segments[first].start
        var position = offset
        var stopped = false
        for segment in segments[first...] where !stopped && position < end {
            guard segment.start == expected else {
                throw SpoolError(.corrupt, "the spooled log of run \(runId) misses bytes \(expected)…\(segment.start)")
            }
            let data = try SpoolFiles.readAll(segment.path, limit: Self.maxSegmentFileBytes)
            expected = try Self.walkRecords(data, start: segment.start) { recordStart, length, sealed in
                let recordEnd = recordStart + Int64(length)
                if recordStart >= end { return false }
                if recordEnd <= position { return true }
                let plaintext = try openLogRecord(sealed, runId: runId, start: recordStart)
                let from = Int(position - recordStart)
                let to = Int(min(recordEnd, end) - recordStart)
                position = recordStart + Int64(to)
                guard try body(plaintext[from..<to]) else {
                    stopped = true
                    return false
                }
                return position < end
            }.end
        }
        guard stopped || position >= end else {
            throw SpoolError(.corrupt, "the spooled log of run \(runId) ends at byte \(position) instead of \(end)")
        }
    }

    /// The run's log position, from the cache or by scanning (and authenticating) its last segment.
    ///
    /// A torn last record, left by a crash in the middle of an append, is cut off here.
    private func loadCursor(_ runId: String, logsPath: String, _ counters: inout Counters) throws -> LogCursor {
        if let cursor = counters.logs[runId] { return cursor }
        guard let last = try Self.segments(logsPath).last else {
            let cursor = LogCursor(end: 0, segmentStart: nil, segmentFileBytes: 0)
            counters.logs[runId] = cursor
            return cursor
        }
        let data = try SpoolFiles.readAll(last.path, limit: Self.maxSegmentFileBytes)
        let walked = try Self.walkRecords(data, start: last.start) { recordStart, _, sealed in
            _ = try openLogRecord(sealed, runId: runId, start: recordStart)
            return true
        }
        if walked.bytes < data.count {
            try SpoolFiles.cut(last.path, to: Int64(walked.bytes))
            counters.usedBytes -= Int64(data.count - walked.bytes)
        }
        let cursor = LogCursor(end: walked.end, segmentStart: last.start, segmentFileBytes: Int64(walked.bytes))
        counters.logs[runId] = cursor
        return cursor
    }

    private func openLogRecord(_ sealed: ArraySlice<UInt8>, runId: String, start: Int64) throws -> [UInt8] {
        do {
            return try SealedRecord.open(Array(sealed), key: key, associatedData: Self.logAssociatedData(runId, start))
        } catch {
            throw SpoolError(
                .corrupt,
                "the spooled log of run \(runId) failed authentication at byte \(start): it was modified, moved or "
                    + "sealed with another key",
                underlying: error)
        }
    }

    /// Walks the complete frames of a log segment (length ‖ sealed record) while `visit` returns true.
    ///
    /// - Returns: the log offset after the last frame walked, and the segment bytes those frames take; an
    ///   incomplete frame at the end (a torn append) ends the walk.
    private static func walkRecords(
        _ data: [UInt8], start: Int64, _ visit: (Int64, Int, ArraySlice<UInt8>) throws -> Bool
    ) throws -> (end: Int64, bytes: Int) {
        var position = 0
        var offset = start
        while position + 4 <= data.count {
            let length = data[position..<(position + 4)].reduce(0) { $0 << 8 | Int($1) }
            guard length >= SealedRecord.overhead, length <= maxLogRecordBytes + SealedRecord.overhead else {
                throw SpoolError(.corrupt, "a spooled log segment has a damaged record frame at byte \(position)")
            }
            guard position + 4 + length <= data.count else { break }
            let plaintextLength = length - SealedRecord.overhead
            let keepGoing = try visit(offset, plaintextLength, data[(position + 4)..<(position + 4 + length)])
            position += 4 + length
            offset += Int64(plaintextLength)
            if !keepGoing { break }
        }
        return (offset, position)
    }

    private static func segments(_ logsPath: String) throws -> [Segment] {
        try SpoolFiles.list(logsPath).compactMap { name -> Segment? in
            guard name.hasSuffix(".log"), name.utf8.count == 24, let start = Int64(name.prefix(20)) else { return nil }
            return Segment(start: start, path: logsPath + "/" + name)
        }.sorted { $0.start < $1.start }
    }

    private static func segmentPath(_ logsPath: String, _ start: Int64) -> String {
        let digits = String(start)
        return logsPath + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
    }

    /// Binds a log record to its run and offset, so records cannot be moved between runs or positions.
    private static func logAssociatedData(_ runId: String, _ start: Int64) -> [UInt8] {
        Array("outpost spool log v1".utf8) + [0] + Array(runId.utf8) + [0]
            + bigEndian32(UInt32(truncatingIfNeeded: start >> 32)) + bigEndian32(UInt32(truncatingIfNeeded: start))
    }

    static func bigEndian32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    // MARK: Identifiers

    /// The run's directory (created, mode 0700, unless `create` is false), after validating the run id.
    private func runDirectory(_ runId: String, create: Bool = true) throws -> String {
        guard Self.isValid(runId) else {
            let shown = String(runId.prefix(64).debugDescription)
            throw SpoolError(
                .invalidIdentifier,
                "run id \(shown) is not a plain identifier: use 1 to 128 letters, digits, '-', '_' or '.', "
                    + "starting with a letter or digit")
        }
        let path = directory + "/runs/" + runId
        if create { try SpoolFiles.makeDirectory(path) }
        return path
    }

    /// Letters, digits, `-`, `_`, `.`; starts with a letter or digit (so never `.`, `..` or hidden); ≤ 128 bytes.
    static func isValid(_ runId: String) -> Bool {
        let bytes = Array(runId.utf8)
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        guard let first = bytes.first, bytes.count <= 128, isAlphanumeric(first) else { return false }
        return bytes.allSatisfy {
            isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
        }
    }
}
