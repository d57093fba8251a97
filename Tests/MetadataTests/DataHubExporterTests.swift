import Foundation
import Metadata
import Testing

@Suite("DataHub export")
struct DataHubExporterTests {
    // Expected URNs below were computed with DataHub's own Python code (acryl-datahub 1.7:
    // `make_dataset_urn_with_platform_instance`, `gen_database_key(...).as_urn()`, `gen_schema_key(...).as_urn()`),
    // so these tests pin the exporter to DataHub's naming, not to itself.
    static let customersUrn = "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.Sales ü.customers,PROD)"
    static let orderItemsUrn =
        "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.Sales ü.Order \"Items\"%2C %28ü%29,PROD)"
    static let recentOrdersUrn = "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.Sales ü.recent orders,PROD)"
    static let databaseUrn = "urn:li:container:ea3682d9b15a15aab92e076074c2394c"
    static let schemaUrn = "urn:li:container:5be9a169bc867770f79bdba8e2bdd1e5"

    @Test("An export passes DataHub's metadata-file check and comes back unchanged from DataHub's own rewrite")
    func passesDataHubValidation() async throws {
        let directory = try ScratchDirectory()
        let folder = try Fixture.extraction(in: directory.path + "/extraction", records: Fixture.records())
        let output = directory.path + "/datahub.json"
        try DataHubExporter().export(folder: folder, to: output)
        try await DataHubCLI.validate(output, scratch: directory.path)
    }

    @Test("Datasets and containers get the URNs DataHub's postgres source gives them")
    func namesFollowDataHub() throws {
        let proposals = try Fixture.export(Fixture.records())

        let datasets = Set(proposals.filter { $0["entityType"] == "dataset" }.compactMap { $0["entityUrn"]?.string })
        #expect(datasets == [Self.customersUrn, Self.orderItemsUrn, Self.recentOrdersUrn])
        let containers = Set(
            proposals.filter { $0["entityType"] == "container" }.compactMap { $0["entityUrn"]?.string })
        #expect(containers == [Self.databaseUrn, Self.schemaUrn])

        #expect(proposals.aspect("container", of: Self.orderItemsUrn)?["container"] == .string(Self.schemaUrn))
        #expect(proposals.aspect("container", of: Self.schemaUrn)?["container"] == .string(Self.databaseUrn))
        #expect(proposals.aspect("subTypes", of: Self.databaseUrn)?["typeNames"] == ["Database"])
        #expect(proposals.aspect("subTypes", of: Self.schemaUrn)?["typeNames"] == ["Schema"])
        let schemaProperties = try #require(proposals.aspect("containerProperties", of: Self.schemaUrn))
        #expect(schemaProperties["name"] == "Sales ü")
        #expect(schemaProperties["env"] == "PROD")
        #expect(schemaProperties["customProperties"]?["database"] == "shop")
        #expect(schemaProperties["customProperties"]?["schema"] == "Sales ü")
        #expect(proposals.aspect("status", of: Self.orderItemsUrn)?["removed"] == .bool(false))
    }

