public import AsyncHTTPClient
public import Logging
public import Metadata
public import SourceURLs

/// Extracts a Tableau site's metadata: projects (nested), workbooks with their sheets and dashboards, published and
/// embedded data sources with their fields and custom SQL, and the lineage between them and down to the warehouse
/// tables they read.
///
/// Signs in with a personal access token (REST), reads the site and its projects from the REST API, then everything
/// else from the Metadata API (GraphQL), one project at a time (see `TableauSiteReader`), and signs out. Project
/// filters are the schema filters, matched against project paths (`Finance/Reporting`); a project excluded takes its
/// nested projects with it.
public struct TableauConnector: Connector {
    public var sourceKind: String { "tableau" }
    public let source: TableauSource
    let credentials: TableauCredentials?
    var clientConfiguration: TableauClientConfiguration
    /// The HTTP CONNECT proxy every request goes through; nil connects directly.
    public var proxy: HTTPClient.Configuration.Proxy?

    /// - Parameter credentials: the personal access token; without one, extraction and check fail saying so.
    public init(source: TableauSource, credentials: TableauCredentials?) {
        self.init(source: source, credentials: credentials, clientConfiguration: TableauClientConfiguration())
    }

    init(source: TableauSource, credentials: TableauCredentials?, clientConfiguration: TableauClientConfiguration) {
        self.source = source
        self.credentials = credentials
        self.clientConfiguration = clientConfiguration
    }

    public func extract(scope: ExtractionScope, into sink: any RecordSink, logger: Logger) async throws -> SourceReport
    {
        let filters = scope.filters
        if !filters.includeDatabases.isEmpty || !filters.excludeDatabases.isEmpty || !filters.includeTables.isEmpty
            || !filters.excludeTables.isEmpty
        {
            logger.warning(
                "tableau.filters.ignored",
                metadata: [
                    "detail":
                        "database and table filters do not apply to Tableau; project filters are the schema filters"
                ])
        }
        let (client, http) = try makeClient(logger: logger)
        let result: Result<[Manifest.Completeness], any Error>
        do {
            result = .success(try await extract(client: client, scope: scope, sink: sink, logger: logger))
        } catch {
            result = .failure(error)
        }
        await client.signOut()
        try? await http.shutdown()
        let usage = client.usage
        logger.info(
            "tableau.extraction.usage",
            metadata: [
                "tableau.graphql_requests": "\(usage.graphQLRequests)",
                "tableau.rest_requests": "\(usage.restRequests)",
                "tableau.sign_ins": "\(usage.signIns)", "tableau.retries": "\(usage.retries)",
            ])
        return SourceReport(
            source: Manifest.Source(
                kind: sourceKind, serverVersion: "REST API \(source.apiVersion)", location: source.location),
            connector: Manifest.Connector(name: "outpost-tableau", version: ConnectorVersion.current),
            completeness: try result.get())
    }

    /// Signs in, reads the site's name and asks the Metadata API for one workbook, then signs out.
    ///
    /// - Throws: `ConnectorError`: what the extraction would have failed with.
    public func check(logger: Logger) async throws -> String {
        let (client, http) = try makeClient(logger: logger)
        let result: Result<String, any Error>
        do {
            try await client.signIn()
            let site = try await client.rest(TableauSiteAnswer.self, sitePath: "", what: "the site")
            _ = try await client.graphQL(
                TableauRoot<TableauID>.self,
                query: "query check($first: Int) { workbooksConnection(first: $first) { nodes { id } "
                    + TableauQueries.pageInfo + " } }",
                variables: ["first": .int(1)], what: "a first workbook")
            result = .success(
                "signed in at \(source.location) to site '\(site.site.name)' with \(client.credentialsDescription)"
                    + (proxy == nil ? "" : ", through the proxy") + "; the Metadata API answers")
        } catch {
            result = .failure(error)
        }
        await client.signOut()
        try? await http.shutdown()
        return try result.get()
    }

