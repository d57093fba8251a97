// Business-intelligence records (format 1.2): what a BI tool (Tableau) holds, from its site down to the fields
// its charts use, with lineage into the warehouse tables other connections extract.
//
// The hierarchy is site → project (nested) → workbook → sheet / dashboard / embedded data source, and
// project → published data source; fields belong to a data source. Projects play the role schemas play for
// databases: each is a completeness scope of its own. Relations inside the BI tool are arrays of qualified names
// on the downstream record (a sheet's fields, a dashboard's sheets, a calculated field's inputs); relations into
// a warehouse are `TableReference`s, what the BI tool says about a table of another connection, resolved by the
// catalog.

/// A BI site: the top of a BI connection's hierarchy (Tableau: a site of Tableau Server or Cloud).
public struct Site: Codable, Sendable, Equatable {
    /// `<connection>/<site name>`.
    public var qualifiedName: QualifiedName
    public var name: String
    /// The site's identifier in URLs (Tableau's content URL; empty for the default site).
    public var contentUrl: String
    /// The tool's stable identifier (Tableau's LUID).
    public var luid: String?
    public var url: String?

    public init(qualifiedName: QualifiedName, name: String, contentUrl: String, luid: String?, url: String?) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.contentUrl = contentUrl
        self.luid = luid
        self.url = url
    }
}

/// A project (folder); projects nest, and a nested project's name continues its parent's.
public struct Project: Codable, Sendable, Equatable {
    /// `<parent project or site>/<name>`.
    public var qualifiedName: QualifiedName
    public var name: String
    public var site: QualifiedName
    /// The enclosing project; absent at the top level.
    public var parentProject: QualifiedName?
    /// The names of the enclosing projects and this one, outermost first, joined with `/` (what project filters
    /// match).
    public var path: String
    public var luid: String?
    public var owner: String?
    public var comment: String?

    public init(
        qualifiedName: QualifiedName, name: String, site: QualifiedName, parentProject: QualifiedName?, path: String,
        luid: String?, owner: String? = nil, comment: String? = nil
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.site = site
        self.parentProject = parentProject
        self.path = path
        self.luid = luid
        self.owner = owner
        self.comment = comment
    }
}

/// A workbook: a file of sheets and dashboards published to a project.
public struct Workbook: Codable, Sendable, Equatable {
    /// `<project>/~workbook/<name>`.
    public var qualifiedName: QualifiedName
    public var name: String
    public var site: QualifiedName
    public var project: QualifiedName
    public var luid: String?
    public var owner: String?
    public var url: String?
    public var createdAt: String?
    public var updatedAt: String?
    public var comment: String?
    /// Tag names, sorted.
    public var tags: [String]?

    public init(
        qualifiedName: QualifiedName, name: String, site: QualifiedName, project: QualifiedName, luid: String?,
        owner: String? = nil, url: String? = nil, createdAt: String? = nil, updatedAt: String? = nil,
        comment: String? = nil, tags: [String]? = nil
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.site = site
        self.project = project
        self.luid = luid
        self.owner = owner
        self.url = url
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.comment = comment
        self.tags = tags
    }
}

/// A sheet (worksheet, a chart) of a workbook, with the data source fields it shows.
public struct Sheet: Codable, Sendable, Equatable {
    /// `<workbook>/~sheet/<name>`.
    public var qualifiedName: QualifiedName
    public var name: String
    public var site: QualifiedName
    public var project: QualifiedName
    public var workbook: QualifiedName
    public var luid: String?
    public var url: String?
    public var createdAt: String?
    public var updatedAt: String?
    /// The fields the sheet uses, sorted: lineage from the data sources.
    public var fields: [QualifiedName]

    public init(
        qualifiedName: QualifiedName, name: String, site: QualifiedName, project: QualifiedName,
        workbook: QualifiedName, luid: String?, url: String? = nil, createdAt: String? = nil,
        updatedAt: String? = nil, fields: [QualifiedName]
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.site = site
        self.project = project
        self.workbook = workbook
        self.luid = luid
        self.url = url
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.fields = fields
    }
}

