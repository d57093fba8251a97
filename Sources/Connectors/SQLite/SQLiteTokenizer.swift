/// Splits SQLite SQL text into tokens, enough to find clauses in the `CREATE` statements SQLite stores.
///
/// SQLite's pragmas omit a few things the catalog needs (generation expressions, constraint names, a view's
/// query, an index's key expressions and `WHERE` clause), but `sqlite_master.sql` keeps each statement as it
/// was written. Finding those parts needs quoting, comments and parentheses respected, not a full parser.
struct SQLiteTokenizer {
    /// One token, located by UTF-8 byte offsets into the tokenised text.
    struct Token {
        enum Kind: Equatable {
            /// A bare word: keyword or unquoted identifier.
            case word
            /// `"…"`, `` `…` `` or `[…]`.
            case quotedIdentifier
            /// `'…'` or a blob literal `x'…'`.
            case string
            case number
            /// Any other single byte, including `(`, `)` and `,`.
            case symbol
        }

        var kind: Kind
        var range: Range<Int>
        /// Parenthesis nesting around the token; a `(` or `)` has the depth of what is outside it.
        var depth: Int
    }

    let bytes: [UInt8]
    let tokens: [Token]

    init(_ sql: String) {
        bytes = Array(sql.utf8)
        tokens = Self.tokenize(bytes)
    }

    /// The source text of a token range, `first…last` inclusive.
    func text(from first: Int, through last: Int) -> String {
        String(decoding: bytes[tokens[first].range.lowerBound..<tokens[last].range.upperBound], as: UTF8.self)
    }

    /// The source text from the start of token `first` to the end of the SQL, trimmed.
    func text(from first: Int) -> String {
        guard first < tokens.count else { return "" }
        return text(from: first, through: tokens.count - 1)
    }

    /// Whether token `index` is the bare keyword `keyword` (ASCII, any case).
    func isKeyword(_ index: Int, _ keyword: String) -> Bool {
        guard index < tokens.count, tokens[index].kind == .word else { return false }
        let range = tokens[index].range
        guard range.count == keyword.utf8.count else { return false }
        return zip(bytes[range], keyword.utf8).allSatisfy { Self.asciiUppercase($0) == $1 }
    }

    /// Whether token `index` is the single byte `symbol`.
    func isSymbol(_ index: Int, _ symbol: UInt8) -> Bool {
        index < tokens.count && tokens[index].kind == .symbol && bytes[tokens[index].range.lowerBound] == symbol
    }

    /// The identifier a token names, with its quotes removed and doubled quotes undone.
    func identifier(_ index: Int) -> String {
        let token = tokens[index]
        let raw = bytes[token.range]
        switch token.kind {
        case .quotedIdentifier, .string:
            guard let open = raw.first, raw.count >= 2 else { return String(decoding: raw, as: UTF8.self) }
            let close = open == UInt8(ascii: "[") ? UInt8(ascii: "]") : open
            var out: [UInt8] = []
            var index = raw.startIndex + 1
            while index < raw.endIndex - 1 {
                out.append(raw[index])
                // A doubled closing quote stands for one; `[…]` has no escapes.
                index += (raw[index] == close && open != UInt8(ascii: "[")) ? 2 : 1
            }
            return String(decoding: out, as: UTF8.self)
        default:
            return String(decoding: raw, as: UTF8.self)
        }
    }

    /// The index of the `)` closing the `(` at `open`, or nil when the text ends first.
    func closing(_ open: Int) -> Int? {
        let depth = tokens[open].depth
        var index = open + 1
        while index < tokens.count {
            if tokens[index].depth == depth && isSymbol(index, UInt8(ascii: ")")) { return index }
            index += 1
        }
        return nil
    }

    /// Splits the tokens strictly between `open` and `close` (a parenthesis pair) at their top-level commas.
    func items(between open: Int, and close: Int) -> [Range<Int>] {
        let depth = tokens[open].depth + 1
        var items: [Range<Int>] = []
        var start = open + 1
        for index in (open + 1)..<close where tokens[index].depth == depth && isSymbol(index, UInt8(ascii: ",")) {
            items.append(start..<index)
            start = index + 1
        }
        items.append(start..<close)
        return items.filter { !$0.isEmpty }
    }

    private static func asciiUppercase(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) ? byte - 32 : byte
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "$"), 0x80...:
            true
        default: false
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private static func tokenize(_ bytes: [UInt8]) -> [Token] {
        var tokens: [Token] = []
        var depth = 0
        var index = 0
        // The byte after `index + offset`, or 0 past the end.
        func peek(_ offset: Int) -> UInt8 { index + offset < bytes.count ? bytes[index + offset] : 0 }
        // Moves past a quoted run that ends with `close`, where a doubled `close` is an escape when `doubles`.
        func skipQuoted(close: UInt8, doubles: Bool) {
            index += 1
            while index < bytes.count {
                if bytes[index] == close {
                    if doubles && peek(1) == close {
                        index += 2
                        continue
                    }
                    index += 1
                    return
                }
                index += 1
            }
        }
        while index < bytes.count {
            let start = index
            let byte = bytes[index]
            let kind: Token.Kind
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0C:
                index += 1
                continue
            case UInt8(ascii: "-") where peek(1) == UInt8(ascii: "-"):
                while index < bytes.count && bytes[index] != UInt8(ascii: "\n") { index += 1 }
                continue
            case UInt8(ascii: "/") where peek(1) == UInt8(ascii: "*"):
                index += 2
                while index < bytes.count && !(bytes[index] == UInt8(ascii: "*") && peek(1) == UInt8(ascii: "/")) {
                    index += 1
                }
                index = min(bytes.count, index + 2)
                continue
            case UInt8(ascii: "'"):
                skipQuoted(close: UInt8(ascii: "'"), doubles: true)
                kind = .string
            case _ where byte | 0x20 == UInt8(ascii: "x") && peek(1) == UInt8(ascii: "'"):
                index += 1
                skipQuoted(close: UInt8(ascii: "'"), doubles: true)
                kind = .string
            case UInt8(ascii: "\""), UInt8(ascii: "`"):
                skipQuoted(close: byte, doubles: true)
                kind = .quotedIdentifier
            case UInt8(ascii: "["):
                skipQuoted(close: UInt8(ascii: "]"), doubles: false)
                kind = .quotedIdentifier
            case _ where isDigit(byte) || (byte == UInt8(ascii: ".") && isDigit(peek(1))):
                while index < bytes.count {
                    let current = bytes[index]
                    let exponentSign =
                        (current == UInt8(ascii: "+") || current == UInt8(ascii: "-"))
                        && (bytes[index - 1] | 0x20) == UInt8(ascii: "e")
                    guard isWordByte(current) || current == UInt8(ascii: ".") || exponentSign else { break }
                    index += 1
                }
                kind = .number
            case _ where isWordByte(byte):
                while index < bytes.count && isWordByte(bytes[index]) { index += 1 }
                kind = .word
            default:
                index += 1
                kind = .symbol
            }
            if kind == .symbol && byte == UInt8(ascii: ")") { depth = max(0, depth - 1) }
            tokens.append(Token(kind: kind, range: start..<index, depth: depth))
            if kind == .symbol && byte == UInt8(ascii: "(") { depth += 1 }
        }
        return tokens
    }
}
