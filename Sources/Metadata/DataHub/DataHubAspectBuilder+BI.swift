/// BI records (format 1.2) as DataHub models Tableau: sites, projects and workbooks are containers, sheets are
/// charts, dashboards are dashboards, data sources and custom SQL queries are datasets of the BI platform whose
/// fields and lineage (to warehouse tables, to published data sources, field by field) complete them.
extension DataHubAspectBuilder {
    /// An entity and its aspects.
    typealias EntityAspects = (entity: DataHubNaming.Entity, aspects: [any DataHubAspectValue])

    // MARK: Containers

    /// The aspects of a site's container.
    func siteContainer(_ site: Site) -> EntityAspects {
        var properties = naming.biContainerKeyProperties(.site, site.qualifiedName)
        properties["qualifiedName"] = site.qualifiedName.description
        properties["contentUrl"] = site.contentUrl
        properties["luid"] = site.luid
        return (
            naming.biContainer(.site, site.qualifiedName),
            biContainerAspects(
                name: site.name, description: nil, url: site.url, properties: properties, key: .site, parent: nil)
        )
    }

    /// The aspects of a project's container, inside its parent project's or its site's.
    func projectContainer(_ project: Project) -> EntityAspects {
        var properties = naming.biContainerKeyProperties(.project, project.qualifiedName)
        properties["qualifiedName"] = project.qualifiedName.description
        properties["path"] = project.path
        properties["luid"] = project.luid
        properties["owner"] = project.owner
        let parent =
            project.parentProject.map { naming.biContainer(.project, $0) } ?? naming.biContainer(.site, project.site)
        return (
            naming.biContainer(.project, project.qualifiedName),
            biContainerAspects(
                name: project.name, description: project.comment, url: nil, properties: properties, key: .project,
                parent: parent)
        )
    }

    /// The aspects of a workbook's container, inside its project's.
    func workbookContainer(_ workbook: Workbook) -> EntityAspects {
        var properties = naming.biContainerKeyProperties(.workbook, workbook.qualifiedName)
        properties["qualifiedName"] = workbook.qualifiedName.description
        properties["luid"] = workbook.luid
        properties["owner"] = workbook.owner
        properties["createdAt"] = workbook.createdAt
        properties["updatedAt"] = workbook.updatedAt
        if let tags = workbook.tags, !tags.isEmpty { properties["tags"] = tags.joined(separator: ", ") }
        return (
            naming.biContainer(.workbook, workbook.qualifiedName),
            biContainerAspects(
                name: workbook.name, description: workbook.comment, url: workbook.url, properties: properties,
                key: .workbook, parent: naming.biContainer(.project, workbook.project))
        )
    }

    private func biContainerAspects(
        name: String, description: String?, url: String?, properties: DataHubProperties,
        key: DataHubNaming.BIContainerKey, parent: DataHubNaming.Entity?
    ) -> [any DataHubAspectValue] {
        var properties = properties
        properties["url"] = url
        var aspects: [any DataHubAspectValue] = []
        if let parent { aspects.append(DataHubAspect.Container(container: parent.urn)) }
        aspects += [
            DataHubAspect.ContainerProperties(customProperties: properties, name: name, description: description),
            DataHubAspect.Status(),
            DataHubAspect.DataPlatformInstance(platform: naming.platformUrn, instance: naming.platformInstanceUrn),
            DataHubAspect.SubTypes(typeNames: [key.subType]),
        ]
        return aspects
    }

    // MARK: Charts and dashboards