/// A dashboard of a workbook, with the sheets it holds.
public struct Dashboard: Codable, Sendable, Equatable {
    /// `<workbook>/~dashboard/<name>`.
    public var qualifiedName: QualifiedName
    public var name: String
    public var site: QualifiedName
    public var project: QualifiedName
    public var workbook: QualifiedName
    public var luid: String?
    public var url: String?
    public var createdAt: String?
    public var updatedAt: String?
    /// The sheets on the dashboard, sorted.
    public var sheets: [QualifiedName]

    public init(
        qualifiedName: QualifiedName, name: String, site: QualifiedName, project: QualifiedName,
        workbook: QualifiedName, luid: String?, url: String? = nil, createdAt: String? = nil,
        updatedAt: String? = nil, sheets: [QualifiedName]
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.site = site
        self.project = project
        self.workbook = workbook
        self.luid = luid
        self.url = url
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.sheets = sheets
    }
}

/// A data source: published to a project (shared by workbooks) or embedded in one workbook.
public struct DataSource: Codable, Sendable, Equatable {
    /// `<project>/~dataSource/<name>` when published, `<workbook>/~dataSource/<name>` when embedded.
    public var qualifiedName: QualifiedName
    public var name: String
    public var site: QualifiedName
    public var project: QualifiedName
    /// The workbook an embedded data source belongs to; absent for a published one.
    public var workbook: QualifiedName?
    public var published: Bool
    public var luid: String?
    public var owner: String?
    public var certified: Bool?
    public var certifier: String?
    public var certificationNote: String?
    public var hasExtracts: Bool?
    public var createdAt: String?
    public var updatedAt: String?
    public var comment: String?
    /// The published data sources an embedded one reads through, sorted.
    public var upstreamDataSources: [QualifiedName]
    /// The warehouse tables it reads, as the BI tool names them, sorted.
    public var upstreamTables: [TableReference]

    public init(
        qualifiedName: QualifiedName, name: String, site: QualifiedName, project: QualifiedName,
        workbook: QualifiedName?, published: Bool, luid: String?, owner: String? = nil, certified: Bool? = nil,
        certifier: String? = nil, certificationNote: String? = nil, hasExtracts: Bool? = nil,
        createdAt: String? = nil, updatedAt: String? = nil, comment: String? = nil,
        upstreamDataSources: [QualifiedName], upstreamTables: [TableReference]
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.site = site
        self.project = project
        self.workbook = workbook
        self.published = published
        self.luid = luid
        self.owner = owner
        self.certified = certified
        self.certifier = certifier
        self.certificationNote = certificationNote
        self.hasExtracts = hasExtracts
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.comment = comment
        self.upstreamDataSources = upstreamDataSources
        self.upstreamTables = upstreamTables
    }
}

/// A field of a data source: a column of its tables, or calculated from other fields.
public struct Field: Codable, Sendable, Equatable {
    /// What the field is computed from.
    public enum FieldType: String, Codable, Sendable, Equatable {
        /// A column of an upstream table.
        case column
        /// A formula over other fields.
        case calculated
        /// A published data source's field as a workbook reads it (its upstream field is the published one).
        case remote
        /// Bins, groups, sets, hierarchies and the other kinds a BI tool derives (an open list: `fieldType` says which).
        case derived
    }

    /// `<data source>/<name>`.
    public var qualifiedName: QualifiedName
    public var name: String
    public var site: QualifiedName
    public var project: QualifiedName
    public var dataSource: QualifiedName
    public var fieldType: FieldType
    /// The BI tool's own type name for the field (Tableau: `ColumnField`, `CalculatedField`, `BinField`, …).
    public var sourceFieldType: String?
    /// `dimension` or `measure` (an open vocabulary: the tool's own role names, lower case).
    public var role: String?
    /// The tool's data type as it names it (`STRING`, `INTEGER`, `DATETIME`, …).
    public var dataType: String?
    public var hidden: Bool?
    /// A calculated field's formula.
    public var formula: String?
    public var comment: String?
    /// The fields of the same data source (or of the published one it reads through) this field is computed
    /// from, sorted.
    public var upstreamFields: [QualifiedName]
    /// The warehouse columns this field reads, sorted.
    public var upstreamColumns: [TableReference]