    @Test("Snowflake datasets, containers and field paths are lowercased as DataHub's Snowflake source writes them")
    func snowflakeNamesAreLowercased() throws {
        // Computed with acryl-datahub 1.7 (`gen_database_key`, `gen_schema_key`, `make_dataset_urn_with_platform_instance`,
        // `make_schema_field_urn`) over the names DataHub's Snowflake source lowercases (`convert_urns_to_lowercase`).
        let orders = "urn:li:dataset:(urn:li:dataPlatform:snowflake,shop.sales ü.order \"items\"%2C %28ü%29,PROD)"
        let database = "urn:li:container:514c0499b803440c02ea95369d618c76"
        let schema = "urn:li:container:4579329c1217239dc149b00e06d72395"
        let directory = try ScratchDirectory()
        let folder = try Fixture.extraction(in: directory.path + "/extraction", records: Fixture.records())
        let output = directory.path + "/datahub.json"
        try DataHubExporter(platform: "snowflake").export(folder: folder, to: output)
        let proposals = try #require(DataHubJSON.decodeFile(output).array)
        let containers = Set(
            proposals.filter { $0["entityType"] == "container" }.compactMap { $0["entityUrn"]?.string })
        #expect(containers == [database, schema])
        #expect(proposals.aspect("container", of: orders)?["container"] == .string(schema))
        let metadata = try #require(proposals.aspect("schemaMetadata", of: orders))
        #expect(metadata["schemaName"] == "shop.sales ü.order \"items\", (ü)")
        #expect(metadata["fields"]?.array?.map { $0["fieldPath"] }.contains("line (no)") == true)
        #expect(
            metadata["foreignKeys"]?[0]?["sourceFields"]
                == [.string("urn:li:schemaField:(\(orders),customer_id)")])
        // Display names keep their case.
        #expect(proposals.aspect("containerProperties", of: schema)?["name"] == "Sales ü")
    }

    @Test("A table's schema aspect holds every column, its primary key and its foreign keys as field URNs")
    func schemaMetadataIsComplete() throws {
        let proposals = try Fixture.export(Fixture.records())
        #expect(proposals.filter { $0["aspectName"] == "schemaMetadata" }.count == 3)

        let schema = try #require(proposals.aspect("schemaMetadata", of: Self.orderItemsUrn))
        #expect(schema["schemaName"] == "shop.Sales ü.Order \"Items\", (ü)")
        #expect(schema["platform"] == "urn:li:dataPlatform:postgres")
        #expect(schema["platformSchema"] == .object(["com.linkedin.schema.MySqlDDL": .object(["tableSchema": ""])]))
        let fields = try #require(schema["fields"]?.array)
        #expect(fields.map { $0["fieldPath"] } == ["id", "customer_id", "line (no)", "amount", "created", "data"])
        #expect(fields[0]["type"]?["type"] == .object(["com.linkedin.schema.NumberType": .object([:])]))
        #expect(fields[4]["type"]?["type"] == .object(["com.linkedin.schema.TimeType": .object([:])]))
        #expect(fields[5]["type"]?["type"] == .object(["com.linkedin.schema.RecordType": .object([:])]))
        #expect(fields[0]["nativeDataType"] == "bigint")
        #expect(fields[0]["nullable"] == .bool(false))
        #expect(fields[3]["description"] == "in cents")
        #expect(fields.map { $0["isPartOfKey"] } == [.bool(true), nil, .bool(true), nil, nil, nil])
        #expect(schema["primaryKeys"] == ["id", "line (no)"])

        let foreignKey = try #require(schema["foreignKeys"]?[0])
        #expect(foreignKey["name"] == "orders_customer_fk")
        #expect(foreignKey["foreignDataset"] == .string(Self.customersUrn))
        #expect(foreignKey["foreignFields"] == [.string("urn:li:schemaField:(\(Self.customersUrn),id)")])
        #expect(foreignKey["sourceFields"] == [.string("urn:li:schemaField:(\(Self.orderItemsUrn),customer_id)")])

        let customers = try #require(proposals.aspect("schemaMetadata", of: Self.customersUrn)?["fields"]?.array)
        #expect(
            customers[2]["type"]?["type"]
                == .object(["com.linkedin.schema.ArrayType": .object(["nestedType": ["text"]])]))
    }

    @Test("Constraints and indexes without a DataHub field land in the dataset's custom properties")
    func extrasBecomeCustomProperties() throws {
        let proposals = try Fixture.export(Fixture.records())
        let properties = try #require(proposals.aspect("datasetProperties", of: Self.orderItemsUrn))
        #expect(properties["name"] == "Order \"Items\", (ü)")
        #expect(properties["description"] == "one row per order line")
        let custom = try #require(properties["customProperties"])
        #expect(custom["qualifiedName"] == "local/shop/Sales ü/Order \"Items\", (ü)")
        #expect(custom["rowEstimate"] == "1200")
        #expect(custom["tableType"] == "base")
        #expect(custom["uniqueConstraints"] == "orders_line_key: UNIQUE (customer_id, line (no))")
        #expect(custom["checkConstraints"] == "orders_amount_check: (amount > 0)")
        #expect(custom["indexes"] == "orders_created_idx: btree (created DESC)")
        #expect(proposals.aspect("subTypes", of: Self.orderItemsUrn)?["typeNames"] == ["Table"])
    }

    @Test("A view gets its SQL and its upstream tables as VIEW lineage")
    func viewsCarryLogicAndLineage() throws {
        let proposals = try Fixture.export(Fixture.records())
        #expect(proposals.aspect("subTypes", of: Self.recentOrdersUrn)?["typeNames"] == ["View"])
        let view = try #require(proposals.aspect("viewProperties", of: Self.recentOrdersUrn))
        #expect(view["materialized"] == .bool(false))
        #expect(view["viewLanguage"] == "SQL")
        #expect(view["viewLogic"] == .string(Fixture.viewSQL))
        let lineage = try #require(proposals.aspect("upstreamLineage", of: Self.recentOrdersUrn))
        #expect(
            lineage["upstreams"]
                == .array([
                    .object(["dataset": .string(Self.orderItemsUrn), "type": "VIEW"]),
                    .object(["dataset": .string(Self.customersUrn), "type": "VIEW"]),
                ]))
        #expect(
            proposals.aspect("datasetProperties", of: Self.recentOrdersUrn)?["customProperties"]?["is_view"] == "True")
        #expect(proposals.aspect("upstreamLineage", of: Self.customersUrn) == nil)
    }

    @Test("The summary counts what was written and what DataHub has no place for")
    func summaryCounts() throws {
        let directory = try ScratchDirectory()
        let folder = try Fixture.extraction(in: directory.path + "/extraction", records: Fixture.records())
        let output = directory.path + "/datahub.json"
        let summary = try DataHubExporter().export(folder: folder, to: output)
        let proposals = try DataHubJSON.decodeFile(output).array ?? []

        #expect(summary.datasets == 3)
        #expect(summary.containers == 2)
        #expect(summary.aspects == proposals.count)
        #expect(summary.aspectsByName["schemaMetadata"] == 3)
        #expect(summary.fields == 13)
        #expect(summary.droppedRecords == [.enumType: 1, .function: 1])
        #expect(summary.passes == 2)
    }

    @Test("Columns not grouped by table still make one complete schema aspect per table, in bounded passes")
    func ungroupedColumnsAreGathered() throws {
        let grouped = try Fixture.export(Fixture.records())
        let directory = try ScratchDirectory()
        let folder = try Fixture.extraction(
            in: directory.path + "/extraction", records: Fixture.interleavingColumns(Fixture.records()))
        let output = directory.path + "/datahub.json"
        let summary = try DataHubExporter(maxBufferedColumns: 4).export(folder: folder, to: output)
        let ungrouped = try DataHubJSON.decodeFile(output).array ?? []

        #expect(summary.passes == 5)
        #expect(summary.fields == 13)
        for urn in [Self.customersUrn, Self.orderItemsUrn, Self.recentOrdersUrn] {
            let schemas = ungrouped.filter { $0["entityUrn"]?.string == urn && $0["aspectName"] == "schemaMetadata" }
            #expect(schemas.count == 1)
            #expect(schemas.first?["aspect"] == grouped.aspectProposal("schemaMetadata", of: urn)?["aspect"])
        }
    }

    @Test("A platform instance and environment shape URNs and container keys as DataHub's do")
    func platformInstanceAndEnvironment() async throws {
        let directory = try ScratchDirectory()
        let folder = try Fixture.extraction(in: directory.path + "/extraction", records: Fixture.records())
        let output = directory.path + "/datahub.json"
        try DataHubExporter(environment: .dev, platformInstance: "eu-1").export(folder: folder, to: output)
        let proposals = try DataHubJSON.decodeFile(output).array ?? []

        let customers = "urn:li:dataset:(urn:li:dataPlatform:postgres,eu-1.shop.Sales ü.customers,DEV)"
        let database = "urn:li:container:499d9ec8c7405e09bbedba0fdaaf65fc"
        let schema = "urn:li:container:443a92155191276f3a21eb4fcd9f7259"
        let instance = "urn:li:dataPlatformInstance:(urn:li:dataPlatform:postgres,eu-1)"
        #expect(proposals.aspect("container", of: customers)?["container"] == .string(schema))
        #expect(proposals.aspect("container", of: schema)?["container"] == .string(database))
        #expect(proposals.aspect("dataPlatformInstance", of: customers)?["instance"] == .string(instance))
        #expect(proposals.aspect("dataPlatformInstance", of: database)?["instance"] == .string(instance))
        #expect(proposals.aspect("containerProperties", of: database)?["env"] == "DEV")
        #expect(proposals.aspect("containerProperties", of: database)?["customProperties"]?["instance"] == "eu-1")
        #expect(proposals.aspect("schemaMetadata", of: customers)?["schemaName"] == "shop.Sales ü.customers")
        try await DataHubCLI.validate(output, scratch: directory.path)
    }

    @Test(
        "Container URNs hash names exactly as DataHub's Python key does, escapes and all",
        arguments: [
            ("shop", "public", "urn:li:container:c21bb06e7e33853f85675f9dd7d8c1dd"),
            ("shop", "x\"\\\n\t\u{01}\u{7F}😀/\u{08}\u{0C}", "urn:li:container:c7e1e074b4492f6cf44b4f17e18ce0b6"),
        ])
    func containerGuids(database: String, schema: String, expected: String) throws {
        let databaseName = QualifiedName(["local", database])
        let records: [MetadataRecord] = [
            .database(Database(qualifiedName: databaseName, name: database)),
            .schema(Schema(qualifiedName: databaseName.appending(schema), name: schema, database: databaseName)),
        ]
        let proposals = try Fixture.export(records)
        #expect(proposals.aspect("subTypes", of: expected)?["typeNames"] == ["Schema"])
    }

    @Test("Databases and schemas missing from a partial extraction are still written as containers")
    func missingContainersAreWritten() throws {
        let records = Fixture.records().filter {
            if case .database = $0 { return false }
            if case .schema = $0 { return false }
            return true
        }
        let proposals = try Fixture.export(records)
        #expect(proposals.aspect("containerProperties", of: Self.databaseUrn)?["name"] == "shop")
        #expect(proposals.aspect("containerProperties", of: Self.schemaUrn)?["name"] == "Sales ü")
        #expect(proposals.aspect("container", of: Self.schemaUrn)?["container"] == .string(Self.databaseUrn))
    }
}

