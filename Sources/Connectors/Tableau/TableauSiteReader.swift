internal import Logging
internal import Metadata
internal import SourceURLs

/// Reads one project of a site at a time through the Metadata API and writes its records.
///
/// For each project: its workbooks a page at a time, and for each page the sheets' fields, the embedded data sources,
/// their fields' details and the custom SQL they read, each by id in queries of their own; then its published data
/// sources the same way. What is held in memory is one page of workbooks or data sources with the ids and names of
/// what they contain, and the names already used in the project, never the site. Errors that arrive beside partial
/// data, nodes the server could not give, and node-limit failures that persist at a page of one make the project
/// incomplete, with the reasons, and the reading goes on.
struct TableauSiteReader {
    let client: TableauClient
    let sink: any RecordSink
    let logger: Logger
    let site: QualifiedName
    /// The site's address in a browser, the base of workbook and view links.
    let siteURL: String
    let projects: TableauProjectTree
    /// Published data source LUID → its project's LUID, from the REST API (the Metadata API does not give it).
    let publishedProjects: [String: String]
    /// Workbooks or data sources per page.
    let pageSize: Int
    /// Sheets, fields or custom SQL tables per page when reading by id.
    let idPageSize: Int

    /// What went wrong in one project; empty when it was read whole.
    struct Problems {
        private(set) var reasons: [String] = []
        private var more = 0

        mutating func add(_ reason: String) {
            if reasons.count < 5 { reasons.append(reason) } else { more += 1 }
        }

        var isEmpty: Bool { reasons.isEmpty }

        var summary: String? {
            guard !reasons.isEmpty else { return nil }
            return reasons.joined(separator: "; ") + (more > 0 ? "; and \(more) more" : "")
        }
    }

    /// Reads one project: its workbooks and published data sources.
    func read(_ project: TableauProjectTree.Entry) async throws -> Problems {
        var problems = Problems()
        var workbookNames: Set<String> = []
        try await pages(
            TableauWorkbook.self, query: TableauQueries.workbooks(projectLuid: project.luid),
            what: "the workbooks of project '\(project.path)'", first: pageSize, problems: &problems
        ) { nodes, problems in
            let mine = nodes.filter { $0.projectLuid == project.luid }
            try await readWorkbooks(mine, project: project, usedNames: &workbookNames, problems: &problems)
        }
        var dataSourceNames: Set<String> = []
        try await pages(
            TableauDataSource.self, query: TableauQueries.publishedDataSources(project: project.name),
            what: "the published data sources of project '\(project.path)'", first: pageSize, problems: &problems
        ) { nodes, problems in
            let mine = nodes.filter { $0.luid.flatMap { publishedProjects[$0] } == project.luid }
            var named: [(TableauDataSource, QualifiedName)] = []
            for node in mine {
                let name = Self.claim(node.name ?? node.id, id: node.luid ?? node.id, in: &dataSourceNames)
                named.append((node, project.qualifiedName.appending(marker: .dataSource, name)))
            }
            let batch = DataSourceBatch(nodes: named, project: project, workbooks: [:])
            try await emit(batch, problems: &problems)
        }
        return problems
    }

    /// A name not used yet in `used`: the name itself, or ` [id]` after it when taken (across pages, first come).
    private static func claim(_ name: String, id: String, in used: inout Set<String>) -> String {
        if used.insert(name).inserted { return name }
        let distinct = "\(name) [\(id)]"
        used.insert(distinct)
        return distinct
    }

    // MARK: Workbooks

