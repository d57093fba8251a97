internal import Foundation
public import Logging
internal import Secrets

#if canImport(Glibc)
    internal import Glibc
#endif

/// A swift-log handler that writes one line per message to a file descriptor, every line passed through a
/// redactor that learns each secret as soon as it is resolved.
///
/// Lines are redacted whole, before they are written, so no secret can be split across writes. Text lines
/// read `2026-01-01T00:00:00.000Z info message key=value`; JSON lines carry the same fields.
public struct LineLogHandler: LogHandler {
    /// The secrets to mask, shared by every logger of the process.
    public final class Secrets: Sendable {
        private let redactor = MutexBox(Redactor(secrets: []))
        private let values = MutexBox<[String]>([])

        public init() {}

        /// Adds a value (and, through the redactor, its encoded forms) to what is masked from now on.
        public func add(_ secret: String) {
            let all = values.withLock { list in
                list.append(secret)
                return list
            }
            redactor.withLock { $0 = Redactor(secrets: all) }
        }

        public func redact(_ text: String) -> String { redactor.withLock { $0.redact(text) } }
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public let label: String
    public let secrets: Secrets
    public let json: Bool
    public let descriptor: Int32

    public init(label: String, level: Logger.Level, secrets: Secrets, json: Bool, descriptor: Int32) {
        self.label = label
        self.logLevel = level
        self.secrets = secrets
        self.json = json
        self.descriptor = descriptor
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let time = Self.timestamp()
        var line: String
        if json {
            var object: [String: String] = ["time": time, "level": event.level.rawValue, "message": "\(event.message)"]
            for (key, value) in merged { object[key] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        } else {
            line = "\(time) \(event.level.rawValue) \(event.message)"
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        }
        line = secrets.redact(Self.escapingLineFeeds(line)) + "\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }

    static func timestamp() -> String { Timestamps.now() }

    /// `text` with every line feed written as `\n`, so one message stays one line.
    ///
    /// Byte by byte rather than with Foundation's `replacingOccurrences`, which goes through `NSString` and compares
    /// composed characters: it leaves a line feed followed by a combining mark in place.
    static func escapingLineFeeds(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "\n")) else { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 8)
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\n") {
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(UInt8(ascii: "n"))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
