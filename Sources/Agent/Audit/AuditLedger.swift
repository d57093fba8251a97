internal import Crypto
internal import Metadata
public import OutpostProtocol
internal import Synchronization

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif
#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// The agent's local, append-only, hash-chained audit ledger (`dataDir/audit.jsonl`), verifiable with
/// `outpost audit verify`.
///
/// One JSON object per line: `{"hash":H,"event":{…},"previousHash":P,"seq":N,"time":T}`. `H` is the lower-case hex
/// SHA-256 of the line's bytes without its leading `"hash":H,` member — that is, of the canonical JSON (sorted
/// keys, no whitespace) of `{"event","previousHash","seq","time"}` — and `P` is the previous line's `H` (64 zeros
/// for the first entry), so changing, inserting, removing or reordering an entry breaks the chain at that line.
/// Hashing the exact bytes keeps verification independent of how a reader re-encodes JSON. A hash chain cannot
/// reveal that its newest entries were cut off; the entry count and last hash can be recorded elsewhere for that.
///
/// Every append is flushed to stable storage before `append` returns. Opening an existing ledger continues its
/// chain from the last line. A last line without its newline can only be an append cut short by a crash (a failed
/// write is truncated away): an intact entry gets its newline, anything else is moved, byte for byte, into a
/// `audit.jsonl.torn-<ms>` file beside the ledger (`recoveredTail`) and cut off, so the agent starts again and
/// nothing is thrown away. A complete last line that does not match its hash was modified: that stops the agent.
public final class AuditLedger: Sendable {
    /// The ledger's file name inside the agent's data directory.
    public static let fileName = "audit.jsonl"
    /// The `previousHash` of the first entry.
    public static let genesisHash = String(repeating: "0", count: 64)
    static let hashPrefix = Array(#"{"hash":""#.utf8)
    static let maxLineBytes = 16 * 1024 * 1024

    /// The ledger file.
    public let path: String
    /// Where an incomplete last line found on opening was moved (see the type's description); nil if none was.
    public let recoveredTail: String?
    private let now: @Sendable () -> Date
    private let state: Mutex<State>

    private struct State {
        var descriptor: Int32
        var sequence: Int64
        var lastHash: String
        var size: Int64
    }

    /// What is hashed: an entry without its hash, encoded with sorted keys.
    private struct Body: Codable {
        var event: AuditEntry
        var previousHash: String
        var seq: Int64
        var time: String
    }

    /// The ledger path in a data directory.
    public static func path(dataDirectory: String) -> String {
        dataDirectory + "/" + fileName
    }

    /// Opens (creating, mode 0600) the ledger at `path` and resumes its chain from the last line.
    ///
    /// - Parameter now: the clock entries are stamped with.
    /// - Throws: `AuditError` `.broken` when the last complete line does not match its hash, `.io` when the file
    ///   cannot be opened or an incomplete last line cannot be set aside.
    public init(path: String, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.path = path
        self.now = now
        let descriptor = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw AuditError(.io, "cannot open the audit ledger \(path): \(String(cString: strerror(errno)))")
        }
        do {
            let size = lseek(descriptor, 0, SEEK_END)
            guard size >= 0 else { throw AuditError(.io, "cannot read the audit ledger \(path)") }
            var state = State(descriptor: descriptor, sequence: 0, lastHash: Self.genesisHash, size: Int64(size))
            var recoveredTail: String?
            if size > 0, let torn = try Self.repairTornTail(descriptor, size: &state.size, path: path) {
                recoveredTail = torn
            }
            self.recoveredTail = recoveredTail
            if state.size > 0 {
                let line = try Self.lastLine(descriptor, size: state.size, path: path)
                let parsed: ParsedLine
                do {
                    parsed = try Self.parse(line.dropLast())
                } catch let reason as LineProblem {
                    throw AuditError(
                        .broken,
                        "the last entry of the audit ledger \(path) is damaged (\(reason.text)): check it with "
                            + "`outpost audit verify --file \(path)`")
                }
                state.sequence = parsed.sequence
                state.lastHash = parsed.hash
            }
            self.state = Mutex(state)
        } catch {
            close(descriptor)
            throw error
        }
    }

    deinit {
        state.withLock { _ = close($0.descriptor) }
    }

    /// The number of entries in the ledger.
    public var count: Int64 { state.withLock { $0.sequence } }

    /// The ledger's newest entry (sequence and hash; the genesis hash for an empty ledger), reported with every
    /// heartbeat so the control plane can tell when entries were later cut off.
    public var head: AuditHead { state.withLock { AuditHead(sequence: $0.sequence, hash: $0.lastHash) } }