    private func readWorkbooks(
        _ nodes: [TableauWorkbook], project: TableauProjectTree.Entry, usedNames: inout Set<String>,
        problems: inout Problems
    ) async throws {
        guard !nodes.isEmpty else { return }
        var workbookNames: [String: QualifiedName] = [:]
        for node in nodes {
            let name = Self.claim(node.name ?? node.id, id: node.luid ?? node.id, in: &usedNames)
            workbookNames[node.id] = project.qualifiedName.appending(marker: .workbook, name)
        }
        // Sheets and dashboards, named apart within their workbook.
        var sheetNames: [String: QualifiedName] = [:]
        for node in nodes {
            guard let workbook = workbookNames[node.id] else { continue }
            let sheets = (node.sheets ?? []).compactMap { $0 }
            for (id, name) in TableauNames.unique(sheets, id: \.id, name: { $0.name ?? $0.id }) {
                sheetNames[id] = workbook.appending(marker: .sheet, name)
            }
        }
        // Embedded data sources and their fields' names, so sheets can name the fields they use.
        let embeddedIDs = nodes.flatMap { ($0.embeddedDatasources ?? []).compactMap { $0?.id } }
        var embedded: [TableauDataSource] = []
        try await byID(
            TableauDataSource.self, ids: embeddedIDs, query: TableauQueries.embeddedDataSources(ids:),
            what: "the embedded data sources of \(nodes.count) workbooks in '\(project.path)'", first: pageSize,
            problems: &problems
        ) { page, _ in embedded.append(contentsOf: page) }
        var named: [(TableauDataSource, QualifiedName)] = []
        let byWorkbook = Dictionary(grouping: embedded) { $0.workbook?.id ?? "" }
        for (workbookID, sources) in byWorkbook {
            guard let workbook = workbookNames[workbookID] else { continue }
            for (id, name) in TableauNames.unique(sources, id: \.id, name: { $0.name ?? $0.id }) {
                if let source = sources.first(where: { $0.id == id }) {
                    named.append((source, workbook.appending(marker: .dataSource, name)))
                }
            }
        }
        named.sort { $0.1 < $1.1 }
        let batch = DataSourceBatch(nodes: named, project: project, workbooks: workbookNames)

        var sheetFields: [String: [QualifiedName]] = [:]
        try await byID(
            TableauSheetFields.self, ids: Array(sheetNames.keys).sorted(), query: TableauQueries.sheetFields(ids:),
            what: "the fields of sheets in '\(project.path)'", first: idPageSize, problems: &problems
        ) { page, _ in
            for sheet in page {
                sheetFields[sheet.id] = Set(
                    (sheet.datasourceFields ?? []).compactMap { $0.flatMap { batch.fieldNames[$0.id] } }
                )
                .sorted()
            }
        }

        for node in nodes {
            guard let workbook = workbookNames[node.id] else { continue }
            try sink.write(
                .bi(
                    .workbook(
                        Workbook(
                            qualifiedName: workbook, name: node.name ?? node.id, site: site,
                            project: project.qualifiedName, luid: node.luid, owner: node.owner?.display,
                            url: node.vizportalUrlId.map { "\(siteURL)/workbooks/\($0)" }, createdAt: node.createdAt,
                            updatedAt: node.updatedAt,
                            comment: node.description.nonEmpty,
                            tags: Self.tags(node.tags)))))
            for view in (node.sheets ?? []).compactMap({ $0 }) {
                guard let name = sheetNames[view.id] else { continue }
                try sink.write(
                    .bi(
                        .sheet(
                            Sheet(
                                qualifiedName: name, name: view.name ?? view.id, site: site,
                                project: project.qualifiedName, workbook: workbook, luid: view.luid,
                                url: view.path.map { "\(siteURL)/views/\($0)" },
                                fields: sheetFields[view.id] ?? []))))
            }
            let dashboards = (node.dashboards ?? []).compactMap { $0 }
            let dashboardNames = TableauNames.unique(dashboards, id: \.id, name: { $0.name ?? $0.id })
            for dashboard in dashboards {
                guard let name = dashboardNames[dashboard.id] else { continue }
                let sheets = Set((dashboard.sheets ?? []).compactMap { $0.flatMap { sheetNames[$0.id] } }).sorted()
                try sink.write(
                    .bi(
                        .dashboard(
                            Dashboard(
                                qualifiedName: workbook.appending(marker: .dashboard, name),
                                name: dashboard.name ?? dashboard.id, site: site, project: project.qualifiedName,
                                workbook: workbook, luid: dashboard.luid,
                                url: dashboard.path.map { "\(siteURL)/views/\($0)" }, sheets: sheets))))
            }
        }
        try await emit(batch, problems: &problems)
    }

    private static func tags(_ tags: [TableauTag?]?) -> [String]? {
        let names = Set((tags ?? []).compactMap { $0?.name }).sorted()
        return names.isEmpty ? nil : names
    }

    // MARK: Data sources

    /// A page of data sources with their qualified names, and the names of their fields.
    struct DataSourceBatch {
        var nodes: [(TableauDataSource, QualifiedName)]
        var project: TableauProjectTree.Entry
        /// Workbook id → name, for embedded data sources.
        var workbooks: [String: QualifiedName]
        /// Field id → qualified name, for every field of these data sources.
        var fieldNames: [String: QualifiedName] = [:]
        /// Data source id → qualified name.
        var dataSourceNames: [String: QualifiedName] = [:]

        init(
            nodes: [(TableauDataSource, QualifiedName)], project: TableauProjectTree.Entry,
            workbooks: [String: QualifiedName]
        ) {
            self.nodes = nodes
            self.project = project
            self.workbooks = workbooks
            for (node, name) in nodes {
                dataSourceNames[node.id] = name
                let fields = (node.fields ?? []).compactMap { $0 }
                for (id, fieldName) in TableauNames.unique(fields, id: \.id, name: { $0.name ?? $0.id }) {
                    fieldNames[id] = name.appending(fieldName)
                }
            }
        }
    }

