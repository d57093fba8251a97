internal import Metadata

extension Column.TypeFamily {
    /// The family of a PostgreSQL type from its `typcategory` and the name of its base type.
    ///
    /// Domains share their base type's category, so a domain-typed column gets its base type's family.
    static func postgres(category: String, baseName: String) -> Column.TypeFamily {
        switch category {
        case "B": return .boolean
        case "N":
            switch baseName {
            case "int2", "int4", "int8", "oid", "xid", "cid", "regclass", "regproc", "regtype": return .integer
            case "float4", "float8": return .float
            default: return .decimal
            }
        case "S": return .string
        case "D":
            switch baseName {
            case "date": return .date
            case "time", "timetz": return .time
            default: return .timestamp
            }
        case "T": return .interval
        case "A": return .array
        case "E": return .enumeration
        case "C": return .composite
        case "R": return .range
        case "I": return .network
        case "G": return .geometric
        case "V": return .bitString
        case "U":
            switch baseName {
            case "uuid": return .uuid
            case "json", "jsonb": return .json
            case "bytea": return .binary
            default: return .other
            }
        default: return .other
        }
    }
}
