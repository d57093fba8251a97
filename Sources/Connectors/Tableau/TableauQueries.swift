#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// The Metadata API queries the connector sends, and the shapes of their answers.
///
/// Pages are small and nested selections shallow, as Tableau advises: a page of workbooks carries only the ids of
/// what they hold; sheets' fields, embedded data sources, field details and custom SQL are then read by id in
/// queries of their own (`idWithin`), so no answer grows with the size of the site. Filter values are written into
/// the query as GraphQL string literals (JSON string syntax is valid GraphQL), which works whatever list type the
/// server declares for them; paging uses the `$first`/`$after` variables.
enum TableauQueries {
    /// What a warehouse table is, wherever a table appears.
    static let table = "__typename id name schema fullName connectionType database { \(database) }"
    static let database = "__typename id name connectionType ... on DatabaseServer { hostName port service }"
    /// A data source as another object refers to it. A published data source has no `projectLuid` in the Metadata
    /// API: its project comes from the REST API's list, by the data source's LUID.
    static let dataSourceReference = "__typename id name ... on PublishedDatasource { luid projectName }"
    static let pageInfo = "pageInfo { hasNextPage endCursor }"

    /// A project's workbooks, by the project's LUID (an id filter: Tableau does not switch permission modes for it).
    static func workbooks(projectLuid: String) -> String {
        """
        query workbooks($first: Int, $after: String) {
          workbooksConnection(first: $first, after: $after, filter: {projectLuid: \(literal(projectLuid))}) {
            nodes {
              id luid name uri vizportalUrlId projectLuid projectName createdAt updatedAt description
              owner { username name }
              tags { name }
              sheets { id luid name path }
              dashboards { id luid name path sheets { id } }
              embeddedDatasources { id }
            }
            \(pageInfo)
          }
        }
        """
    }

    static func sheetFields(ids: [String]) -> String {
        """
        query sheetFields($first: Int, $after: String) {
          sheetsConnection(first: $first, after: $after, filter: {idWithin: \(literal(ids))}) {
            nodes { id datasourceFields { id } }
            \(pageInfo)
          }
        }
        """
    }

    static func embeddedDataSources(ids: [String]) -> String {
        """
        query embeddedDatasources($first: Int, $after: String) {
          embeddedDatasourcesConnection(first: $first, after: $after, filter: {idWithin: \(literal(ids))}) {
            nodes {
              id name hasExtracts workbook { id }
              upstreamDatasources { id luid name projectName }
              upstreamTables { \(table) }
              fields { id name }
            }
            \(pageInfo)
          }
        }
        """
    }

    static func publishedDataSources(project: String) -> String {
        """
        query publishedDatasources($first: Int, $after: String) {
          publishedDatasourcesConnection(
            first: $first, after: $after, filter: {projectNameWithin: [\(literal(project))]}
          ) {
            nodes {
              id luid name uri projectName description isCertified certifier { username name }
              certificationNote hasExtracts owner { username name } tags { name } createdAt updatedAt
              upstreamDatasources { id luid name projectName }
              upstreamTables { \(table) }
              fields { id name }
            }
            \(pageInfo)
          }
        }
        """
    }

    static func fields(ids: [String]) -> String {
        """
        query fields($first: Int, $after: String) {
          fieldsConnection(first: $first, after: $after, filter: {idWithin: \(literal(ids))}) {
            nodes {
              __typename id name description isHidden
              datasource { \(dataSourceReference) }
              upstreamFields { id name datasource { \(dataSourceReference) } }
              upstreamColumns { name table { __typename id ... on DatabaseTable { \(table) } ... on CustomSQLTable { name } } }
              ... on ColumnField { dataType role dataCategory }
              ... on CalculatedField { dataType role formula }
              ... on DatasourceField { remoteField { id name datasource { \(dataSourceReference) } } }
            }
            \(pageInfo)
          }
        }
        """
    }

    static func customSQL(ids: [String]) -> String {
        """
        query customSQLTables($first: Int, $after: String) {
          customSQLTablesConnection(first: $first, after: $after, filter: {idWithin: \(literal(ids))}) {
            nodes {
              id name query connectionType isUnsupportedCustomSql
              database { \(database) }
              tables { \(table) }
            }
            \(pageInfo)
          }
        }
        """
    }

    /// A GraphQL string literal (JSON's string syntax is a subset of GraphQL's).
    static func literal(_ value: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        guard let data = try? encoder.encode(value), let text = String(data: data, encoding: .utf8) else {
            return "\"\""
        }
        return text
    }

    static func literal(_ values: [String]) -> String {
        "[" + values.map { literal($0) }.joined(separator: ", ") + "]"
    }
}

// MARK: Answers

/// `data` of any connection query: the one root field's page.
struct TableauRoot<Node: Decodable>: Decodable {
    var page: TableauPage<Node>?

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        guard let key = container.allKeys.first else {
            page = nil
            return
        }
        page = try container.decodeIfPresent(TableauPage<Node>.self, forKey: key)
    }
}

struct TableauPage<Node: Decodable>: Decodable {
    struct PageInfo: Decodable {
        var hasNextPage: Bool
        var endCursor: String?
    }
    /// Null entries are nodes the server could not give (an error beside the data says why).
    var nodes: [Node?]
    var pageInfo: PageInfo
}