// MARK: - BI records

@Suite("DataHub export of BI records")
struct DataHubBIExportTests {
    // Expected URNs computed with acryl-datahub 1.7's own code: `make_chart_urn`, `make_dashboard_urn`,
    // `make_dataset_urn_with_platform_instance`, `make_schema_field_urn`, and `ContainerKey` subclasses with the
    // key fields of DataHub's Tableau source (`SiteKey.site_id`, `ProjectKey.project_id`,
    // `WorkbookKey.workbook_id`) over the rendered qualified names.
    static let finance = "bi/Sales %2F EMEA %7E \"HQ\" 🚀/Corporate/Fin%2Fance %7E\"Q1\" 📈"
    static let workbook = finance + "/~workbook/Revenue \"2026\" %2F Q1 100%25"
    static let siteContainer = "urn:li:container:88c6095634ad4ad1915c1ef6fdbeac9f"
    static let corporateContainer = "urn:li:container:8f88d0d65d3bdfd13b68e2913a91a034"
    static let financeContainer = "urn:li:container:c607363cf8eeaaf1da3c92d3dd34e252"
    static let workbookContainer = "urn:li:container:8524cc0abd34e9c99e2fab44c34095f7"
    static let published = "urn:li:dataset:(urn:li:dataPlatform:tableau,\(finance)/~dataSource/Orders,PROD)"
    static let embedded = "urn:li:dataset:(urn:li:dataPlatform:tableau,\(workbook)/~dataSource/Orders,PROD)"
    static let snowflakeSource =
        "urn:li:dataset:(urn:li:dataPlatform:tableau,\(workbook)/~dataSource/Sales %28Snowflake%29,PROD)"
    static let parsedSQL =
        "urn:li:dataset:(urn:li:dataPlatform:tableau,\(workbook)/~dataSource/Sales %28Snowflake%29/~sql/Custom SQL Query,PROD)"
    static let unparsedSQL =
        "urn:li:dataset:(urn:li:dataPlatform:tableau,\(workbook)/~dataSource/Sales %28Snowflake%29/~sql/Custom SQL Query [c-2],PROD)"
    static let byRegion = "urn:li:chart:(tableau,\(workbook)/~sheet/By region 🌍)"
    static let trend = "urn:li:chart:(tableau,\(workbook)/~sheet/Trend %7E \"daily\")"
    static let overview = "urn:li:dashboard:(tableau,\(workbook)/~dashboard/Overview)"
    static let orders = "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.public.Orders,PROD)"
    static let sales = "urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.public.sales,PROD)"

