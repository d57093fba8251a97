/// An aspect value the exporter writes: DataHub's aspect name plus the JSON form DataHub's Python classes
/// (`datahub.metadata.schema_classes`) read from a metadata file.
protocol DataHubAspectValue: Encodable, Sendable {
    /// The aspect's name, as in a proposal's `aspectName`.
    static var aspectName: String { get }
}

/// The JSON shapes of the DataHub aspects the exporter writes.
///
/// Field names, nesting and union spellings follow DataHub's aspect schemas exactly; fields with a default in
/// those schemas (`created`, `lastModified`, `auditStamp`, `tags` …) are left out and take the default. Avro
/// unions are written the way DataHub writes them, as an object with one key naming the branch
/// (`{"com.linkedin.schema.NumberType": {}}`).
enum DataHubAspect {
    /// A JSON object key chosen at run time.
    struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }

        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// `status`: the entity exists (is not soft-deleted).
    struct Status: DataHubAspectValue {
        static let aspectName = "status"
        var removed = false
    }

    /// `container`: the entity's parent container.
    struct Container: DataHubAspectValue {
        static let aspectName = "container"
        var container: String
    }

    /// `subTypes`: what kind of dataset or container this is (`Table`, `View`, `Database`, `Schema`).
    struct SubTypes: DataHubAspectValue {
        static let aspectName = "subTypes"
        var typeNames: [String]
    }

    /// `dataPlatformInstance`: the platform and, if any, platform instance of the entity.
    struct DataPlatformInstance: DataHubAspectValue {
        static let aspectName = "dataPlatformInstance"
        var platform: String
        var instance: String?
    }

    /// `containerProperties`: a database's or schema's name, description and properties.
    struct ContainerProperties: DataHubAspectValue {
        static let aspectName = "containerProperties"
        var customProperties: DataHubProperties
        var name: String
        var description: String?
        /// A `FabricType` symbol.
        var env: String?
    }

    /// `datasetProperties`: a dataset's name, description and properties.
    struct DatasetProperties: DataHubAspectValue {
        static let aspectName = "datasetProperties"
        var customProperties: DataHubProperties
        var name: String
        var description: String?
    }

    /// `viewProperties`: the SQL of a view or materialized view.
    struct ViewProperties: DataHubAspectValue {
        static let aspectName = "viewProperties"
        var materialized: Bool
        var viewLogic: String
        var viewLanguage = "SQL"
    }

    /// `upstreamLineage`: the datasets a dataset reads and, where known, which fields feed which.
    struct UpstreamLineage: DataHubAspectValue {
        /// One upstream dataset.
        struct Upstream: Encodable, Sendable {
            var dataset: String
            /// A `DatasetLineageType` symbol: `COPY`, `TRANSFORMED` or `VIEW`.
            var type: String
        }

        /// Field-level lineage: the upstream fields (schema field URNs) one downstream field is computed from.
        struct FineGrainedLineage: Encodable, Sendable {
            var upstreamType = "FIELD_SET"
            var upstreams: [String]
            var downstreamType = "FIELD"
            var downstreams: [String]
        }

        static let aspectName = "upstreamLineage"
        var upstreams: [Upstream]
        var fineGrainedLineages: [FineGrainedLineage]?
    }

    /// DataHub's `ChangeAuditStamps`: when an entity was created and last changed. DataHub's own default is time 0
    /// by `urn:li:corpuser:unknown`, used here when the source gives no time.
    struct ChangeAuditStamps: Encodable, Sendable {
        struct Stamp: Encodable, Sendable {
            var time: Int64
            var actor = "urn:li:corpuser:unknown"
        }

        var created: Stamp
        var lastModified: Stamp
    }

    /// An `Edge` to another entity, as `chartInfo.inputEdges` holds them.
    struct Edge: Encodable, Sendable {
        var destinationUrn: String
    }

    /// `chartInfo`: a chart (a BI sheet) with the datasets it reads.
    struct ChartInfo: DataHubAspectValue {
        static let aspectName = "chartInfo"
        var customProperties: DataHubProperties
        var externalUrl: String?
        var title: String
        /// Required by DataHub; empty when the source has none.
        var description: String
        var lastModified: ChangeAuditStamps
        var inputEdges: [Edge]
    }

    /// `dashboardInfo`: a dashboard with the charts on it.
    struct DashboardInfo: DataHubAspectValue {
        static let aspectName = "dashboardInfo"
        var customProperties: DataHubProperties
        var externalUrl: String?
        var title: String
        /// Required by DataHub; empty when the source has none.
        var description: String
        var charts: [String]
        var lastModified: ChangeAuditStamps
    }

    /// `schemaMetadata`: a dataset's fields with their keys. DataHub replaces the whole aspect on every write,
    /// so it must hold every field, the primary key and every foreign key of the dataset at once.
    struct SchemaMetadata: DataHubAspectValue {
        /// One field (column).
        struct Field: Encodable, Sendable {
            var fieldPath: String
            var nullable: Bool
            var description: String?
            var type: DataType
            var nativeDataType: String
            var recursive = false
            /// Only written when true, as DataHub's postgres source does.
            var isPartOfKey: Bool?
        }

        /// DataHub's `SchemaFieldDataType`: a record whose one field is the type union.
        struct DataType: Encodable, Sendable {
            var type: FieldType
        }

        /// The branches of DataHub's field type union that a relational column can map to.
        enum FieldType: Encodable, Sendable, Equatable {
            case boolean, number, string, bytes, date, time, enumeration, record, map, null
            /// An array, with its element type when known.
            case array(elementType: String?)

            var branchName: String {
                switch self {
                case .boolean: "BooleanType"
                case .number: "NumberType"
                case .string: "StringType"
                case .bytes: "BytesType"
                case .date: "DateType"
                case .time: "TimeType"
                case .enumeration: "EnumType"
                case .record: "RecordType"
                case .map: "MapType"
                case .null: "NullType"
                case .array: "ArrayType"
                }
            }

            func encode(to encoder: any Encoder) throws {
                var union = encoder.container(keyedBy: Key.self)
                var branch = union.nestedContainer(keyedBy: Key.self, forKey: Key("com.linkedin.schema." + branchName))
                if case .array(let elementType?) = self {
                    try branch.encode([elementType], forKey: Key("nestedType"))
                }
            }
        }

        /// A foreign key: source fields of this dataset referencing fields of `foreignDataset`, as field URNs.
        struct ForeignKey: Encodable, Sendable {
            var name: String
            var foreignFields: [String]
            var sourceFields: [String]
            var foreignDataset: String
        }

        /// The `platformSchema` union; DataHub's SQL sources write an empty `MySqlDDL` for every engine, its BI
        /// sources an empty `OtherSchema`.
        enum PlatformSchema: Encodable, Sendable {
            case sql
            case other

            func encode(to encoder: any Encoder) throws {
                var union = encoder.container(keyedBy: Key.self)
                switch self {
                case .sql:
                    var branch = union.nestedContainer(keyedBy: Key.self, forKey: Key("com.linkedin.schema.MySqlDDL"))
                    try branch.encode("", forKey: Key("tableSchema"))
                case .other:
                    var branch = union.nestedContainer(
                        keyedBy: Key.self, forKey: Key("com.linkedin.schema.OtherSchema"))
                    try branch.encode("", forKey: Key("rawSchema"))
                }
            }
        }

        static let aspectName = "schemaMetadata"
        var schemaName: String
        var platform: String
        var version = 0
        var hash = ""
        var platformSchema = PlatformSchema.sql
        var fields: [Field]
        var primaryKeys: [String]?
        var foreignKeys: [ForeignKey]?
    }
}