    /// The aspects of a sheet's chart: its inputs are the datasets of the data sources whose fields it shows.
    func sheetChart(_ sheet: Sheet) throws -> EntityAspects {
        var inputs: [String] = []
        var seen: Set<QualifiedName> = []
        for field in sheet.fields {
            let source = try DataHubNaming.dataSource(ofField: field)
            if seen.insert(source).inserted { inputs.append(naming.biDataset(source).urn) }
        }
        var properties = DataHubProperties()
        properties["qualifiedName"] = sheet.qualifiedName.description
        properties["luid"] = sheet.luid
        properties["fields"] = sheet.fields.isEmpty ? nil : String(sheet.fields.count)
        let info = DataHubAspect.ChartInfo(
            customProperties: properties, externalUrl: sheet.url, title: sheet.name, description: "",
            lastModified: Self.auditStamps(created: sheet.createdAt, updated: sheet.updatedAt),
            inputEdges: inputs.sorted().map { DataHubAspect.Edge(destinationUrn: $0) })
        return (naming.chart(sheet.qualifiedName), workbookMember(sheet.workbook) + [info])
    }

    /// The aspects of a dashboard, with the charts of its sheets.
    func dashboard(_ dashboard: Dashboard) -> EntityAspects {
        var properties = DataHubProperties()
        properties["qualifiedName"] = dashboard.qualifiedName.description
        properties["luid"] = dashboard.luid
        let info = DataHubAspect.DashboardInfo(
            customProperties: properties, externalUrl: dashboard.url, title: dashboard.name, description: "",
            charts: dashboard.sheets.map { naming.chart($0).urn },
            lastModified: Self.auditStamps(created: dashboard.createdAt, updated: dashboard.updatedAt))
        return (naming.dashboard(dashboard.qualifiedName), workbookMember(dashboard.workbook) + [info])
    }

    /// What charts and dashboards share: status, their workbook's container, the platform.
    private func workbookMember(_ workbook: QualifiedName) -> [any DataHubAspectValue] {
        [
            DataHubAspect.Status(),
            DataHubAspect.Container(container: naming.biContainer(.workbook, workbook).urn),
            DataHubAspect.DataPlatformInstance(platform: naming.platformUrn, instance: naming.platformInstanceUrn),
        ]
    }

    // MARK: Datasets

    /// The aspects of a data source's dataset that its own record determines (not its schema or lineage).
    func dataSourceAspects(_ source: DataSource) -> [any DataHubAspectValue] {
        var properties = DataHubProperties()
        properties["qualifiedName"] = source.qualifiedName.description
        properties["published"] = String(source.published)
        properties["luid"] = source.luid
        properties["owner"] = source.owner
        properties["certified"] = source.certified.map(String.init)
        properties["certifier"] = source.certifier
        properties["certificationNote"] = source.certificationNote
        properties["hasExtracts"] = source.hasExtracts.map(String.init)
        properties["createdAt"] = source.createdAt
        properties["updatedAt"] = source.updatedAt
        let container =
            source.workbook.map { naming.biContainer(.workbook, $0) } ?? naming.biContainer(.project, source.project)
        var aspects: [any DataHubAspectValue] = [
            DataHubAspect.Status(),
            DataHubAspect.Container(container: container.urn),
            DataHubAspect.DatasetProperties(
                customProperties: properties, name: source.name, description: source.comment),
            // DataHub's Tableau source's names for the two kinds.
            DataHubAspect.SubTypes(typeNames: [source.published ? "Published Data Source" : "Embedded Data Source"]),
        ]
        if let instance = naming.platformInstanceUrn {
            aspects.append(DataHubAspect.DataPlatformInstance(platform: naming.platformUrn, instance: instance))
        }
        return aspects
    }

