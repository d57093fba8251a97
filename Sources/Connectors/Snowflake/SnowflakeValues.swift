internal import CivilTime
internal import Metadata

/// Decoding of jsonv2 cells (every non-NULL cell is a string) and encoding of SQL text.
enum SnowflakeValues {
    /// A string literal for SQL text: `'…'` with `'` doubled and `\` escaped, since Snowflake reads backslash escapes
    /// in single-quoted strings. Any identifier (quotes, emoji, dots, 255 characters) round-trips.
    static func literal(_ text: String) -> String {
        var result = "'"
        for character in text.unicodeScalars {
            switch character {
            case "'": result += "''"
            case "\\": result += "\\\\"
            case "\0": result += "\\0"
            default: result.unicodeScalars.append(character)
            }
        }
        return result + "'"
    }

    /// A quoted identifier: `"…"` with `"` doubled, so the name is used exactly as stored.
    static func identifier(_ name: String) -> String {
        "\"" + name.replacing("\"", with: "\"\"") + "\""
    }

    /// FIXED cells: a decimal string with the scale applied; integers here.
    static func int64(_ text: String?) -> Int64? {
        guard let text else { return nil }
        if let value = Int64(text) { return value }
        // "12.000" from a FIXED column with a scale.
        if let dot = text.firstIndex(of: "."), text[text.index(after: dot)...].allSatisfy({ $0 == "0" }) {
            return Int64(text[..<dot])
        }
        return nil
    }

    /// BOOLEAN cells are `true`/`false`; INFORMATION_SCHEMA's flags are `YES`/`NO`; SHOW's are `Y`/`N`.
    static func bool(_ text: String?) -> Bool? {
        // Read for two cells of every column: the common spellings are matched before any case folding.
        switch text {
        case "YES", "NO", "true", "false": return text == "YES" || text == "true"
        default: break
        }
        return switch text?.lowercased() {
        case "true", "yes", "y", "1": true
        case "false", "no", "n", "0": false
        default: nil
        }
    }

    /// `text` in upper case, without allocating when it already is (Snowflake's type names are).
    private static func upperCased(_ text: String) -> String {
        text.utf8.contains(where: { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }) ? text.uppercased() : text
    }

    /// A TIMESTAMP_LTZ/NTZ cell (`seconds.fraction` since the epoch) or TIMESTAMP_TZ cell (`seconds.fraction offset`)
    /// as RFC 3339 UTC with milliseconds; nil for anything else.
    static func timestamp(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        let instant = text.split(separator: " ").first ?? ""
        let parts = instant.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let seconds = Int64(parts[0]) else { return nil }
        var millis: Int64 = 0
        if parts.count == 2 {
            let fraction = parts[1].prefix(3)
            guard fraction.allSatisfy(\.isASCII),
                let value = Int64(fraction + String(repeating: "0", count: 3 - fraction.count))
            else { return nil }
            millis = value
        }
        // A negative time with a fraction counts the fraction forward from the earlier second.
        var whole = seconds
        if instant.hasPrefix("-") && millis > 0 {
            whole -= 1
            millis = 1000 - millis
        }
        return RFC3339.format(millisecondsSince1970: whole * 1000 + millis)
    }

    /// The type as Snowflake prints it (`NUMBER(38,0)`, `VARCHAR(16777216)`, `TIMESTAMP_NTZ(9)`) from
    /// INFORMATION_SCHEMA.COLUMNS' `DATA_TYPE` and its length, precision and scale.
    static func nativeType(
        dataType: String, length: Int64?, precision: Int64?, scale: Int64?, datetimePrecision: Int64?
    ) -> String {
        let typeName = upperCased(dataType)
        switch typeName {
        case "TEXT", "VARCHAR", "STRING", "CHAR", "CHARACTER":
            return length.map { "VARCHAR(\($0))" } ?? "VARCHAR"
        case "BINARY", "VARBINARY":
            return length.map { "BINARY(\($0))" } ?? "BINARY"
        case "NUMBER", "DECIMAL", "NUMERIC":
            guard let precision else { return "NUMBER" }
            return "NUMBER(\(precision),\(scale ?? 0))"
        case "TIME", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ":
            return datetimePrecision.map { "\(typeName)(\($0))" } ?? typeName
        default:
            return dataType
        }
    }

    /// The normalised family of a Snowflake type.
    static func typeFamily(dataType: String, scale: Int64?) -> Column.TypeFamily {
        let typeName = upperCased(dataType)
        let base = typeName.firstIndex(of: "(").map { String(typeName[..<$0]) } ?? typeName
        switch base {
        case "NUMBER", "DECIMAL", "NUMERIC":
            return (scale ?? 0) == 0 ? .integer : .decimal
        case "INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT": return .integer
        case "FLOAT", "FLOAT4", "FLOAT8", "DOUBLE", "DOUBLE PRECISION", "REAL": return .float
        case "TEXT", "VARCHAR", "STRING", "CHAR", "CHARACTER": return .string
        case "BINARY", "VARBINARY": return .binary
        case "BOOLEAN": return .boolean
        case "DATE": return .date
        case "TIME": return .time
        case "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ", "TIMESTAMP", "DATETIME": return .timestamp
        case "VARIANT", "OBJECT", "MAP": return .json
        case "ARRAY", "VECTOR": return .array
        case "GEOGRAPHY", "GEOMETRY": return .geometric
        default: return .other
        }
    }
}