    /// Writes a batch's data sources, then their fields (details read by id), then the custom SQL the fields read.
    private func emit(_ batch: DataSourceBatch, problems: inout Problems) async throws {
        guard !batch.nodes.isEmpty else { return }
        let project = batch.project
        for (node, name) in batch.nodes {
            let upstreamSources = Set(
                (node.upstreamDatasources ?? []).compactMap { reference in
                    reference.flatMap { publishedName($0.name, luid: $0.luid) }
                }
            ).sorted()
            let embeddedIn = node.workbook.flatMap { batch.workbooks[$0.id] }
            try sink.write(
                .bi(
                    .dataSource(
                        DataSource(
                            qualifiedName: name, name: node.name ?? node.id, site: site,
                            project: project.qualifiedName, workbook: embeddedIn, published: embeddedIn == nil,
                            luid: node.luid, owner: node.owner?.display, certified: node.isCertified,
                            certifier: node.certifier?.display,
                            certificationNote: node.certificationNote.nonEmpty,
                            hasExtracts: node.hasExtracts, createdAt: node.createdAt, updatedAt: node.updatedAt,
                            comment: node.description.nonEmpty,
                            upstreamDataSources: upstreamSources,
                            upstreamTables: Set((node.upstreamTables ?? []).compactMap { $0.flatMap(Self.reference) })
                                .sorted()))))
        }

        // Fields, by id; the custom SQL tables their columns come from are noted per data source.
        var customSQLUsers: [String: Set<QualifiedName>] = [:]
        try await byID(
            TableauField.self, ids: Array(batch.fieldNames.keys).sorted(), query: TableauQueries.fields(ids:),
            what: "the fields of \(batch.nodes.count) data sources in '\(project.path)'", first: idPageSize,
            problems: &problems
        ) { fields, _ in
            for field in fields {
                guard let name = batch.fieldNames[field.id],
                    let dataSource = field.datasource.flatMap({ batch.dataSourceNames[$0.id] })
                else { continue }
                var upstreamFields: Set<QualifiedName> = []
                for reference in (field.upstreamFields ?? []) + [field.remoteField] {
                    guard let reference, let upstream = fieldName(reference, batch: batch) else { continue }
                    upstreamFields.insert(upstream)
                }
                var upstreamColumns: Set<TableReference> = []
                for column in (field.upstreamColumns ?? []).compactMap({ $0 }) {
                    guard let table = column.table else { continue }
                    if table.typename == "CustomSQLTable" {
                        customSQLUsers[table.id, default: []].insert(dataSource)
                    } else if var reference = Self.reference(table) {
                        reference.column = column.name
                        upstreamColumns.insert(reference)
                    }
                }
                try sink.write(
                    .bi(
                        .field(
                            Field(
                                qualifiedName: name, name: field.name ?? field.id, site: site,
                                project: project.qualifiedName, dataSource: dataSource,
                                fieldType: Self.fieldType(field.typename), sourceFieldType: field.typename,
                                role: field.role?.lowercased(), dataType: field.dataType, hidden: field.isHidden,
                                formula: field.formula, comment: field.description.nonEmpty,
                                upstreamFields: upstreamFields.sorted(), upstreamColumns: upstreamColumns.sorted()))))
            }
        }

        guard !customSQLUsers.isEmpty else { return }
        var queries: [TableauCustomSQL] = []
        try await byID(
            TableauCustomSQL.self, ids: Array(customSQLUsers.keys).sorted(), query: TableauQueries.customSQL(ids:),
            what: "the custom SQL of data sources in '\(project.path)'", first: idPageSize, problems: &problems
        ) { page, _ in queries.append(contentsOf: page) }
        // Named apart within each data source: Tableau calls them all "Custom SQL Query".
        var perDataSource: [QualifiedName: [TableauCustomSQL]] = [:]
        for query in queries {
            for dataSource in customSQLUsers[query.id] ?? [] { perDataSource[dataSource, default: []].append(query) }
        }
        for (dataSource, tables) in perDataSource.sorted(by: { $0.key < $1.key }) {
            let names = TableauNames.unique(tables, id: \.id, name: { $0.name ?? "Custom SQL Query" })
            for table in tables {
                let upstream = Set((table.tables ?? []).compactMap { $0.flatMap(Self.reference) }).sorted()
                let parsed = table.isUnsupportedCustomSql != true
                if !parsed {
                    logger.info(
                        "tableau.custom_sql.unparsed",
                        metadata: [
                            "tableau.data_source": "\(dataSource)",
                            "tableau.detail": "Tableau could not parse this custom SQL: it reports no upstream tables",
                        ])
                }
                try sink.write(
                    .bi(
                        .customSQL(
                            CustomSQL(
                                qualifiedName: dataSource.appending(marker: .sql, names[table.id] ?? table.id),
                                name: table.name ?? "Custom SQL Query", site: site, project: project.qualifiedName,
                                dataSource: dataSource, query: table.query,
                                connectionType: (table.connectionType ?? table.database?.connectionType)?.lowercased(),
                                parsed: parsed, upstreamTables: upstream))))
            }
        }
    }