    public init(
        qualifiedName: QualifiedName, name: String, site: QualifiedName, project: QualifiedName,
        dataSource: QualifiedName, fieldType: FieldType, sourceFieldType: String? = nil, role: String? = nil,
        dataType: String? = nil, hidden: Bool? = nil, formula: String? = nil, comment: String? = nil,
        upstreamFields: [QualifiedName], upstreamColumns: [TableReference]
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.site = site
        self.project = project
        self.dataSource = dataSource
        self.fieldType = fieldType
        self.sourceFieldType = sourceFieldType
        self.role = role
        self.dataType = dataType
        self.hidden = hidden
        self.formula = formula
        self.comment = comment
        self.upstreamFields = upstreamFields
        self.upstreamColumns = upstreamColumns
    }
}

/// A custom SQL query a data source reads from, with the tables the BI tool parsed out of it.
public struct CustomSQL: Codable, Sendable, Equatable {
    /// `<data source>/~sql/<name>`.
    public var qualifiedName: QualifiedName
    public var name: String
    public var site: QualifiedName
    public var project: QualifiedName
    public var dataSource: QualifiedName
    /// The query text.
    public var query: String?
    /// The connection type of the database it runs on (Tableau's names: `postgres`, `snowflake`, …).
    public var connectionType: String?
    /// False when the BI tool could not parse the query, so `upstreamTables` is empty for that reason.
    public var parsed: Bool
    /// The tables the BI tool reports the query reads, sorted; possibly empty even when parsed.
    public var upstreamTables: [TableReference]

    public init(
        qualifiedName: QualifiedName, name: String, site: QualifiedName, project: QualifiedName,
        dataSource: QualifiedName, query: String?, connectionType: String?, parsed: Bool,
        upstreamTables: [TableReference]
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.site = site
        self.project = project
        self.dataSource = dataSource
        self.query = query
        self.connectionType = connectionType
        self.parsed = parsed
        self.upstreamTables = upstreamTables
    }
}

/// A table (or one of its columns) of another connection, as a BI tool describes it: the catalog matches it to the
/// asset of the connection whose source it names. Every part is optional but `table`, because BI tools often know
/// less than the warehouse (no host for a file, no schema for some databases).
public struct TableReference: Codable, Sendable, Equatable, Hashable, Comparable {
    /// The BI tool's connection type (`postgres`, `snowflake`, `sqlserver`, …), lower case.
    public var connectionType: String
    public var host: String?
    public var port: Int?
    public var database: String?
    public var schema: String?
    public var table: String
    public var column: String?

    public init(
        connectionType: String, host: String? = nil, port: Int? = nil, database: String? = nil,
        schema: String? = nil, table: String, column: String? = nil
    ) {
        self.connectionType = connectionType
        self.host = host
        self.port = port
        self.database = database
        self.schema = schema
        self.table = table
        self.column = column
    }

    private var sortKey: [String] {
        [
            connectionType, host ?? "", port.map { String($0) } ?? "", database ?? "", schema ?? "", table,
            column ?? "",
        ]
    }

    public static func < (lhs: TableReference, rhs: TableReference) -> Bool {
        lhs.sortKey.lexicographicallyPrecedes(rhs.sortKey)
    }
}

/// One BI record; `MetadataRecord.bi` carries it.
public enum BIRecord: Sendable, Equatable {
    case site(Site)
    case project(Project)
    case workbook(Workbook)
    case sheet(Sheet)
    case dashboard(Dashboard)
    case dataSource(DataSource)
    case field(Field)
    case customSQL(CustomSQL)

    public var kind: RecordKind {
        switch self {
        case .site: .site
        case .project: .project
        case .workbook: .workbook
        case .sheet: .sheet
        case .dashboard: .dashboard
        case .dataSource: .dataSource
        case .field: .field
        case .customSQL: .customSQL
        }
    }

