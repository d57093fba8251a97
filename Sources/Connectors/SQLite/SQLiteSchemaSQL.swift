/// Reads the parts of stored `CREATE` statements that SQLite's pragmas do not report.
///
/// Every function is lenient: on text it does not understand it returns nil or nothing, and the connector
/// falls back to what the pragmas say. The text comes from `sqlite_master.sql`, which SQLite has parsed
/// successfully, so the grammar to handle is only what SQLite accepts.
enum SQLiteSchemaSQL {
    /// A constraint declared with `CONSTRAINT name` in a `CREATE TABLE` statement.
    struct NamedConstraint: Equatable {
        enum Kind: Equatable {
            case primaryKey, unique, foreignKey
        }

        var kind: Kind
        var name: String
        /// The constrained columns as written (a column constraint names its own column).
        var columns: [String]
        /// Foreign keys: the referenced table as written.
        var referencedTable: String?
    }

    /// What a `CREATE TABLE` statement declares beyond what the pragmas report.
    struct Table {
        /// Generation expressions by column name as written.
        var generatedExpressions: [(column: String, expression: String)] = []
        var namedConstraints: [NamedConstraint] = []
        var withoutRowid = false

        /// The generation expression of `column`, matched as SQLite matches names.
        func generatedExpression(of column: String) -> String? {
            generatedExpressions.first { SQLiteSchemaSQL.sameName($0.column, column) }?.expression
        }
    }

    /// Whether two identifiers name the same object: SQLite folds ASCII letters only.
    static func sameName(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.count == rhs.utf8.count
            && zip(lhs.utf8, rhs.utf8).allSatisfy { foldASCII($0) == foldASCII($1) }
    }

    /// `name` with ASCII letters lower-cased, the key under which SQLite considers identifiers equal.
    static func folded(_ name: String) -> String {
        String(decoding: name.utf8.map(foldASCII), as: UTF8.self)
    }

    private static func foldASCII(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    /// Whether the statement is `CREATE VIRTUAL TABLE`.
    static func isVirtualTable(_ sql: String) -> Bool {
        let scan = SQLiteTokenizer(sql)
        return scan.isKeyword(0, "CREATE") && scan.isKeyword(1, "VIRTUAL")
    }

    /// The query of a `CREATE VIEW … AS <query>` statement.
    static func viewQuery(_ sql: String) -> String? {
        let scan = SQLiteTokenizer(sql)
        // The first bare AS outside parentheses ends the header; a column list is inside parentheses and a
        // view named "as" is a quoted identifier, not a word.
        guard
            let keyword = scan.tokens.indices.first(where: { scan.tokens[$0].depth == 0 && scan.isKeyword($0, "AS") }),
            keyword + 1 < scan.tokens.count
        else { return nil }
        return scan.text(from: keyword + 1)
    }

    /// One entry per key of a `CREATE INDEX` statement, as written, without a trailing `ASC` or `DESC`.
    static func indexKeys(_ sql: String) -> [String] {
        let scan = SQLiteTokenizer(sql)
        guard let (open, close) = indexKeyList(scan) else { return [] }
        return scan.items(between: open, and: close).map { item in
            var last = item.upperBound - 1
            if last > item.lowerBound && (scan.isKeyword(last, "ASC") || scan.isKeyword(last, "DESC")) { last -= 1 }
            return scan.text(from: item.lowerBound, through: last)
        }
    }

    /// The `WHERE` clause of a partial `CREATE INDEX` statement, without the keyword.
    static func indexPredicate(_ sql: String) -> String? {
        let scan = SQLiteTokenizer(sql)
        guard let (_, close) = indexKeyList(scan),
            let keyword = scan.tokens.indices.first(where: {
                $0 > close && scan.tokens[$0].depth == 0 && scan.isKeyword($0, "WHERE")
            }),
            keyword + 1 < scan.tokens.count
        else { return nil }
        return scan.text(from: keyword + 1)
    }

    /// The parentheses around an index's keys: the first pair after the bare `ON`.
    private static func indexKeyList(_ scan: SQLiteTokenizer) -> (Int, Int)? {
        guard let on = scan.tokens.indices.first(where: { scan.tokens[$0].depth == 0 && scan.isKeyword($0, "ON") }),
            let open = scan.tokens.indices.first(where: { $0 > on && scan.isSymbol($0, UInt8(ascii: "(")) }),
            let close = scan.closing(open)
        else { return nil }
        return (open, close)
    }

    /// Generation expressions, constraint names and `WITHOUT ROWID` of a `CREATE TABLE` statement.
    static func table(_ sql: String) -> Table {
        let scan = SQLiteTokenizer(sql)
        var table = Table()
        // The table name is one token (or `schema.name`), so the first parenthesis opens the column list.
        guard let open = scan.tokens.indices.first(where: { scan.isSymbol($0, UInt8(ascii: "(")) }),
            let close = scan.closing(open)
        else { return table }
        table.withoutRowid = (close + 1..<scan.tokens.count).contains {
            scan.isKeyword($0, "WITHOUT") && scan.isKeyword($0 + 1, "ROWID")
        }
        for item in scan.items(between: open, and: close) {
            let first = item.lowerBound
            if ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"].contains(where: { scan.isKeyword(first, $0) }) {
                if let constraint = tableConstraint(scan, item) { table.namedConstraints.append(constraint) }
            } else {
                readColumnDefinition(scan, item, into: &table)
            }
        }
        return table
    }