    /// The qualified name of a published data source from a reference to it (`<project>/~dataSource/<name>`).
    private func publishedName(_ name: String?, luid: String?) -> QualifiedName? {
        guard let name, let luid, let projectLuid = publishedProjects[luid], let project = projects[projectLuid]
        else { return nil }
        return project.qualifiedName.appending(marker: .dataSource, name)
    }

    /// The qualified name of a referenced field: one of this batch, or one of a published data source.
    private func fieldName(_ reference: TableauFieldReference, batch: DataSourceBatch) -> QualifiedName? {
        if let known = batch.fieldNames[reference.id] { return known }
        guard let source = reference.datasource, source.typename == "PublishedDatasource",
            let dataSource = publishedName(source.name, luid: source.luid), let name = reference.name
        else { return nil }
        return dataSource.appending(name)
    }

    private static func fieldType(_ typename: String) -> Field.FieldType {
        switch typename {
        case "ColumnField": .column
        case "CalculatedField": .calculated
        case "DatasourceField": .remote
        default: .derived
        }
    }

    /// What Tableau says about a warehouse table, as a reference the catalog resolves; nil without a table name.
    static func reference(_ table: TableauTable) -> TableReference? {
        guard let name = table.name, !name.isEmpty else { return nil }
        let database = table.database
        let connectionType = (table.connectionType ?? database?.connectionType ?? "unknown").lowercased()
        return TableReference(
            connectionType: connectionType, host: database?.hostName.nonEmpty?.lowercased(),
            port: database?.port, database: database?.name.nonEmpty,
            schema: table.schema.nonEmpty, table: name)
    }

    // MARK: Paging

    /// Reads the nodes with the given ids, a page of ids at a time.
    private func byID<Node: Decodable>(
        _ type: Node.Type, ids: [String], query: ([String]) -> String, what: String, first: Int,
        problems: inout Problems, body: ([Node], inout Problems) async throws -> Void
    ) async throws {
        var start = 0
        while start < ids.count {
            let chunk = Array(ids[start..<min(ids.count, start + idPageSize)])
            start += chunk.count
            try await pages(type, query: query(chunk), what: what, first: first, problems: &problems, body: body)
        }
    }

    /// Pages through one connection query, halving the page on `NODE_LIMIT_EXCEEDED`.
    private func pages<Node: Decodable>(
        _ type: Node.Type, query: String, what: String, first: Int, problems: inout Problems,
        body: ([Node], inout Problems) async throws -> Void
    ) async throws {
        var size = first
        var cursor: String?
        var cursors: Set<String> = []
        while true {
            let answer: TableauClient.GraphQLAnswer<TableauRoot<Node>>
            do {
                answer = try await client.graphQL(
                    TableauRoot<Node>.self, query: query,
                    variables: ["first": .int(size), "after": .string(cursor)], what: what)
            } catch let error as TableauNodeLimitExceeded {
                guard size > 1 else {
                    problems.add("\(what): one node alone exceeds the Metadata API's node limit (\(error.message))")
                    return
                }
                size = max(1, size / 2)
                logger.debug(
                    "tableau.node_limit", metadata: ["tableau.request": "\(what)", "tableau.page_size": "\(size)"])
                continue
            } catch let error as ConnectorError where error.code == .queryFailed {
                problems.add(error.message)
                return
            }
            let errors = answer.errors ?? []
            for error in errors {
                if error.isHarmless {
                    logger.debug(
                        "tableau.warning", metadata: ["tableau.request": "\(what)", "tableau.warning": "\(error)"])
                } else {
                    problems.add("\(what): \(error)")
                }
            }
            guard let page = answer.data?.page else {
                problems.add("\(what): the Metadata API gave no data")
                return
            }
            let missing = page.nodes.count(where: { $0 == nil })
            if missing > 0 && errors.allSatisfy(\.isHarmless) {
                problems.add("\(what): \(missing) nodes came back empty without an error")
            }
            try await body(page.nodes.compactMap { $0 }, &problems)
            guard page.pageInfo.hasNextPage else { return }
            guard let next = page.pageInfo.endCursor, cursors.insert(next).inserted else {
                problems.add("\(what): the Metadata API announced another page but gave no new cursor to it")
                return
            }
            cursor = next
        }
    }
}