    /// The aspects of a custom SQL query's dataset: a view of the BI platform over the tables the tool reports.
    func customSQLAspects(
        _ query: CustomSQL, plan: DataHubExportPlan.DataSource?
    ) -> [any DataHubAspectValue] {
        var properties = DataHubProperties()
        properties["qualifiedName"] = query.qualifiedName.description
        properties["dataSource"] = query.dataSource.description
        properties["connectionType"] = query.connectionType
        properties["parsed"] = String(query.parsed)
        var aspects: [any DataHubAspectValue] = [DataHubAspect.Status()]
        if let plan, let container = plan.container {
            let entity = naming.biContainer(plan.containerIsWorkbook ? .workbook : .project, container)
            aspects.append(DataHubAspect.Container(container: entity.urn))
        }
        aspects += [
            DataHubAspect.DatasetProperties(customProperties: properties, name: query.name, description: nil),
            // DataHub's Tableau source files custom SQL as a view.
            DataHubAspect.SubTypes(typeNames: ["View", "Custom SQL"]),
        ]
        if let instance = naming.platformInstanceUrn {
            aspects.append(DataHubAspect.DataPlatformInstance(platform: naming.platformUrn, instance: instance))
        }
        if let text = query.query {
            aspects.append(DataHubAspect.ViewProperties(materialized: false, viewLogic: text))
        }
        var upstreams = UpstreamSet()
        for table in query.upstreamTables { upstreams.add(naming.warehouseDataset(table).urn) }
        if let lineage = upstreams.lineage(fineGrained: []) { aspects.append(lineage) }
        return aspects
    }

    /// `schemaMetadata` of a data source: one field per BI field, typed as DataHub's Tableau source types them.
    func dataSourceSchema(_ source: QualifiedName, fields: [Field]) -> DataHubAspect.SchemaMetadata {
        let schemaFields = fields.map { field in
            DataHubAspect.SchemaMetadata.Field(
                fieldPath: DataHubNaming.biFieldPath(field.qualifiedName), nullable: true,
                description: Self.fieldDescription(field),
                type: .init(type: Self.fieldType(dataType: field.dataType)), nativeDataType: field.dataType ?? "UNKNOWN"
            )
        }
        return DataHubAspect.SchemaMetadata(
            schemaName: source.description, platform: naming.platformUrn, platformSchema: .other,
            fields: schemaFields, primaryKeys: nil, foreignKeys: nil)
    }

    /// `upstreamLineage` of a data source: the warehouse tables, published data sources and custom SQL it reads,
    /// and the tables and data sources its fields read; field by field where fields name their inputs. Nil when it
    /// reads nothing.
    func dataSourceLineage(
        _ source: QualifiedName, plan: DataHubExportPlan.DataSource?, fields: [Field]
    ) throws -> DataHubAspect.UpstreamLineage? {
        var upstreams = UpstreamSet()
        for table in plan?.upstreamTables ?? [] { upstreams.add(naming.warehouseDataset(table).urn) }
        for upstream in plan?.upstreamDataSources ?? [] { upstreams.add(naming.biDataset(upstream).urn) }
        for query in plan?.customSQL ?? [] { upstreams.add(naming.biDataset(query).urn) }
        let dataset = naming.biDataset(source)
        var fineGrained: [DataHubAspect.UpstreamLineage.FineGrainedLineage] = []
        for field in fields {
            var inputs: [String] = []
            for column in field.upstreamColumns {
                upstreams.add(naming.warehouseDataset(column).urn)
                if let input = naming.warehouseField(column) { inputs.append(input) }
            }
            for upstream in field.upstreamFields {
                let upstreamSource = try DataHubNaming.dataSource(ofField: upstream)
                let upstreamDataset = naming.biDataset(upstreamSource)
                if upstreamSource != source { upstreams.add(upstreamDataset.urn) }
                inputs.append(
                    DataHubNaming.schemaFieldUrn(dataset: upstreamDataset, field: DataHubNaming.biFieldPath(upstream)))
            }
            guard !inputs.isEmpty else { continue }
            fineGrained.append(
                .init(
                    upstreams: inputs,
                    downstreams: [
                        DataHubNaming.schemaFieldUrn(
                            dataset: dataset, field: DataHubNaming.biFieldPath(field.qualifiedName))
                    ]))
        }
        return upstreams.lineage(fineGrained: fineGrained)
    }

    /// A field's description as DataHub's Tableau source writes it: the description, then `formula: …` after an
    /// empty line (without the trailing empty line DataHub leaves when there is no formula).
    static func fieldDescription(_ field: Field) -> String? {
        let parts = [field.comment, field.formula.map { "formula: " + $0 }].compactMap { $0 }.filter { !$0.isEmpty }
        return parts.isEmpty ? nil : parts.joined(separator: "\n\n")
    }

