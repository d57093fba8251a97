import SourceURLs

/// Reads a SQL API v2 response body as it arrives, handing each row of its `data` array over as soon as the row's
/// closing bracket has been seen.
///
/// A partition can be tens of megabytes, so the body is never held: the parser keeps the row it is in, and the other
/// top-level members (`resultSetMetaData`, `code`, `message`, `statementHandle`, … — small) as raw JSON for
/// `JSONDecoder`. It is a byte-level state machine that resumes at any byte boundary, so gzip output and network
/// buffers can be fed in whatever pieces they come.
struct SnowflakeResultParser {
    /// Upper bound of one row's JSON text and of one non-`data` member's JSON text.
    let maxMemberBytes: Int

    private enum Phase {
        /// Before the top-level `{`.
        case start
        /// Inside the top-level object, between members.
        case betweenMembers
        /// Reading a member name.
        case key
        /// After a member name, before its `:`.
        case colon
        /// After the `:`, before the value's first byte.
        case valueStart
        /// Inside a value (any member but `data`): captured raw.
        case capturing
        /// Inside the `data` value.
        case data
        /// After the top-level `}`.
        case end
    }

    private var phase = Phase.start
    /// Container depth of the value being captured, or inside `data` (1 = the `data` array itself).
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var keyBytes: [UInt8] = []
    private var currentKey = ""
    private var buffer: [UInt8] = []
    /// Raw JSON of every member but `data`, by name.
    private(set) var members: [String: [UInt8]] = [:]

    init(maxMemberBytes: Int = 16 * 1024 * 1024) {
        self.maxMemberBytes = maxMemberBytes
    }

    /// True once the top-level object has been closed.
    var isComplete: Bool {
        if case .end = phase { return true }
        return false
    }

    /// Parses `bytes`, calling `onMember` when a non-`data` member completes and `onRow` for every row.
    mutating func feed(
        _ bytes: UnsafeRawBufferPointer, onMember: (String, [UInt8]) throws -> Void, onRow: ([String?]) throws -> Void
    ) throws {
        var index = 0
        while index < bytes.count {
            if case .data = phase {
                index = try scanData(bytes, from: index, onRow: onRow)
            } else {
                try step(bytes[index], onMember: onMember, onRow: onRow)
                index += 1
            }
        }
    }

    // swiftlint:disable:next cyclomatic_complexity
    private mutating func step(
        _ byte: UInt8, onMember: (String, [UInt8]) throws -> Void, onRow: ([String?]) throws -> Void
    ) throws {
        switch phase {
        case .start:
            if Self.isWhitespace(byte) { return }
            guard byte == UInt8(ascii: "{") else { throw Self.malformed("the body is not a JSON object") }
            phase = .betweenMembers
        case .betweenMembers:
            if Self.isWhitespace(byte) || byte == UInt8(ascii: ",") { return }
            if byte == UInt8(ascii: "}") {
                phase = .end
            } else if byte == UInt8(ascii: "\"") {
                keyBytes.removeAll(keepingCapacity: true)
                escaped = false
                phase = .key
            } else {
                throw Self.malformed("unexpected byte between members")
            }
        case .key:
            if escaped {
                escaped = false
                keyBytes.append(byte)
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
                keyBytes.append(byte)
            } else if byte == UInt8(ascii: "\"") {
                currentKey = (try? Self.decodeString(keyBytes[...])) ?? String(decoding: keyBytes, as: UTF8.self)
                phase = .colon
            } else {
                guard keyBytes.count < 1024 else { throw Self.malformed("a member name is too long") }
                keyBytes.append(byte)
            }
        case .colon:
            if Self.isWhitespace(byte) { return }
            guard byte == UInt8(ascii: ":") else { throw Self.malformed("expected ':' after a member name") }
            phase = .valueStart
        case .valueStart:
            if Self.isWhitespace(byte) { return }
            buffer.removeAll(keepingCapacity: true)
            inString = false
            escaped = false
            depth = 0
            if currentKey == "data" && byte == UInt8(ascii: "[") {
                depth = 1
                phase = .data
            } else {
                phase = .capturing
                try capture(byte, onMember: onMember)
            }
        case .capturing:
            try capture(byte, onMember: onMember)
        case .data:
            // Read by scanData; feed never steps through data byte by byte.
            break
        case .end:
            if Self.isWhitespace(byte) { return }
            throw Self.malformed("bytes after the end of the object")
        }
    }