    private func makeClient(logger: Logger) throws -> (TableauClient, HTTPClient) {
        guard let credentials else {
            throw ConnectorError(
                .authenticationFailed,
                "Tableau needs a personal access token: give patName and patSecret secrets (for outpost extract, "
                    + "--pat-name NAME and --pat-secret-file PATH or --pat-secret REF)")
        }
        let http = try TableauClient.makeHTTPClient(source: source, proxy: proxy)
        return (
            TableauClient(
                source: source, credentials: credentials, http: http, configuration: clientConfiguration,
                logger: logger),
            http
        )
    }

    private func extract(
        client: TableauClient, scope: ExtractionScope, sink: any RecordSink, logger: Logger
    ) async throws -> [Manifest.Completeness] {
        try await client.signIn()
        let siteAnswer = try await client.rest(TableauSiteAnswer.self, sitePath: "", what: "the site")
        let siteName = QualifiedName([scope.connection, siteAnswer.site.name])
        try sink.write(
            .bi(
                .site(
                    Site(
                        qualifiedName: siteName, name: siteAnswer.site.name, contentUrl: source.site,
                        luid: siteAnswer.site.id, url: source.siteURL))))

        let projects = try await list(
            TableauProjectsAnswer.self, client: client, path: "/projects", what: "the projects",
            items: { $0.projects?.project ?? [] }, total: \.pagination.totalAvailable)
        let tree = TableauProjectTree(projects: projects, site: siteName)
        // The Metadata API does not say which project a published data source is in; the REST list does.
        let dataSources = try await list(
            TableauDataSourcesAnswer.self, client: client, path: "/datasources", what: "the published data sources",
            items: { $0.datasources?.datasource ?? [] }, total: \.pagination.totalAvailable)
        var publishedProjects: [String: String] = [:]
        for item in dataSources { publishedProjects[item.id] = item.project?.id }
        let selected = tree.selected(by: scope.filters)
        for project in selected {
            try sink.write(
                .bi(
                    .project(
                        Project(
                            qualifiedName: project.qualifiedName, name: project.name, site: siteName,
                            parentProject: project.parentLuid.flatMap { tree[$0]?.qualifiedName }, path: project.path,
                            luid: project.luid, owner: project.owner,
                            comment: project.description.nonEmpty))))
        }
        logger.info(
            "tableau.projects",
            metadata: ["tableau.site": "\(siteAnswer.site.name)", "tableau.projects": "\(selected.count)"])

        let reader = TableauSiteReader(
            client: client, sink: sink, logger: logger, site: siteName, siteURL: source.siteURL, projects: tree,
            publishedProjects: publishedProjects,
            pageSize: source.pageSize, idPageSize: min(1000, source.pageSize * 10))
        // The project list was read whole (a failure would have ended the run): a project no longer listed may go.
        var completeness = [
            Manifest.Completeness(
                database: siteAnswer.site.name, schema: nil, qualifiedName: siteName, complete: true)
        ]
        for project in selected {
            try Task.checkCancellation()
            let problems = try await reader.read(project)
            if let reason = problems.summary {
                logger.warning(
                    "tableau.project.incomplete",
                    metadata: ["tableau.project": "\(project.path)", "reason": "\(reason)"])
            }
            completeness.append(
                Manifest.Completeness(
                    database: siteAnswer.site.name, schema: project.path, qualifiedName: project.qualifiedName,
                    complete: problems.isEmpty, reason: problems.summary))
        }
        return completeness
    }

    /// Every item of a REST list of the site, from its pages.
    private func list<Answer: Decodable, Item>(
        _ type: Answer.Type, client: TableauClient, path: String, what: String, items: (Answer) -> [Item],
        total: KeyPath<Answer, String>
    ) async throws -> [Item] {
        var all: [Item] = []
        var pageNumber = 1
        let pageSize = 100
        while true {
            let answer = try await client.rest(
                Answer.self, sitePath: "\(path)?pageSize=\(pageSize)&pageNumber=\(pageNumber)",
                what: "page \(pageNumber) of \(what)")
            let page = items(answer)
            all.append(contentsOf: page)
            let available = Int(answer[keyPath: total]) ?? 0
            if page.isEmpty || all.count >= available { return all }
            pageNumber += 1
        }
    }
}
