internal import Crypto

/// The URNs DataHub's own SQL sources give datasets, fields and containers, computed the same way so that an
/// Outpost export and a DataHub-native ingestion of the same database land on the same entities.
///
/// What DataHub does, and so what this does:
/// - A dataset's name is `<database>.<schema>.<table>`, prefixed with `<instance>.` when a platform instance is
///   set; case is kept and dots inside identifiers are not escaped (DataHub's postgres source does neither).
/// - Inside a URN, `,`, `(`, `)` and `␟` are percent-encoded (DataHub's `UrnEncoder`); nothing else is.
/// - A container's URN is `urn:li:container:<md5>` where the MD5 is taken over Python's
///   `json.dumps(key, sort_keys=True, separators=(",", ":"))` of the container key: `platform`, `database`,
///   `schema` (schemas only) and `instance`, which holds the platform instance or, when there is none, the
///   environment (DataHub's `backcompat_env_as_instance`). Non-ASCII is escaped as `\uXXXX` like Python does.
/// - For Snowflake, DataHub's Snowflake source lowercases dataset names, container keys and field paths
///   (`convert_urns_to_lowercase`, on by default; `preserve_column_case` off): so does this.
struct DataHubNaming: Sendable {
    /// One entity a proposal is about: its DataHub entity type and URN.
    struct Entity: Sendable, Equatable {
        let type: String
        let urn: String
    }

    /// The DataHub platform id, such as `postgres`.
    let platform: String
    /// The DataHub platform instance, if any.
    let instance: String?
    /// The DataHub environment (`FabricType` symbol), upper-case.
    let environment: String

    var platformUrn: String { "urn:li:dataPlatform:" + platform }

    /// Whether DataHub's source for the platform lowercases identifiers in URNs, container keys and field paths.
    var foldsCase: Bool { platform == "snowflake" }

    /// An identifier as DataHub's source for the platform writes it into URNs and keys.
    func identifier(_ name: String) -> String { foldsCase ? name.lowercased() : name }

    /// A column's field path.
    func fieldPath(_ column: String) -> String { identifier(column) }

    /// `schemaMetadata.schemaName`: the dataset name as DataHub's source for the platform writes it.
    func schemaName(of table: QualifiedName) throws -> String { identifier(try Self.datasetName(of: table)) }

    var platformInstanceUrn: String? {
        instance.map { "urn:li:dataPlatformInstance:(" + platformUrn + "," + $0 + ")" }
    }

    /// DataHub's plain dataset name of a table (`db.schema.table`), without the platform instance: the form
    /// DataHub uses as `schemaName`.
    ///
    /// - Throws: `MetadataError.invalidRecord` when the name does not have the `connection/db/schema/table` shape.
    static func datasetName(of table: QualifiedName) throws -> String {
        guard table.parts.count >= 4 else {
            throw MetadataError(
                .invalidRecord, "'\(table)' is not the qualified name of a table (connection/database/schema/table)")
        }
        return table.parts.suffix(3).joined(separator: ".")
    }

    /// The dataset entity of a table, view or materialized view.
    func dataset(_ table: QualifiedName) throws -> Entity {
        var name = identifier(try Self.datasetName(of: table))
        if let instance { name = instance + "." + name }
        let urn = "urn:li:dataset:(" + platformUrn + "," + Self.encodeURNPart(name) + "," + environment + ")"
        return Entity(type: "dataset", urn: urn)
    }

    /// The URN of one field of a dataset, as foreign keys reference it.
    static func schemaFieldUrn(dataset: Entity, field: String) -> String {
        "urn:li:schemaField:(" + dataset.urn + "," + encodeURNPart(field) + ")"
    }

    /// The container entity of a database, or of a schema when `schema` is given.
    func container(database rawDatabase: String, schema rawSchema: String? = nil) -> Entity {
        let database = identifier(rawDatabase)
        let schema = rawSchema.map(identifier)
        var key = "{\"database\":"
        Self.appendPythonJSONString(database, to: &key)
        key += ",\"instance\":"
        Self.appendPythonJSONString(instance ?? environment, to: &key)
        key += ",\"platform\":"
        Self.appendPythonJSONString(platform, to: &key)
        if let schema {
            key += ",\"schema\":"
            Self.appendPythonJSONString(schema, to: &key)
        }
        key += "}"
        let digest = Insecure.MD5.hash(data: Array(key.utf8))
        return Entity(type: "container", urn: "urn:li:container:" + Hex.encode(digest))
    }

    /// The key properties DataHub writes into a container's `customProperties`, in DataHub's order.
    func containerKeyProperties(database: String, schema: String? = nil) -> DataHubProperties {
        var properties = DataHubProperties()
        properties["platform"] = platform
        properties["instance"] = instance
        properties["env"] = environment
        properties["database"] = identifier(database)
        properties["schema"] = schema.map(identifier)
        return properties
    }

    /// Percent-encodes the characters DataHub reserves inside URN tuples.
    static func encodeURNPart(_ part: String) -> String {
        let reserved: Set<Unicode.Scalar> = [",", "(", ")", "\u{241F}"]
        guard part.unicodeScalars.contains(where: reserved.contains) else { return part }
        var out = ""
        for scalar in part.unicodeScalars {
            guard reserved.contains(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            for byte in String(scalar).utf8 {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// Appends `value` as Python's `json.dumps` writes a string with its default `ensure_ascii=True`.
    static func appendPythonJSONString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value >= 0x20 && scalar.value < 0x7F {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value < 0x10000 {
                    appendUnicodeEscape(scalar.value, to: &out)
                } else {
                    let offset = scalar.value - 0x10000
                    appendUnicodeEscape(0xD800 + (offset >> 10), to: &out)
                    appendUnicodeEscape(0xDC00 + (offset & 0x3FF), to: &out)
                }
            }
        }
        out += "\""
    }

    private static func appendUnicodeEscape(_ unit: UInt32, to out: inout String) {
        out += "\\u" + String(unit, radix: 16, uppercase: false).leftPadded(to: 4)
    }
}
