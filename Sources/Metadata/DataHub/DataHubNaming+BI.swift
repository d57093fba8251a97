internal import Crypto

/// URNs of BI objects (format 1.2) and of the warehouse tables they read.
///
/// DataHub's Tableau source names charts, dashboards and data sources by ids of Tableau's Metadata API that Outpost
/// records do not carry, so an export cannot land on the entities that source creates. Outpost names them by their
/// rendered qualified name instead (stable, unique within the connection, and what the catalog shows), prefixed
/// `<instance>.` under a platform instance as DataHub's URN builders do. Containers use the key fields of DataHub's
/// Tableau source (`site_id`, `project_id`, `workbook_id`), holding the qualified name.
///
/// A warehouse table is named as DataHub's source for its platform names it (and as this exporter names the
/// warehouse's own extraction): `<database>.<schema>.<table>` of the parts the BI tool knows, lower-cased for
/// Snowflake, in the same environment and without a platform instance (the BI tool cannot say which one).
extension DataHubNaming {
    /// The DataHub name of a BI object: its rendered qualified name, after the platform instance if any.
    func biName(_ name: QualifiedName) -> String {
        (instance.map { $0 + "." } ?? "") + name.description
    }

    /// The dataset entity of a BI data source or custom SQL query.
    func biDataset(_ name: QualifiedName) -> Entity {
        Entity(
            type: "dataset",
            urn: "urn:li:dataset:(" + platformUrn + "," + Self.encodeURNPart(biName(name)) + "," + environment + ")")
    }

    /// The chart entity of a sheet.
    func chart(_ name: QualifiedName) -> Entity {
        Entity(type: "chart", urn: "urn:li:chart:(" + platform + "," + Self.encodeURNPart(biName(name)) + ")")
    }

    /// The dashboard entity of a dashboard.
    func dashboard(_ name: QualifiedName) -> Entity {
        Entity(type: "dashboard", urn: "urn:li:dashboard:(" + platform + "," + Self.encodeURNPart(biName(name)) + ")")
    }

    /// The key fields of the BI containers, as DataHub's Tableau source names them.
    enum BIContainerKey: String, Sendable {
        case site = "site_id"
        case project = "project_id"
        case workbook = "workbook_id"

        /// The container's `subTypes` name in DataHub.
        var subType: String {
            switch self {
            case .site: "Site"
            case .project: "Project"
            case .workbook: "Workbook"
            }
        }
    }

    /// The container entity of a BI site, project or workbook: the MD5 of the key DataHub's `ContainerKey` hashes
    /// (`instance` when set, `platform`, and the id field; sorted, compact, ASCII-escaped).
    func biContainer(_ key: BIContainerKey, _ name: QualifiedName) -> Entity {
        var json = "{"
        if let instance {
            json += "\"instance\":"
            Self.appendPythonJSONString(instance, to: &json)
            json += ","
        }
        json += "\"platform\":"
        Self.appendPythonJSONString(platform, to: &json)
        json += ",\"" + key.rawValue + "\":"
        Self.appendPythonJSONString(name.description, to: &json)
        json += "}"
        let digest = Insecure.MD5.hash(data: Array(json.utf8))
        return Entity(type: "container", urn: "urn:li:container:" + Hex.encode(digest))
    }

    /// The key properties DataHub writes into a BI container's `customProperties`.
    func biContainerKeyProperties(_ key: BIContainerKey, _ name: QualifiedName) -> DataHubProperties {
        var properties = DataHubProperties()
        properties["platform"] = platform
        properties["instance"] = instance
        properties[key.rawValue] = name.description
        return properties
    }

    /// DataHub's platform for a BI tool's connection type, as DataHub's Tableau source maps Tableau's.
    static func warehousePlatform(connectionType: String) -> String {
        let type = connectionType.lowercased()
        switch type {
        case "textscan", "textclean", "excel-direct", "excel", "csv": return "external"
        case "hadoophive", "hive", "hortonworkshadoophive", "maprhadoophive", "awshadoophive": return "hive"
        case "mysql_odbc", "mysql": return "mysql"
        case "webdata-direct:oracle-eloqua", "oracle": return "oracle"
        case "tbio", "teradata": return "teradata"
        case "sqlserver": return "mssql"
        case "googlebigquery": return "bigquery"
        case "postgresql": return "postgres"
        default: return type.hasSuffix("_jdbc") ? String(type.dropLast("_jdbc".count)) : type
        }
    }

    /// The naming of the warehouse a table reference points into.
    func warehouse(_ reference: TableReference) -> DataHubNaming {
        DataHubNaming(
            platform: Self.warehousePlatform(connectionType: reference.connectionType), instance: nil,
            environment: environment)
    }

    /// The dataset entity of the warehouse table a reference names.
    func warehouseDataset(_ reference: TableReference) -> Entity {
        let naming = warehouse(reference)
        let name = naming.identifier(
            [reference.database, reference.schema, reference.table].compactMap { $0 }.joined(separator: "."))
        return Entity(
            type: "dataset",
            urn: "urn:li:dataset:(" + naming.platformUrn + "," + Self.encodeURNPart(name) + "," + environment + ")")
    }

    /// The schema field URN of the warehouse column a reference names, or nil when it names no column.
    func warehouseField(_ reference: TableReference) -> String? {
        guard let column = reference.column else { return nil }
        return Self.schemaFieldUrn(dataset: warehouseDataset(reference), field: warehouse(reference).fieldPath(column))
    }

    /// The field path of a BI field: the last part of its qualified name (its name, with the ` [id]` that tells
    /// same-named siblings apart).
    static func biFieldPath(_ field: QualifiedName) -> String {
        field.parts.last ?? ""
    }

    /// The qualified name of the data source a field belongs to: its name without the last part.
    static func dataSource(ofField field: QualifiedName) throws -> QualifiedName {
        let rendered = field.description
        guard let slash = rendered.lastIndex(of: "/") else {
            throw MetadataError(.invalidRecord, "'\(field)' is not the qualified name of a field")
        }
        return try QualifiedName(parsing: String(rendered[..<slash]))
    }
}
