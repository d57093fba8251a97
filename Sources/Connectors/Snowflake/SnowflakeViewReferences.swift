internal import Metadata

/// Finds the relations a Snowflake view definition reads: the names after `FROM` and `JOIN` (and in `FROM` lists),
/// resolved as Snowflake resolves them.
///
/// Unquoted identifiers are folded to upper case, quoted ones kept as written; a one-part name is in the view's schema,
/// a two-part name in the view's database, `db..t` in schema PUBLIC. Names that a `WITH` clause defines, subqueries,
/// table functions (`TABLE(…)`, `FLATTEN(…)`, `VALUES (…)`) and stages (`@stage`) are no relations and are left out.
/// Strings, quoted identifiers and comments are skipped whole, so a name inside them is never taken for a reference.
/// `ACCOUNT_USAGE.OBJECT_DEPENDENCIES` is the authoritative source where it is available; this is the fallback.
enum SnowflakeViewReferences {
    private enum Token: Equatable {
        case word(String)
        case quoted(String)
        case symbol(UInt8)
        case other
    }

    /// Qualified names (`connection/database/schema/name`) of the relations `sql` reads, in order of appearance.
    static func references(
        in sql: String, connection: QualifiedName, database: String, schema: String
    ) -> [QualifiedName] {
        let tokens = tokenize(Array(sql.utf8))
        var cteNames: Set<String> = []
        var found: [QualifiedName] = []
        var index = 0

        func isWord(_ position: Int, _ keyword: String) -> Bool {
            guard position < tokens.count, case .word(let text) = tokens[position] else { return false }
            return text.uppercased() == keyword
        }
        func isSymbol(_ position: Int, _ symbol: Character) -> Bool {
            position < tokens.count && tokens[position] == .symbol(symbol.asciiValue ?? 0)
        }
        /// The index after the parenthesis that closes the one at `open`.
        func skipParentheses(_ open: Int) -> Int {
            var depth = 0
            var position = open
            while position < tokens.count {
                if isSymbol(position, "(") { depth += 1 }
                if isSymbol(position, ")") {
                    depth -= 1
                    if depth == 0 { return position + 1 }
                }
                position += 1
            }
            return position
        }
        /// One identifier part: unquoted folded to upper case, quoted kept.
        func part(_ position: Int) -> String? {
            guard position < tokens.count else { return nil }
            switch tokens[position] {
            case .word(let text): return text.uppercased()
            case .quoted(let text): return text
            default: return nil
            }
        }
        /// A dotted name at `position`; returns its parts (empty parts for `db..t`) and the index after it.
        func name(at position: Int) -> ([String], Int)? {
            guard let first = part(position) else { return nil }
            var parts = [first]
            var next = position + 1
            while isSymbol(next, ".") {
                if isSymbol(next + 1, ".") {
                    parts.append("")
                    next += 1
                    continue
                }
                guard let following = part(next + 1) else { return nil }
                parts.append(following)
                next += 2
            }
            return (parts, next)
        }
        /// Reads one FROM item at `position`; returns the index after it.
        func fromItem(_ position: Int) -> Int {
            if isSymbol(position, "(") { return position }
            if isWord(position, "LATERAL") || isWord(position, "TABLE") || isWord(position, "VALUES") {
                return position + 1
            }
            guard let (parts, next) = name(at: position), (1...3).contains(parts.count) else { return position + 1 }
            // A table function, not a relation.
            if isSymbol(next, "(") { return next }
            let resolved: [String]
            switch parts.count {
            case 1: resolved = [database, schema, parts[0]]
            case 2: resolved = [database, parts[0], parts[1]]
            default: resolved = [parts[0], parts[1].isEmpty ? "PUBLIC" : parts[1], parts[2]]
            }
            if parts.count == 1 && cteNames.contains(parts[0]) { return next }
            found.append(QualifiedName(connection.parts + resolved))
            return next
        }

        let clauseEnd: Set<String> = [
            "WHERE", "GROUP", "ORDER", "HAVING", "QUALIFY", "LIMIT", "UNION", "EXCEPT", "MINUS", "INTERSECT",
            "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "NATURAL", "WINDOW", "SELECT", "FETCH",
            "OFFSET", "START", "CONNECT", "MATCH_RECOGNIZE", "PIVOT", "UNPIVOT", "SAMPLE", "TABLESAMPLE", "AT",
            "BEFORE", "CHANGES",
        ]
        while index < tokens.count {
            if isWord(index, "WITH") {
                // WITH [RECURSIVE] name [(columns)] AS (…) [, name …]
                var position = index + 1
                if isWord(position, "RECURSIVE") { position += 1 }
                while let cte = part(position) {
                    var next = position + 1
                    if isSymbol(next, "(") { next = skipParentheses(next) }
                    guard isWord(next, "AS"), isSymbol(next + 1, "(") else { break }
                    cteNames.insert(cte)
                    // The CTE's body is scanned by the main loop; continue after its name.
                    let end = skipParentheses(next + 1)
                    guard isSymbol(end, ",") else { break }
                    position = end + 1
                }
                index += 1
                continue
            }
            if isWord(index, "FROM") || isWord(index, "JOIN") {
                var position = fromItem(index + 1)
                // The rest of a FROM list at this depth (`, item` until a clause ends it); commas may also follow a
                // join's ON condition.
                var depth = 0
                while position < tokens.count {
                    if isSymbol(position, "(") {
                        depth += 1
                    } else if isSymbol(position, ")") {
                        if depth == 0 { break }
                        depth -= 1
                    } else if depth == 0 {
                        if isSymbol(position, ",") {
                            position = fromItem(position + 1)
                            continue
                        }
                        if case .word(let text) = tokens[position], clauseEnd.contains(text.uppercased()) { break }
                        if isSymbol(position, ";") { break }
                    }
                    position += 1
                }
                index += 1
                continue
            }
            index += 1
        }
        return found
    }

