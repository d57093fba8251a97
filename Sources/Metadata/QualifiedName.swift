/// A stable, escaped identifier of one metadata object: `<connection>/<database>/<schema>/<object>[/<column>]`.
///
/// Each part is an unescaped identifier exactly as the source names it. When rendered, `%`, `/`, `~` and
/// control characters are percent-encoded (UTF-8 bytes, upper-case hex) and everything else, including
/// quotes, spaces, dots and non-ASCII letters, is written literally. Parts that start with `~` are reserved
/// for markers (`~constraint`, `~index`, `~type`, `~function`, `~lineage`) that separate sub-object namespaces;
/// because `~` in an identifier is always escaped, a marker can never collide with a real name.
public struct QualifiedName: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The unescaped parts, outermost first; marker parts (`~index`, …) appear verbatim.
    public let parts: [String]
    /// The escaped form, built once: names are rendered for every record that mentions them.
    public let description: String

    /// Creates a name from unescaped parts.
    public init(_ parts: [String]) {
        var rendered = ""
        for (index, part) in parts.enumerated() {
            if index > 0 { rendered.append("/") }
            QualifiedName.escape(part, into: &rendered)
        }
        self.parts = parts
        self.description = rendered
    }

    private init(parts: [String], description: String) {
        self.parts = parts
        self.description = description
    }

    /// The name of a child object: this name plus one more part.
    public func appending(_ part: String) -> QualifiedName {
        var rendered = description
        if !parts.isEmpty { rendered.append("/") }
        QualifiedName.escape(part, into: &rendered)
        return QualifiedName(parts: parts + [part], description: rendered)
    }

    /// The name of a sub-object in a marked namespace, such as `…/table/~index/name`.
    public func appending(marker: Marker, _ part: String) -> QualifiedName {
        var rendered = description
        if !parts.isEmpty { rendered.append("/") }
        rendered.append(marker.rawValue)
        rendered.append("/")
        QualifiedName.escape(part, into: &rendered)
        return QualifiedName(parts: parts + [marker.rawValue, part], description: rendered)
    }

    /// Namespaces of objects that are not tables or columns.
    public enum Marker: String, Sendable, CaseIterable {
        case constraint = "~constraint"
        case index = "~index"
        case type = "~type"
        case function = "~function"
        case lineage = "~lineage"
        // Format 1.2, BI records.
        case workbook = "~workbook"
        case sheet = "~sheet"
        case dashboard = "~dashboard"
        case dataSource = "~dataSource"
        case sql = "~sql"
    }

    public static func == (lhs: QualifiedName, rhs: QualifiedName) -> Bool {
        lhs.description == rhs.description
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(description)
    }

    /// Parses a rendered name back into its parts.
    ///
    /// - Throws: `MetadataError` with code `.invalidQualifiedName` when an escape sequence is malformed.
    public init(parsing text: String) throws {
        if let parts = Self.renderedParts(text) {
            self.init(parts: parts, description: text)
            return
        }
        var parts: [String] = []
        var rendered = ""
        for (index, piece) in text.split(separator: "/", omittingEmptySubsequences: false).enumerated() {
            if index > 0 { rendered.append("/") }
            if Marker(rawValue: String(piece)) != nil {
                parts.append(String(piece))
                rendered.append(String(piece))
            } else {
                let part = try QualifiedName.unescape(piece)
                parts.append(part)
                QualifiedName.escape(part, into: &rendered)
            }
        }
        self.init(parts: parts, description: rendered)
    }

    /// The parts of `text` when it is already in rendered form and needs no unescaping — no `%`, no control
    /// character, and `~` only in whole marker parts, which is what almost every name looks like; nil otherwise.
    /// One pass over the bytes: ingestion parses several names per record.
    private static func renderedParts(_ text: String) -> [String]? {
        var text = text
        return text.withUTF8 { bytes -> [String]? in
            var parts: [String] = []
            var start = 0
            var hasTilde = false
            for index in 0...bytes.count {
                guard index < bytes.count, bytes[index] != UInt8(ascii: "/") else {
                    let part = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    if hasTilde, Marker(rawValue: part) == nil { return nil }
                    parts.append(part)
                    start = index + 1
                    hasTilde = false
                    continue
                }
                let byte = bytes[index]
                if byte == UInt8(ascii: "~") {
                    hasTilde = true
                } else if needsEscape(byte) {
                    return nil
                }
            }
            return parts
        }
    }

    public static func < (lhs: QualifiedName, rhs: QualifiedName) -> Bool {
        lhs.parts.lexicographicallyPrecedes(rhs.parts)
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "%") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "~") || byte < 0x20
            || byte == 0x7F
    }

    /// Appends the escaped form of one part.
    static func escape(_ part: String, into out: inout String) {
        if !part.utf8.contains(where: needsEscape) {
            out.append(part)
            return
        }
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(part.utf8.count + 8)
        for byte in part.utf8 {
            if needsEscape(byte) {
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            } else {
                bytes.append(byte)
            }
        }
        out.append(String(decoding: bytes, as: UTF8.self))
    }

    private static func unescape(_ piece: Substring) throws -> String {
        guard piece.utf8.contains(UInt8(ascii: "%")) else { return String(piece) }
        var bytes: [UInt8] = []
        var iterator = piece.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Hex.value(ofDigit:)),
                let low = iterator.next().flatMap(Hex.value(ofDigit:))
            else {
                throw MetadataError(.invalidQualifiedName, "malformed percent escape in qualified name part '\(piece)'")
            }
            bytes.append(high << 4 | low)
        }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw MetadataError(.invalidQualifiedName, "qualified name part '\(piece)' does not decode to UTF-8")
        }
        return string
    }

}

extension QualifiedName: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        try self.init(parsing: try container.decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