    /// Appends `entry` as the next link of the chain and flushes it to stable storage.
    public func append(_ entry: AuditEntry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try state.withLock { state in
            let body = Body(
                event: entry, previousHash: state.lastHash, seq: state.sequence + 1, time: Self.timestamp(now()))
            let bodyBytes: [UInt8]
            do {
                bodyBytes = Array(try encoder.encode(body))
            } catch {
                throw AuditError(.io, "cannot encode an audit entry for run \(entry.runId): \(error)")
            }
            let hash = Hex.encode(SHA256.hash(data: bodyBytes))
            let line = Self.hashPrefix + Array(hash.utf8) + Array("\",".utf8) + bodyBytes.dropFirst() + [10]
            var offset = 0
            let failure: String? = line.withUnsafeBytes { raw in
                while offset < raw.count {
                    let written = write(state.descriptor, raw.baseAddress! + offset, raw.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return String(cString: strerror(errno))
                    }
                    offset += written
                }
                return fsync(state.descriptor) == 0 ? nil : String(cString: strerror(errno))
            }
            if let failure {
                // Leave no partial line behind: the next append must continue a well-formed chain.
                _ = ftruncate(state.descriptor, off_t(state.size))
                throw AuditError(.io, "cannot write to the audit ledger \(path): \(failure)")
            }
            state.sequence += 1
            state.lastHash = hash
            state.size += Int64(line.count)
        }
    }