    private static func tokenize(_ bytes: [UInt8]) -> [Token] {
        var tokens: [Token] = []
        var index = 0
        func peek(_ offset: Int) -> UInt8 { index + offset < bytes.count ? bytes[index + offset] : 0 }
        func isWordByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "$"):
                true
            default: byte >= 0x80
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0C:
                index += 1
            case UInt8(ascii: "-") where peek(1) == UInt8(ascii: "-"),
                UInt8(ascii: "/") where peek(1) == UInt8(ascii: "/"):
                while index < bytes.count && bytes[index] != UInt8(ascii: "\n") { index += 1 }
            case UInt8(ascii: "/") where peek(1) == UInt8(ascii: "*"):
                index += 2
                while index < bytes.count && !(bytes[index] == UInt8(ascii: "*") && peek(1) == UInt8(ascii: "/")) {
                    index += 1
                }
                index += 2
            case UInt8(ascii: "'"):
                index += 1
                while index < bytes.count {
                    if bytes[index] == UInt8(ascii: "\\") {
                        index += 2
                        continue
                    }
                    if bytes[index] == UInt8(ascii: "'") {
                        if peek(1) == UInt8(ascii: "'") {
                            index += 2
                            continue
                        }
                        break
                    }
                    index += 1
                }
                index += 1
                tokens.append(.other)
            case UInt8(ascii: "$") where peek(1) == UInt8(ascii: "$"):
                index += 2
                while index < bytes.count && !(bytes[index] == UInt8(ascii: "$") && peek(1) == UInt8(ascii: "$")) {
                    index += 1
                }
                index += 2
                tokens.append(.other)
            case UInt8(ascii: "\""):
                var text: [UInt8] = []
                index += 1
                while index < bytes.count {
                    if bytes[index] == UInt8(ascii: "\"") {
                        if peek(1) == UInt8(ascii: "\"") {
                            text.append(UInt8(ascii: "\""))
                            index += 2
                            continue
                        }
                        break
                    }
                    text.append(bytes[index])
                    index += 1
                }
                index += 1
                tokens.append(.quoted(String(decoding: text, as: UTF8.self)))
            case _ where isWordByte(byte):
                let start = index
                while index < bytes.count && isWordByte(bytes[index]) { index += 1 }
                tokens.append(.word(String(decoding: bytes[start..<index], as: UTF8.self)))
            default:
                tokens.append(.symbol(byte))
                index += 1
            }
        }
        return tokens
    }
}