    fileprivate static func field(_ dataset: String, _ path: String) -> DataHubJSON {
        .string("urn:li:schemaField:(\(dataset),\(path))")
    }

    fileprivate static func export(
        _ records: [MetadataRecord], exporter: DataHubExporter = DataHubExporter(), validate: Bool = false
    ) async throws -> (proposals: [DataHubJSON], summary: DataHubExporter.Summary) {
        let directory = try ScratchDirectory()
        let folder = try BIFixture.extraction(in: directory.path + "/extraction", records: records)
        let output = directory.path + "/datahub.json"
        let summary = try exporter.export(folder: folder, to: output)
        if validate { try await DataHubCLI.validate(output, scratch: directory.path) }
        return (try #require(DataHubJSON.decodeFile(output).array), summary)
    }

    @Test("A Tableau export passes DataHub's metadata-file check and comes back unchanged from DataHub's rewrite")
    func passesDataHubValidation() async throws {
        let (proposals, summary) = try await Self.export(BIFixture.records(), validate: true)
        #expect(summary.charts == 2)
        #expect(summary.dashboards == 1)
        #expect(summary.datasets == 5)
        #expect(summary.containers == 4)
        #expect(summary.fields == 9)
        #expect(summary.passes == 2)
        #expect(summary.droppedRecords.isEmpty)
        #expect(summary.aspects == proposals.count)
        #expect(
            Set(proposals.compactMap { $0["entityType"]?.string }) == ["container", "chart", "dashboard", "dataset"])
    }