    /// Checks the whole chain of the ledger at `path`, streaming it line by line.
    ///
    /// - Parameter checkpoint: a head recorded elsewhere (the control plane's); the result names the hash of the
    ///   entry with its sequence, if the ledger still has it.
    /// - Returns: the number of intact entries, or the first broken line (1-based) and why it is broken.
    /// - Throws: `AuditError` `.io` only when the file cannot be read.
    public static func verify(path: String, checkpoint: AuditHead? = nil) throws -> AuditVerification {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw AuditError(.io, "cannot open the audit ledger \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var previousHash = genesisHash
        var sequence: Int64 = 0
        var checkpointHash: String? = checkpoint?.sequence == 0 ? genesisHash : nil
        var lineNumber = 0
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        func check(_ line: ArraySlice<UInt8>) -> AuditVerification? {
            lineNumber += 1
            do {
                let parsed = try parse(line)
                guard parsed.sequence == sequence + 1 else {
                    throw LineProblem(
                        "its seq is \(parsed.sequence), expected \(sequence + 1): entries are missing or out of order")
                }
                guard parsed.previousHash == previousHash else {
                    throw LineProblem("its previousHash does not match the hash of the entry before it")
                }
                sequence = parsed.sequence
                previousHash = parsed.hash
                if parsed.sequence == checkpoint?.sequence { checkpointHash = parsed.hash }
                return nil
            } catch let problem as LineProblem {
                return AuditVerification(
                    entries: lineNumber - 1, broken: .init(line: lineNumber, reason: problem.text),
                    checkpointHash: checkpointHash)
            } catch {
                return AuditVerification(
                    entries: lineNumber - 1, broken: .init(line: lineNumber, reason: "\(error)"),
                    checkpointHash: checkpointHash)
            }
        }
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw AuditError(.io, "cannot read the audit ledger \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            var start = 0
            for index in 0..<count where buffer[index] == 10 {
                line += buffer[start..<index]
                start = index + 1
                if let broken = check(line[...]) { return broken }
                line.removeAll(keepingCapacity: true)
            }
            line += buffer[start..<count]
            if line.count > maxLineBytes {
                return AuditVerification(
                    entries: lineNumber,
                    broken: .init(line: lineNumber + 1, reason: "the line is longer than \(maxLineBytes) bytes"),
                    checkpointHash: checkpointHash)
            }
        }
        if !line.isEmpty {
            return AuditVerification(
                entries: lineNumber,
                broken: .init(
                    line: lineNumber + 1,
                    reason: "the last line is incomplete (the file was truncated or a write was interrupted)"),
                checkpointHash: checkpointHash)
        }
        return AuditVerification(entries: lineNumber, broken: nil, checkpointHash: checkpointHash)
    }

    // MARK: Lines

    private struct ParsedLine {
        var hash: String
        var sequence: Int64
        var previousHash: String
    }

    private struct LineProblem: Error {
        let text: String
        init(_ text: String) { self.text = text }
    }

    /// Checks one line (without its newline) against its own hash and decodes its chain fields.
    private static func parse(_ line: ArraySlice<UInt8>) throws -> ParsedLine {
        let hashStart = line.startIndex + hashPrefix.count
        guard line.count > hashPrefix.count + 66, line.prefix(hashPrefix.count).elementsEqual(hashPrefix),
            line[(hashStart + 64)..<(hashStart + 66)].elementsEqual(Array("\",".utf8))
        else {
            throw LineProblem("it does not start with {\"hash\":\"<64 hex digits>\",")
        }
        let hash = String(decoding: line[hashStart..<(hashStart + 64)], as: UTF8.self)
        let body = [UInt8(ascii: "{")] + line[(hashStart + 66)...]
        guard Hex.encode(SHA256.hash(data: body)) == hash else {
            throw LineProblem("its content does not match its hash: the entry was modified")
        }
        let decoded: Body
        do {
            decoded = try JSONDecoder().decode(Body.self, from: Data(body))
        } catch {
            throw LineProblem("it is not a valid audit entry: \(error)")
        }
        return ParsedLine(hash: hash, sequence: decoded.seq, previousHash: decoded.previousHash)
    }

    /// Finishes or removes a last line without its newline (an append a crash cut short): an entry that checks
    /// against its hash only lacks the newline, which is written; other bytes are copied to a new
    /// `PATH.torn-<ms>` file (mode 0600, flushed) and truncated away. Returns that file's path, if one was written.
    private static func repairTornTail(_ descriptor: Int32, size: inout Int64, path: String) throws -> String? {
        let line = try lastLine(descriptor, size: size, path: path)
        guard line.last != UInt8(ascii: "\n") else { return nil }
        if (try? parse(line[...])) != nil {
            let written = [UInt8(ascii: "\n")].withUnsafeBytes { write(descriptor, $0.baseAddress, 1) }
            guard written == 1, fsync(descriptor) == 0 else {
                throw AuditError(.io, "cannot repair the audit ledger \(path): \(String(cString: strerror(errno)))")
            }
            size += 1
            return nil
        }
        let tornPath = path + ".torn-\(Int64(Date().timeIntervalSince1970 * 1000))"
        let side = open(tornPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard side >= 0 else {
            throw AuditError(
                .io, "cannot save the torn end of the audit ledger to \(tornPath): \(String(cString: strerror(errno)))")
        }
        defer { close(side) }
        var offset = 0
        while offset < line.count {
            let written = line.withUnsafeBytes { write(side, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw AuditError(
                    .io,
                    "cannot save the torn end of the audit ledger to \(tornPath): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        guard fsync(side) == 0, ftruncate(descriptor, off_t(size - Int64(line.count))) == 0, fsync(descriptor) == 0
        else {
            throw AuditError(.io, "cannot repair the audit ledger \(path): \(String(cString: strerror(errno)))")
        }
        size -= Int64(line.count)
        return tornPath
    }

    /// The file's last line, with its newline if it has one; reads backwards only as far as needed.
    private static func lastLine(_ descriptor: Int32, size: Int64, path: String) throws -> [UInt8] {
        var window: Int64 = 64 * 1024
        while true {
            let start = max(0, size - window)
            var bytes = [UInt8](repeating: 0, count: Int(size - start))
            let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(start)) }
            guard count == bytes.count else { throw AuditError(.io, "cannot read the audit ledger \(path)") }
            let searchEnd = bytes.last == 10 ? bytes.count - 1 : bytes.count
            if let newline = bytes[..<searchEnd].lastIndex(of: 10) {
                bytes.removeFirst(newline + 1)
                return bytes
            }
            if start == 0 { return bytes }
            guard window < Int64(maxLineBytes) else {
                throw AuditError(
                    .broken, "the last entry of the audit ledger \(path) is longer than \(maxLineBytes) bytes")
            }
            window *= 4
        }
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp(_ date: Date) -> String { Timestamps.format(date) }
}

/// The result of checking an audit ledger.
public struct AuditVerification: Sendable, Equatable {
    /// The first line that breaks the chain.
    public struct Broken: Sendable, Equatable {
        /// 1-based line number in the file.
        public var line: Int
        /// Why the line breaks the chain.
        public var reason: String

        public init(line: Int, reason: String) {
            self.line = line
            self.reason = reason
        }
    }

    /// Entries verified before the first broken line (all of them when intact).
    public var entries: Int
    /// The first broken line, or nil when the whole chain verifies.
    public var broken: Broken?
    /// The hash of the entry at the checkpoint's sequence, when one was given and the ledger still has it.
    public var checkpointHash: String?

    public init(entries: Int, broken: Broken?, checkpointHash: String? = nil) {
        self.entries = entries
        self.broken = broken
        self.checkpointHash = checkpointHash
    }

    /// Whether every line verified.
    public var isIntact: Bool { broken == nil }
}
