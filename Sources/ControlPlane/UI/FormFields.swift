/// The fields of an `application/x-www-form-urlencoded` body, in order, repeated names kept.
///
/// Parsed by hand so the rules are ours: `+` is a space, `%XX` a byte, invalid escapes are kept as written, and
/// the decoded bytes are read as UTF-8 (invalid sequences become U+FFFD, never a crash).
public struct FormFields: Sendable, Equatable {
    /// The largest body a UI form may send; a connection form with every filter filled is far smaller.
    public static let maximumBytes = 64 * 1024

    public private(set) var pairs: [(name: String, value: String)]

    public init(pairs: [(name: String, value: String)] = []) {
        self.pairs = pairs
    }

    /// Parses a body or query string.
    public init(parsing bytes: some Collection<UInt8>) {
        pairs = []
        for piece in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = piece.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            pairs.append((name, value))
        }
    }

    /// The first value of `name`, if sent.
    public subscript(_ name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }

    /// The first value of `name` with surrounding whitespace removed; nil when absent or blank.
    public func trimmed(_ name: String) -> String? {
        guard let value = self[name] else { return nil }
        let trimmed = value.trimmingWhitespace
        return trimmed.isEmpty ? nil : trimmed
    }

    public static func == (lhs: FormFields, rhs: FormFields) -> Bool {
        lhs.pairs.map(\.name) == rhs.pairs.map(\.name) && lhs.pairs.map(\.value) == rhs.pairs.map(\.value)
    }

    static func decode(_ bytes: some Collection<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                output.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), let high = hexValue(bytes, bytes.index(after: index)),
                let low = hexValue(bytes, bytes.index(index, offsetBy: 2, limitedBy: bytes.endIndex))
            {
                output.append(high << 4 | low)
                index = bytes.index(index, offsetBy: 2)
            } else {
                output.append(byte)
            }
            index = bytes.index(after: index)
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func hexValue<C: Collection<UInt8>>(_ bytes: C, _ index: C.Index?) -> UInt8? {
        guard let index, index != bytes.endIndex else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return bytes[index] - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return bytes[index] - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return bytes[index] - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and line breaks.
    var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