    @Test("With a platform instance and another environment the export still passes DataHub's check")
    func platformInstanceValidates() async throws {
        let (proposals, _) = try await Self.export(
            BIFixture.records(), exporter: DataHubExporter(environment: .dev, platformInstance: "eu-1"), validate: true)
        let overview = "urn:li:dashboard:(tableau,eu-1.\(Self.workbook)/~dashboard/Overview)"
        #expect(
            proposals.aspect("container", of: overview)?["container"]
                == "urn:li:container:eefe53857aa4296211dd5f33e0b5765e")
        #expect(
            proposals.aspect(
                "upstreamLineage",
                of: "urn:li:dataset:(urn:li:dataPlatform:tableau,eu-1.\(Self.finance)/~dataSource/Orders,DEV)")?[
                    "upstreams"]?[0]?["dataset"]
                == "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.public.Orders,DEV)")
    }

    @Test("Site, nested projects and the workbook are containers, each inside its parent, with DataHub's key URNs")
    func containers() async throws {
        let (proposals, _) = try await Self.export(BIFixture.records())
        #expect(proposals.aspect("subTypes", of: Self.siteContainer)?["typeNames"] == ["Site"])
        #expect(proposals.aspect("container", of: Self.siteContainer) == nil)
        #expect(proposals.aspect("subTypes", of: Self.financeContainer)?["typeNames"] == ["Project"])
        #expect(proposals.aspect("container", of: Self.corporateContainer)?["container"] == .string(Self.siteContainer))
        #expect(
            proposals.aspect("container", of: Self.financeContainer)?["container"] == .string(Self.corporateContainer))
        #expect(
            proposals.aspect("container", of: Self.workbookContainer)?["container"] == .string(Self.financeContainer))
        let workbook = try #require(proposals.aspect("containerProperties", of: Self.workbookContainer))
        #expect(workbook["name"] == "Revenue \"2026\" / Q1 100%")
        #expect(workbook["description"] == "quarterly")
        #expect(workbook["customProperties"]?["workbook_id"] == .string(Self.workbook))
        #expect(workbook["customProperties"]?["tags"] == "finance, q1")
        #expect(proposals.aspect("containerProperties", of: Self.financeContainer)?["name"] == "Fin/ance ~\"Q1\" 📈")
    }

    @Test("The dashboard holds the charts of its sheets; a chart's inputs are its fields' data sources")
    func chartsAndDashboards() async throws {
        let (proposals, _) = try await Self.export(BIFixture.records())
        let dashboard = try #require(proposals.aspect("dashboardInfo", of: Self.overview))
        #expect(dashboard["title"] == "Overview")
        #expect(dashboard["description"] == "")
        #expect(dashboard["charts"] == .array([.string(Self.byRegion), .string(Self.trend)]))
        #expect(dashboard["lastModified"]?["created"]?["time"] == .number(1_767_323_045_000))
        #expect(proposals.aspect("container", of: Self.overview)?["container"] == .string(Self.workbookContainer))

        let byRegion = try #require(proposals.aspect("chartInfo", of: Self.byRegion))
        #expect(byRegion["title"] == "By region 🌍")
        #expect(byRegion["inputEdges"] == .array([.object(["destinationUrn": .string(Self.embedded)])]))
        #expect(byRegion["lastModified"]?["lastModified"]?["time"] == .number(1_767_477_600_500))
        #expect(byRegion["externalUrl"] == "https://tableau.example/#/site/sales-emea/views/Revenue/ByRegion")
        let trend = try #require(proposals.aspect("chartInfo", of: Self.trend))
        #expect(
            trend["inputEdges"]
                == .array([
                    .object(["destinationUrn": .string(Self.embedded)]),
                    .object(["destinationUrn": .string(Self.snowflakeSource)]),
                ]))
        #expect(trend["lastModified"]?["created"]?["actor"] == "urn:li:corpuser:unknown")
    }

    @Test("Data sources are datasets whose schema holds their fields, formulas in the description")
    func dataSourceSchemas() async throws {
        let (proposals, _) = try await Self.export(BIFixture.records())
        #expect(proposals.aspect("subTypes", of: Self.published)?["typeNames"] == ["Published Data Source"])
        #expect(proposals.aspect("subTypes", of: Self.embedded)?["typeNames"] == ["Embedded Data Source"])
        #expect(proposals.aspect("container", of: Self.published)?["container"] == .string(Self.financeContainer))
        #expect(proposals.aspect("container", of: Self.embedded)?["container"] == .string(Self.workbookContainer))
        let properties = try #require(proposals.aspect("datasetProperties", of: Self.published))
        #expect(properties["description"] == "all orders")
        #expect(properties["customProperties"]?["certified"] == "true")

        let schema = try #require(proposals.aspect("schemaMetadata", of: Self.published))
        #expect(schema["platform"] == "urn:li:dataPlatform:tableau")
        #expect(schema["platformSchema"] == .object(["com.linkedin.schema.OtherSchema": .object(["rawSchema": ""])]))
        let fields = try #require(schema["fields"]?.array)
        #expect(
            fields.map { $0["fieldPath"] }
                == ["Amount", "Amount [f-2]", "Region/Zone", "Profit %", "Profit ratio \"x\" ~"])
        #expect(fields[1]["type"]?["type"] == .object(["com.linkedin.schema.NumberType": .object([:])]))
        #expect(fields[2]["type"]?["type"] == .object(["com.linkedin.schema.StringType": .object([:])]))
        #expect(fields[2]["description"] == "sales region")
        #expect(fields[3]["description"] == "formula: [Amount] * 0.1")
        #expect(fields[3]["nativeDataType"] == "REAL")
    }

    @Test("Lineage runs from the warehouse tables through published into embedded data sources, field by field")
    func lineage() async throws {
        let (proposals, _) = try await Self.export(BIFixture.records())
        func upstreams(_ urn: String) -> [DataHubJSON] {
            proposals.aspect("upstreamLineage", of: urn)?["upstreams"]?.array?.compactMap { $0["dataset"] } ?? []
        }
        func inputs(_ urn: String, _ field: String) -> DataHubJSON? {
            let downstream = Self.field(urn, field)
            return proposals.aspect("upstreamLineage", of: urn)?["fineGrainedLineages"]?.array?
                .first { $0["downstreams"] == .array([downstream]) }?["upstreams"]
        }
        #expect(upstreams(Self.published) == [.string(Self.orders)])
        #expect(upstreams(Self.embedded) == [.string(Self.orders), .string(Self.published)])
        #expect(
            upstreams(Self.snowflakeSource)
                == [.string(Self.sales), .string(Self.parsedSQL), .string(Self.unparsedSQL)])
        #expect(
            proposals.aspect("upstreamLineage", of: Self.published)?["upstreams"]?[0]?["type"] == "TRANSFORMED")

        #expect(inputs(Self.published, "Amount") == .array([Self.field(Self.orders, "amount")]))
        #expect(inputs(Self.published, "Amount [f-2]") == .array([Self.field(Self.orders, "amount_cents")]))
        #expect(
            inputs(Self.published, "Profit ratio \"x\" ~")
                == .array([Self.field(Self.published, "Amount"), Self.field(Self.published, "Profit %")]))
        #expect(inputs(Self.embedded, "Amount") == .array([Self.field(Self.published, "Amount")]))
        #expect(inputs(Self.embedded, "Margin 💰") == .array([Self.field(Self.embedded, "Amount")]))
        // Snowflake names are lower-cased as DataHub's Snowflake source writes them.
        #expect(inputs(Self.snowflakeSource, "REVENUE") == .array([Self.field(Self.sales, "revenue")]))
    }

    @Test("Custom SQL is a view dataset with its query and the tables the BI tool reports, if any")
    func customSQL() async throws {
        let (proposals, _) = try await Self.export(BIFixture.records())
        #expect(proposals.aspect("subTypes", of: Self.parsedSQL)?["typeNames"] == ["View", "Custom SQL"])
        #expect(
            proposals.aspect("viewProperties", of: Self.parsedSQL)?["viewLogic"]
                == "SELECT REVENUE FROM ANALYTICS.PUBLIC.SALES")
        #expect(
            proposals.aspect("upstreamLineage", of: Self.parsedSQL)?["upstreams"]?[0]?["dataset"] == .string(Self.sales)
        )
        #expect(proposals.aspect("upstreamLineage", of: Self.unparsedSQL) == nil)
        #expect(proposals.aspect("datasetProperties", of: Self.unparsedSQL)?["customProperties"]?["parsed"] == "false")
        #expect(proposals.aspect("container", of: Self.parsedSQL)?["container"] == .string(Self.workbookContainer))
    }

    @Test("Fields not grouped by data source still make one complete schema and lineage each, in bounded passes")
    func ungroupedFieldsAreGathered() async throws {
        let (grouped, _) = try await Self.export(BIFixture.records())
        let (ungrouped, summary) = try await Self.export(
            BIFixture.interleavingFields(BIFixture.records()), exporter: DataHubExporter(maxBufferedColumns: 4))
        #expect(summary.fields == 9)
        // Data sources of 5, 3 and 1 fields, at most 4 at a time: windows [5] and [3, 1], each one more pass.
        #expect(summary.passes == 4)
        for urn in [Self.published, Self.embedded, Self.snowflakeSource] {
            for aspect in ["schemaMetadata", "upstreamLineage"] {
                let proposals = ungrouped.filter {
                    $0["entityUrn"]?.string == urn && $0["aspectName"]?.string == aspect
                }
                #expect(proposals.count == 1)
                #expect(proposals.first?["aspect"] == grouped.aspectProposal(aspect, of: urn)?["aspect"])
            }
        }
    }
}