    /// A table constraint (`CONSTRAINT n PRIMARY KEY (a, b)`), when it is named and not a check.
    private static func tableConstraint(_ scan: SQLiteTokenizer, _ item: Range<Int>) -> NamedConstraint? {
        guard scan.isKeyword(item.lowerBound, "CONSTRAINT"), item.count > 2 else { return nil }
        let name = scan.identifier(item.lowerBound + 1)
        let keyword = item.lowerBound + 2
        let kind: NamedConstraint.Kind
        if scan.isKeyword(keyword, "PRIMARY") {
            kind = .primaryKey
        } else if scan.isKeyword(keyword, "UNIQUE") {
            kind = .unique
        } else if scan.isKeyword(keyword, "FOREIGN") {
            kind = .foreignKey
        } else {
            return nil
        }
        guard let open = item.first(where: { $0 > keyword && scan.isSymbol($0, UInt8(ascii: "(")) }),
            let close = scan.closing(open), close < item.upperBound
        else { return nil }
        // Each entry is a column name, possibly followed by COLLATE or ASC/DESC.
        let columns = scan.items(between: open, and: close).map { scan.identifier($0.lowerBound) }
        var constraint = NamedConstraint(kind: kind, name: name, columns: columns)
        if kind == .foreignKey,
            let references = item.first(where: { $0 > close && scan.isKeyword($0, "REFERENCES") }),
            references + 1 < item.upperBound
        {
            constraint.referencedTable = scan.identifier(references + 1)
        }
        return constraint
    }

    /// A column definition's generation expression and named column constraints.
    private static func readColumnDefinition(_ scan: SQLiteTokenizer, _ item: Range<Int>, into table: inout Table) {
        let column = scan.identifier(item.lowerBound)
        let depth = scan.tokens[item.lowerBound].depth
        var pendingName: String?
        var index = item.lowerBound + 1
        while index < item.upperBound {
            defer { index += 1 }
            guard scan.tokens[index].depth == depth else { continue }
            if scan.isKeyword(index, "CONSTRAINT"), index + 1 < item.upperBound {
                pendingName = scan.identifier(index + 1)
                index += 1
            } else if scan.isKeyword(index, "AS"), scan.isSymbol(index + 1, UInt8(ascii: "(")),
                let close = scan.closing(index + 1), close > index + 2
            {
                table.generatedExpressions.append((column, scan.text(from: index + 2, through: close - 1)))
                pendingName = nil
                index = close
            } else if let kind = columnConstraintKind(scan, index) {
                if let name = pendingName {
                    var constraint = NamedConstraint(kind: kind, name: name, columns: [column])
                    if kind == .foreignKey && index + 1 < item.upperBound {
                        constraint.referencedTable = scan.identifier(index + 1)
                    }
                    table.namedConstraints.append(constraint)
                }
                pendingName = nil
            } else if ["NOT", "NULL", "CHECK", "DEFAULT", "COLLATE", "GENERATED"].contains(where: {
                scan.isKeyword(index, $0)
            }) {
                // A name before these belongs to a constraint the catalog does not name.
                pendingName = nil
            }
        }
    }

    private static func columnConstraintKind(_ scan: SQLiteTokenizer, _ index: Int) -> NamedConstraint.Kind? {
        if scan.isKeyword(index, "PRIMARY") { return .primaryKey }
        if scan.isKeyword(index, "UNIQUE") { return .unique }
        if scan.isKeyword(index, "REFERENCES") { return .foreignKey }
        return nil
    }
}