struct TableauID: Decodable, Hashable {
    var id: String
}

struct TableauNamed: Decodable {
    var id: String
    var name: String?
}

struct TableauUser: Decodable {
    var username: String?
    var name: String?

    var display: String? { username ?? name }
}

struct TableauTag: Decodable {
    var name: String?
}

struct TableauWorkbook: Decodable {
    struct View: Decodable {
        var id: String
        var luid: String?
        var name: String?
        var path: String?
    }
    struct DashboardNode: Decodable {
        var id: String
        var luid: String?
        var name: String?
        var path: String?
        var sheets: [TableauID?]?
    }
    var id: String
    var luid: String?
    var name: String?
    var uri: String?
    var vizportalUrlId: String?
    var projectLuid: String?
    var projectName: String?
    var createdAt: String?
    var updatedAt: String?
    var description: String?
    var owner: TableauUser?
    var tags: [TableauTag?]?
    var sheets: [View?]?
    var dashboards: [DashboardNode?]?
    var embeddedDatasources: [TableauID?]?
}

struct TableauSheetFields: Decodable {
    var id: String
    var datasourceFields: [TableauID?]?
}

struct TableauDatabase: Decodable {
    var typename: String?
    var id: String?
    var name: String?
    var connectionType: String?
    var hostName: String?
    var port: Int?
    var service: String?

    enum CodingKeys: String, CodingKey {
        case typename = "__typename"
        case id, name, connectionType, hostName, port, service
    }
}

struct TableauTable: Decodable {
    var typename: String?
    var id: String
    var name: String?
    var schema: String?
    var fullName: String?
    var connectionType: String?
    var database: TableauDatabase?

    enum CodingKeys: String, CodingKey {
        case typename = "__typename"
        case id, name, schema, fullName, connectionType, database
    }
}

struct TableauDataSourceReference: Decodable {
    var typename: String?
    var id: String
    var name: String?
    var luid: String?
    var projectName: String?

    enum CodingKeys: String, CodingKey {
        case typename = "__typename"
        case id, name, luid, projectName
    }
}

struct TableauDataSource: Decodable {
    var id: String
    var luid: String?
    var name: String?
    var uri: String?
    var projectName: String?
    var description: String?
    var isCertified: Bool?
    var certifier: TableauUser?
    var certificationNote: String?
    var hasExtracts: Bool?
    var owner: TableauUser?
    var tags: [TableauTag?]?
    var createdAt: String?
    var updatedAt: String?
    var workbook: TableauID?
    var upstreamDatasources: [TableauDataSourceReference?]?
    var upstreamTables: [TableauTable?]?
    var fields: [TableauNamed?]?
}

struct TableauFieldReference: Decodable {
    var id: String
    var name: String?
    var datasource: TableauDataSourceReference?
}

struct TableauColumnReference: Decodable {
    var name: String?
    var table: TableauTable?
}

struct TableauField: Decodable {
    var typename: String
    var id: String
    var name: String?
    var description: String?
    var isHidden: Bool?
    var datasource: TableauDataSourceReference?
    var upstreamFields: [TableauFieldReference?]?
    var upstreamColumns: [TableauColumnReference?]?
    var dataType: String?
    var role: String?
    var dataCategory: String?
    var formula: String?
    var remoteField: TableauFieldReference?

    enum CodingKeys: String, CodingKey {
        case typename = "__typename"
        case id, name, description, isHidden, datasource, upstreamFields, upstreamColumns, dataType, role
        case dataCategory, formula, remoteField
    }
}

struct TableauCustomSQL: Decodable {
    var id: String
    var name: String?
    var query: String?
    var connectionType: String?
    var isUnsupportedCustomSql: Bool?
    var database: TableauDatabase?
    var tables: [TableauTable?]?
}

// MARK: REST answers

/// `GET /sites/{id}`.
struct TableauSiteAnswer: Decodable {
    struct Site: Decodable {
        var id: String
        var name: String
        var contentUrl: String?
    }
    var site: Site
}

/// The `pagination` of a REST list (Tableau sends the numbers as strings).
struct TableauPagination: Decodable {
    var pageNumber: String
    var pageSize: String
    var totalAvailable: String
}

/// `GET /sites/{id}/projects?pageSize=…&pageNumber=…`.
struct TableauProjectsAnswer: Decodable {
    struct Projects: Decodable {
        var project: [TableauProject]?
    }
    var pagination: TableauPagination
    var projects: Projects?
}

struct TableauProject: Decodable {
    struct Owner: Decodable {
        var id: String?
        var name: String?
    }
    var id: String
    var name: String
    var description: String?
    var parentProjectId: String?
    var owner: Owner?
}

/// `GET /sites/{id}/datasources?pageSize=…&pageNumber=…`: the published data sources and their projects.
struct TableauDataSourcesAnswer: Decodable {
    struct DataSources: Decodable {
        var datasource: [Item]?
    }
    struct Item: Decodable {
        struct Project: Decodable {
            var id: String
        }
        var id: String
        var project: Project?
    }
    var pagination: TableauPagination
    var datasources: DataSources?
}