// MARK: - The DataHub CLI

/// Runs the real `datahub` CLI; a missing CLI fails the test, never skips it.
private enum DataHubCLI {
    /// Aspects DataHub defines for each entity type the exporter writes.
    static let knownAspects: [String: Set<String>] = [
        "dataset": [
            "status", "container", "datasetProperties", "subTypes", "dataPlatformInstance", "viewProperties",
            "upstreamLineage", "schemaMetadata",
        ],
        "container": ["containerProperties", "status", "dataPlatformInstance", "subTypes", "container"],
        "chart": ["status", "container", "dataPlatformInstance", "chartInfo"],
        "dashboard": ["status", "container", "dataPlatformInstance", "dashboardInfo"],
    ]

    /// Checks `file` three ways: `datahub check metadata-file` accepts it; every proposal names an aspect DataHub
    /// defines for its entity type (the check lets unknown aspects through); and DataHub's own re-serialization
    /// (`--rewrite`) contains everything the file says, unchanged. The last catches what the check forgives:
    /// DataHub silently replaces an unknown union branch (a misspelt field type) and drops unknown fields.
    static func validate(
        _ file: String, scratch: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let datahub = try #require(
            executable(),
            """
            the `datahub` CLI is not on PATH; install DataHub's validator with `pip install acryl-datahub` \
            (no extras needed) and run the tests again
            """, sourceLocation: sourceLocation)

        let check = try await run(datahub, ["check", "metadata-file", file], scratch: scratch)
        #expect(
            check.status == 0, "datahub check metadata-file failed:\n\(check.output)", sourceLocation: sourceLocation)
        #expect(
            check.output.contains("all valid"), "unexpected check output:\n\(check.output)",
            sourceLocation: sourceLocation)

        let ours = try #require(DataHubJSON.decodeFile(file).array)
        for proposal in ours {
            let entityType = proposal["entityType"]?.string ?? ""
            let aspect = proposal["aspectName"]?.string ?? ""
            #expect(
                knownAspects[entityType]?.contains(aspect) == true, "unknown aspect \(entityType).\(aspect)",
                sourceLocation: sourceLocation)
            #expect(proposal["changeType"] == "UPSERT", sourceLocation: sourceLocation)
        }

        let rewritten = scratch + "/rewritten.json"
        try? FileManager.default.removeItem(atPath: rewritten)
        try FileManager.default.copyItem(atPath: file, toPath: rewritten)
        let rewrite = try await run(datahub, ["check", "metadata-file", "--rewrite", rewritten], scratch: scratch)
        #expect(rewrite.status == 0, "datahub rewrite failed:\n\(rewrite.output)", sourceLocation: sourceLocation)
        let theirs = try #require(DataHubJSON.decodeFile(rewritten).array)
        #expect(theirs.count == ours.count, sourceLocation: sourceLocation)
        for (mine, datahubs) in zip(ours, theirs) {
            #expect(
                mine.isContained(in: datahubs),
                "DataHub reads this proposal differently: \(mine)\nDataHub: \(datahubs)",
                sourceLocation: sourceLocation)
        }
    }

    static func executable() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = String(directory) + "/datahub"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs the CLI without holding a test thread: output goes to a file, termination resumes the task.
    private static func run(
        _ executable: String, _ arguments: [String], scratch: String
    ) async throws -> (status: Int32, output: String) {
        let log = scratch + "/datahub-" + UUID().uuidString.lowercased() + ".log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["DATAHUB_TELEMETRY_ENABLED"] = "false"
        process.environment = environment
        process.standardOutput = handle
        process.standardError = handle
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        return (status, try String(contentsOfFile: log, encoding: .utf8))
    }
}