    /// One byte inside a JSON string, kept in `buffer`; returns true when it is the string's closing quote.
    private mutating func stringByte(_ byte: UInt8) -> Bool {
        buffer.append(byte)
        if escaped {
            escaped = false
        } else if byte == UInt8(ascii: "\\") {
            escaped = true
        } else if byte == UInt8(ascii: "\"") {
            inString = false
            return true
        }
        return false
    }

    /// One byte of a captured member value; a scalar ends at the `,` or `}` that follows it.
    private mutating func capture(_ byte: UInt8, onMember: (String, [UInt8]) throws -> Void) throws {
        if inString {
            if stringByte(byte), depth == 0 { try finishMember(onMember) }
        } else {
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                buffer.append(byte)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                buffer.append(byte)
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 {
                    // The end of a scalar value and of the object.
                    try finishMember(onMember)
                    phase = .end
                    return
                }
                depth -= 1
                buffer.append(byte)
                if depth == 0 { try finishMember(onMember) }
            case UInt8(ascii: ",") where depth == 0:
                try finishMember(onMember)
            default:
                if depth == 0 && Self.isWhitespace(byte) {
                    if !buffer.isEmpty { try finishMember(onMember) }
                    return
                }
                buffer.append(byte)
            }
        }
        guard buffer.count <= maxMemberBytes else {
            throw Self.malformed("member '\(currentKey)' is larger than \(maxMemberBytes) bytes")
        }
    }

    private mutating func finishMember(_ onMember: (String, [UInt8]) throws -> Void) throws {
        members[currentKey] = buffer
        phase = .betweenMembers
        try onMember(currentKey, buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Reads `data` from `bytes[start...]` until its end or the end of `bytes`; returns where it stopped.
    ///
    /// Depth 1 is the array of rows, depth 2 a row. This is the hot loop of reading a result: bytes are looked at once,
    /// runs inside strings are skipped in a tight loop, and a row that lies within one piece is decoded in place; only
    /// a row split across pieces is copied into `buffer`.
    private mutating func scanData(
        _ bytes: UnsafeRawBufferPointer, from start: Int, onRow: ([String?]) throws -> Void
    ) throws -> Int {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        let count = bytes.count
        var index = start
        /// Where the current row's bytes not yet in `buffer` begin, when inside a row.
        var rowStart = depth >= 2 ? start : -1
        while index < count {
            if inString {
                if escaped {
                    escaped = false
                    index += 1
                    continue
                }
                while index < count && bytes[index] != quote && bytes[index] != backslash { index += 1 }
                guard index < count else { break }
                if bytes[index] == backslash { escaped = true } else { inString = false }
                index += 1
                continue
            }
            switch bytes[index] {
            case quote:
                guard depth >= 2 else { throw Self.malformed("a row of 'data' is not an array") }
                inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth == 2 {
                    guard bytes[index] == UInt8(ascii: "[") else {
                        throw Self.malformed("a row of 'data' is not an array")
                    }
                    buffer.removeAll(keepingCapacity: true)
                    rowStart = index
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 {
                    phase = .betweenMembers
                    return index + 1
                }
                if depth == 1 {
                    let row = UnsafeRawBufferPointer(rebasing: bytes[rowStart...index])
                    rowStart = -1
                    guard buffer.count + row.count <= maxMemberBytes else {
                        throw Self.malformed("a row is larger than \(maxMemberBytes) bytes")
                    }
                    if buffer.isEmpty {
                        try onRow(try Self.decodeRow(row))
                    } else {
                        buffer.append(contentsOf: row)
                        try onRow(try buffer.withUnsafeBytes { try Self.decodeRow($0) })
                        buffer.removeAll(keepingCapacity: true)
                    }
                }
            default:
                break
            }
            index += 1
        }
        if rowStart >= 0 {
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[rowStart..<count]))
            guard buffer.count <= maxMemberBytes else {
                throw Self.malformed("a row is larger than \(maxMemberBytes) bytes")
            }
        }
        return index
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0a || byte == 0x0d || byte == 0x09
    }

    static func malformed(_ what: String) -> ConnectorError {
        ConnectorError(.queryFailed, "the Snowflake SQL API answered with malformed JSON: \(what)")
    }

    /// A row: a flat JSON array of strings and nulls (numbers and booleans are kept as their text).
    static func decodeRow(_ bytes: UnsafeRawBufferPointer) throws -> [String?] {
        var cells: [String?] = []
        cells.reserveCapacity(24)
        var index = 1  // after '['
        let end = bytes.count - 1  // the closing ']'
        func skipWhitespace() {
            while index < end && isWhitespace(bytes[index]) { index += 1 }
        }
        skipWhitespace()
        if index == end { return cells }
        while true {
            skipWhitespace()
            guard index < end else { throw malformed("a row ends after a comma") }
            if bytes[index] == UInt8(ascii: "\"") {
                var close = index + 1
                var escapes = false
                while close < end {
                    let byte = bytes[close]
                    if byte == UInt8(ascii: "\\") {
                        escapes = true
                        close += 2
                        continue
                    }
                    if byte == UInt8(ascii: "\"") { break }
                    close += 1
                }
                guard close < end else { throw malformed("an unterminated string in a row") }
                let content = UnsafeRawBufferPointer(rebasing: bytes[(index + 1)..<close])
                cells.append(escapes ? try decodeString(ArraySlice(content)) : try plainString(content))
                index = close + 1
            } else {
                var stop = index
                while stop < end && bytes[stop] != UInt8(ascii: ",") && !isWhitespace(bytes[stop]) { stop += 1 }
                let literal = try plainString(UnsafeRawBufferPointer(rebasing: bytes[index..<stop]))
                switch literal {
                case "null": cells.append(nil)
                case "": throw malformed("an empty cell in a row")
                default:
                    guard literal.first.map({ $0 == "-" || $0.isNumber || $0 == "t" || $0 == "f" }) ?? false else {
                        throw malformed("a row cell is neither a string, a number, a boolean nor null")
                    }
                    cells.append(literal)
                }
                index = stop
            }
            skipWhitespace()
            if index == end { return cells }
            guard bytes[index] == UInt8(ascii: ",") else { throw malformed("expected ',' between row cells") }
            index += 1
        }
    }

    /// A string without escapes: ASCII (names, numbers, timestamps — nearly every cell) is taken as is, anything
    /// else is validated as UTF-8.
    private static func plainString(_ bytes: UnsafeRawBufferPointer) throws -> String {
        var ascii: UInt8 = 0
        for byte in bytes { ascii |= byte }
        if ascii < 0x80 { return bytes.withMemoryRebound(to: UInt8.self) { String(decoding: $0, as: UTF8.self) } }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw malformed("a string is not UTF-8") }
        return text
    }

    /// The content of a JSON string literal (without its quotes), escapes decoded.
    static func decodeString(_ bytes: ArraySlice<UInt8>) throws -> String {
        guard bytes.contains(UInt8(ascii: "\\")) else {
            guard let text = String(validating: bytes, as: UTF8.self) else { throw malformed("a string is not UTF-8") }
            return text
        }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        var pendingHigh: UInt32?
        func appendScalar(_ value: UInt32) throws {
            guard let scalar = Unicode.Scalar(value) else { throw malformed("an invalid \\u escape") }
            output.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
        while index < bytes.endIndex {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                if pendingHigh != nil { throw malformed("an unpaired surrogate") }
                output.append(byte)
                index += 1
                continue
            }
            guard index + 1 < bytes.endIndex else { throw malformed("a string ends in a backslash") }
            let escape = bytes[index + 1]
            if escape != UInt8(ascii: "u"), pendingHigh != nil { throw malformed("an unpaired surrogate") }
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escape)
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0c)
            case UInt8(ascii: "n"): output.append(0x0a)
            case UInt8(ascii: "r"): output.append(0x0d)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                guard index + 6 <= bytes.endIndex,
                    let unit = UInt32(String(decoding: bytes[(index + 2)..<(index + 6)], as: UTF8.self), radix: 16)
                else { throw malformed("an invalid \\u escape") }
                index += 6
                if let high = pendingHigh {
                    guard (0xDC00...0xDFFF).contains(unit) else { throw malformed("an unpaired surrogate") }
                    pendingHigh = nil
                    try appendScalar(0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00))
                } else if (0xD800...0xDBFF).contains(unit) {
                    pendingHigh = unit
                } else {
                    try appendScalar(unit)
                }
                continue
            default:
                throw malformed("an invalid escape in a string")
            }
            index += 2
        }
        if pendingHigh != nil { throw malformed("an unpaired surrogate") }
        guard let text = String(validating: output, as: UTF8.self) else { throw malformed("a string is not UTF-8") }
        return text
    }
}