    public var qualifiedName: QualifiedName {
        switch self {
        case .site(let record): record.qualifiedName
        case .project(let record): record.qualifiedName
        case .workbook(let record): record.qualifiedName
        case .sheet(let record): record.qualifiedName
        case .dashboard(let record): record.qualifiedName
        case .dataSource(let record): record.qualifiedName
        case .field(let record): record.qualifiedName
        case .customSQL(let record): record.qualifiedName
        }
    }

    public var name: String {
        switch self {
        case .site(let record): record.name
        case .project(let record): record.name
        case .workbook(let record): record.name
        case .sheet(let record): record.name
        case .dashboard(let record): record.name
        case .dataSource(let record): record.name
        case .field(let record): record.name
        case .customSQL(let record): record.name
        }
    }

    /// The site: the top of the hierarchy (its own name for a site).
    public var site: QualifiedName {
        switch self {
        case .site(let record): record.qualifiedName
        case .project(let record): record.site
        case .workbook(let record): record.site
        case .sheet(let record): record.site
        case .dashboard(let record): record.site
        case .dataSource(let record): record.site
        case .field(let record): record.site
        case .customSQL(let record): record.site
        }
    }

    /// The project the record lies in (its own name for a project), the completeness scope; nil for a site.
    public var project: QualifiedName? {
        switch self {
        case .site: nil
        case .project(let record): record.qualifiedName
        case .workbook(let record): record.project
        case .sheet(let record): record.project
        case .dashboard(let record): record.project
        case .dataSource(let record): record.project
        case .field(let record): record.project
        case .customSQL(let record): record.project
        }
    }

    /// The direct parent in the browsing tree: a project's parent project (or the site), a workbook's project, a
    /// sheet's workbook, a data source's workbook or project, a field's data source; nil for a site.
    public var parent: QualifiedName? {
        switch self {
        case .site: nil
        case .project(let record): record.parentProject ?? record.site
        case .workbook(let record): record.project
        case .sheet(let record): record.workbook
        case .dashboard(let record): record.workbook
        case .dataSource(let record): record.workbook ?? record.project
        case .field(let record): record.dataSource
        case .customSQL(let record): record.dataSource
        }
    }

    /// The record with the given field groups removed.
    public func removing(_ groups: Set<FieldGroup>) -> BIRecord {
        let comments = groups.contains(.comments)
        let definitions = groups.contains(.definitions)
        let owners = groups.contains(.owners)
        switch self {
        case .site:
            return self
        case .project(var record):
            if comments { record.comment = nil }
            if owners { record.owner = nil }
            return .project(record)
        case .workbook(var record):
            if comments { record.comment = nil }
            if owners { record.owner = nil }
            return .workbook(record)
        case .sheet, .dashboard:
            return self
        case .dataSource(var record):
            if comments { record.comment = nil }
            if owners {
                record.owner = nil
                record.certifier = nil
            }
            return .dataSource(record)
        case .field(var record):
            if comments { record.comment = nil }
            if definitions { record.formula = nil }
            return .field(record)
        case .customSQL(var record):
            if definitions { record.query = nil }
            return .customSQL(record)
        }
    }

    init(kind: RecordKind, from decoder: any Decoder) throws {
        switch kind {
        case .site: self = .site(try Site(from: decoder))
        case .project: self = .project(try Project(from: decoder))
        case .workbook: self = .workbook(try Workbook(from: decoder))
        case .sheet: self = .sheet(try Sheet(from: decoder))
        case .dashboard: self = .dashboard(try Dashboard(from: decoder))
        case .dataSource: self = .dataSource(try DataSource(from: decoder))
        case .field: self = .field(try Field(from: decoder))
        case .customSQL: self = .customSQL(try CustomSQL(from: decoder))
        default:
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "\(kind) is not a BI kind"))
        }
    }

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .site(let record): try record.encode(to: encoder)
        case .project(let record): try record.encode(to: encoder)
        case .workbook(let record): try record.encode(to: encoder)
        case .sheet(let record): try record.encode(to: encoder)
        case .dashboard(let record): try record.encode(to: encoder)
        case .dataSource(let record): try record.encode(to: encoder)
        case .field(let record): try record.encode(to: encoder)
        case .customSQL(let record): try record.encode(to: encoder)
        }
    }
}