// MARK: - Fixture

private enum Fixture {
    static let viewSQL =
        "SELECT o.id, c.name FROM \"Order \"\"Items\"\", (ü)\" o JOIN customers c ON c.id = o.customer_id"

    /// A small catalog in the order the PostgreSQL connector writes one: relations, then columns by relation,
    /// then constraints, indexes, lineage and extras.
    static func records() -> [MetadataRecord] {
        let database = QualifiedName(["local", "shop"])
        let schema = database.appending("Sales ü")
        let customers = schema.appending("customers")
        let orders = schema.appending("Order \"Items\", (ü)")
        let recent = schema.appending("recent orders")

        var customersTable = Relation(
            kind: .table, qualifiedName: customers, name: "customers", database: database, schema: schema)
        customersTable.tableType = .base
        var ordersTable = Relation(
            kind: .table, qualifiedName: orders, name: "Order \"Items\", (ü)", database: database, schema: schema)
        ordersTable.tableType = .base
        ordersTable.rowEstimate = 1200
        ordersTable.comment = "one row per order line"
        var recentView = Relation(
            kind: .view, qualifiedName: recent, name: "recent orders", database: database, schema: schema)
        recentView.definition = viewSQL

        func column(
            _ table: QualifiedName, _ name: String, _ ordinal: Int, _ type: String, _ family: Column.TypeFamily,
            nullable: Bool = true, comment: String? = nil, element: String? = nil
        ) -> MetadataRecord {
            var column = Column(
                qualifiedName: table.appending(name), name: name, database: database, schema: schema, table: table,
                ordinal: ordinal, nativeType: type, typeFamily: family, nullable: nullable)
            column.comment = comment
            column.elementType = element
            return .column(column)
        }
        func constraint(
            _ kind: Constraint.Kind, _ table: QualifiedName, _ name: String, _ columns: [String]
        ) -> Constraint {
            Constraint(
                kind: kind, qualifiedName: table.appending(marker: .constraint, name), name: name,
                database: database, schema: schema, table: table, columns: columns)
        }

        var foreignKey = constraint(.foreignKey, orders, "orders_customer_fk", ["customer_id"])
        foreignKey.referencedTable = customers
        foreignKey.referencedColumns = ["id"]
        var check = constraint(.checkConstraint, orders, "orders_amount_check", ["amount"])
        check.expression = "(amount > 0)"
        var index = Index(
            qualifiedName: orders.appending(marker: .index, "orders_created_idx"), name: "orders_created_idx",
            database: database, schema: schema, table: orders, keys: [.init(column: "created", descending: true)],
            unique: false)
        index.method = "btree"

        return [
            .database(Database(qualifiedName: database, name: "shop", owner: "postgres", encoding: "UTF8")),
            .schema(Schema(qualifiedName: schema, name: "Sales ü", database: database, comment: "sales data")),
            .relation(customersTable), .relation(ordersTable), .relation(recentView),
            column(customers, "id", 1, "integer", .integer, nullable: false),
            column(customers, "name", 2, "text", .string),
            column(customers, "tags", 3, "text[]", .array, element: "text"),
            // Ordinals out of order on purpose: fields are written in ordinal order.
            column(orders, "customer_id", 2, "integer", .integer, nullable: false),
            column(orders, "id", 1, "bigint", .integer, nullable: false),
            column(orders, "line (no)", 3, "integer", .integer, nullable: false),
            column(orders, "amount", 4, "numeric(12,2)", .decimal, comment: "in cents"),
            column(orders, "created", 5, "timestamp with time zone", .timestamp),
            column(orders, "data", 6, "jsonb", .json),
            column(recent, "id", 1, "bigint", .integer),
            column(recent, "name", 2, "text", .string),
            column(recent, "customer_id", 3, "integer", .integer),
            column(recent, "amount", 4, "numeric(12,2)", .decimal),
            .constraint(constraint(.primaryKey, customers, "customers_pkey", ["id"])),
            .constraint(constraint(.primaryKey, orders, "orders_pkey", ["id", "line (no)"])),
            .constraint(foreignKey),
            .constraint(constraint(.uniqueConstraint, orders, "orders_line_key", ["customer_id", "line (no)"])),
            .constraint(check),
            .index(index),
            .lineageEdge(
                LineageEdge(
                    downstream: recent, downstreamKind: .view, upstream: orders, upstreamSchema: schema,
                    upstreamKind: .table,
                    name: "Order \"Items\", (ü)", database: database, schema: schema, upstreamColumns: ["id"])),
            .lineageEdge(
                LineageEdge(
                    downstream: recent, downstreamKind: .view, upstream: customers, upstreamSchema: schema,
                    upstreamKind: .table,
                    name: "customers", database: database, schema: schema, upstreamColumns: ["name"])),
            .enumType(
                EnumType(
                    qualifiedName: schema.appending(marker: .type, "mood"), name: "mood", database: database,
                    schema: schema, values: ["sad", "ok"])),
            .function(
                Function(
                    qualifiedName: schema.appending(marker: .function, "f()"), name: "f", database: database,
                    schema: schema, routineType: "function", signature: "f()", arguments: "", language: "sql")),
        ]
    }