    /// DataHub's field type for a Tableau data type, after DataHub's Tableau source (`FIELD_TYPE_MAPPING`).
    static func fieldType(dataType: String?) -> DataHubAspect.SchemaMetadata.FieldType {
        switch dataType?.uppercased() ?? "UNKNOWN" {
        case "INTEGER", "REAL", "I1", "I2", "I4", "I8", "R4", "R8", "CY", "DECIMAL", "NUMERIC", "VARNUMERIC", "UI1",
            "UI2", "UI4", "UI8", "WDC_INT", "WDC_FLOAT":
            .number
        case "STRING", "BSTR", "STR", "WSTR", "GUID", "UDT", "BYREF", "WDC_STRING": .string
        case "BOOLEAN", "BOOL", "WDC_BOOL": .boolean
        case "DATE", "DBDATE", "WDC_DATE": .date
        case "DATETIME", "DBTIME", "DBTIMESTAMP", "FILETIME", "WDC_DATETIME": .time
        case "TUPLE", "TABLE", "ARRAY", "VECTOR": .array(elementType: nil)
        case "BYTES": .bytes
        default: .null
        }
    }

    /// DataHub's audit stamps from RFC 3339 times; time 0 (DataHub's default) where a time is missing or unreadable.
    static func auditStamps(created: String?, updated: String?) -> DataHubAspect.ChangeAuditStamps {
        let createdTime = created.flatMap(Self.epochMilliseconds) ?? 0
        let updatedTime = updated.flatMap(Self.epochMilliseconds) ?? createdTime
        return .init(created: .init(time: createdTime), lastModified: .init(time: updatedTime))
    }

    /// Milliseconds since 1970 of an RFC 3339 time (`2026-01-02T03:04:05.678Z`, or with a `±hh:mm` offset).
    static func epochMilliseconds(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count, !range.isEmpty else { return nil }
            var value: Int64 = 0
            for byte in bytes[range] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"), bytes[13] == UInt8(ascii: ":"),
            bytes[16] == UInt8(ascii: ":"), let year = number(0..<4), let month = number(5..<7),
            let day = number(8..<10), let hour = number(11..<13), let minute = number(14..<16),
            let second = number(17..<19), (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60,
            second < 61
        else { return nil }
        var index = 19
        var millis: Int64 = 0
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 0x30 && bytes[index] <= 0x39 {
                if digits < 3 { millis = millis * 10 + Int64(bytes[index] - 0x30) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { millis *= 10 }
        }
        var offsetMinutes: Int64 = 0
        if index == bytes.count - 1 && (bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z")) {
            offsetMinutes = 0
        } else if index == bytes.count - 6, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-"),
            bytes[index + 3] == UInt8(ascii: ":"), let offsetHours = number(index + 1..<index + 3),
            let offsetMins = number(index + 4..<index + 6)
        {
            offsetMinutes = (offsetHours * 60 + offsetMins) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        // Days from the civil date (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offsetMinutes * 60
        return seconds * 1_000 + millis
    }
}

/// Upstream datasets in first-seen order without repeats.
private struct UpstreamSet {
    private var urns: [String] = []
    private var seen: Set<String> = []

    mutating func add(_ urn: String) {
        if seen.insert(urn).inserted { urns.append(urn) }
    }

    /// `upstreamLineage` of these upstreams (type `TRANSFORMED`, as DataHub's Tableau source writes), or nil.
    func lineage(
        fineGrained: [DataHubAspect.UpstreamLineage.FineGrainedLineage]
    ) -> DataHubAspect.UpstreamLineage? {
        guard !urns.isEmpty else { return nil }
        return DataHubAspect.UpstreamLineage(
            upstreams: urns.map { .init(dataset: $0, type: "TRANSFORMED") },
            fineGrainedLineages: fineGrained.isEmpty ? nil : fineGrained)
    }
}