    /// The same records with columns dealt round-robin across tables, so no table's columns are consecutive.
    static func interleavingColumns(_ records: [MetadataRecord]) -> [MetadataRecord] {
        var queues: [[MetadataRecord]] = []
        var tables: [QualifiedName] = []
        for record in records {
            guard case .column(let column) = record else { continue }
            if let index = tables.firstIndex(of: column.table) {
                queues[index].append(record)
            } else {
                tables.append(column.table)
                queues.append([record])
            }
        }
        var dealt: [MetadataRecord] = []
        while queues.contains(where: { !$0.isEmpty }) {
            for index in queues.indices where !queues[index].isEmpty {
                dealt.append(queues[index].removeFirst())
            }
        }
        let firstColumn = records.firstIndex { $0.kind == .column } ?? records.endIndex
        return Array(records[..<firstColumn]) + dealt + records[firstColumn...].filter { $0.kind != .column }
    }

    /// Writes `records` as an extraction with a manifest, as a connector run would.
    static func extraction(in path: String, records: [MetadataRecord]) throws -> ExtractionFolder {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let writer = ChunkedRecordWriter(directory: path, maxChunkBytes: 2048)
        for record in records { try writer.write(record) }
        let chunks = try writer.finish()
        let manifest = Manifest(
            extractionId: "test", connection: "local", source: .init(kind: "postgresql"),
            connector: .init(name: "test", version: "0"), startedAt: "2026-01-01T00:00:00Z",
            finishedAt: "2026-01-01T00:00:01Z", filters: .init(),
            files: chunks.map {
                .init(
                    path: $0.fileName, sha256: $0.sha256, bytes: $0.bytes, uncompressedBytes: $0.uncompressedBytes,
                    records: $0.records)
            },
            counts: Dictionary(uniqueKeysWithValues: writer.counts.map { ($0.key.rawValue, $0.value) }),
            completeness: [])
        let folder = ExtractionFolder(path: path)
        try folder.writeManifest(manifest)
        return folder
    }

    /// Exports `records` with default settings and returns the decoded proposals.
    static func export(_ records: [MetadataRecord]) throws -> [DataHubJSON] {
        let directory = try ScratchDirectory()
        let folder = try extraction(in: directory.path + "/extraction", records: records)
        let output = directory.path + "/datahub.json"
        try DataHubExporter().export(folder: folder, to: output)
        return try #require(DataHubJSON.decodeFile(output).array)
    }
}

/// A temporary directory, removed when released.
private final class ScratchDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/outpost-datahub-" + UUID().uuidString.lowercased()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

// MARK: - Reading the output

/// Any JSON value, for reading the exported file without trusting the exporter's own types.
private enum DataHubJSON: Decodable, Equatable, CustomStringConvertible, ExpressibleByStringLiteral,
    ExpressibleByArrayLiteral
{
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([DataHubJSON])
    case object([String: DataHubJSON])

    init(stringLiteral value: String) { self = .string(value) }
    init(arrayLiteral elements: DataHubJSON...) { self = .array(elements) }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([DataHubJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: DataHubJSON].self))
        }
    }

    static func decodeFile(_ path: String) throws -> DataHubJSON {
        try JSONDecoder().decode(DataHubJSON.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    subscript(key: String) -> DataHubJSON? {
        if case .object(let object) = self { object[key] } else { nil }
    }

    subscript(index: Int) -> DataHubJSON? {
        if case .array(let array) = self, array.indices.contains(index) { array[index] } else { nil }
    }

    var string: String? {
        if case .string(let value) = self { value } else { nil }
    }

    var array: [DataHubJSON]? {
        if case .array(let value) = self { value } else { nil }
    }

    /// Whether `other` says everything this value says: same scalars, same-length arrays of contained elements,
    /// objects with at least these keys (DataHub adds fields that have defaults).
    func isContained(in other: DataHubJSON) -> Bool {
        switch (self, other) {
        case (.object(let mine), .object(let theirs)):
            return mine.allSatisfy { key, value in theirs[key].map { value.isContained(in: $0) } ?? false }
        case (.array(let mine), .array(let theirs)):
            return mine.count == theirs.count && zip(mine, theirs).allSatisfy { $0.isContained(in: $1) }
        default:
            return self == other
        }
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let value): String(value)
        case .number(let value): String(value)
        case .string(let value): "\"\(value)\""
        case .array(let values): "[" + values.map(\.description).joined(separator: ",") + "]"
        case .object(let object):
            "{" + object.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
        }
    }
}

extension [DataHubJSON] {
    /// The proposal of `aspectName` for `urn`, if exactly one exists.
    fileprivate func aspectProposal(_ aspectName: String, of urn: String) -> DataHubJSON? {
        let matches = filter { $0["entityUrn"]?.string == urn && $0["aspectName"]?.string == aspectName }
        return matches.count == 1 ? matches[0] : nil
    }

    /// The aspect JSON of `aspectName` for `urn`, if exactly one proposal holds it.
    fileprivate func aspect(_ aspectName: String, of urn: String) -> DataHubJSON? {
        aspectProposal(aspectName, of: urn)?["aspect"]?["json"]
    }
}
