public import Metadata
internal import Synchronization

/// The sink connectors write into: drops excluded kinds, strips excluded field groups, counts progress,
/// then hands the record on. Exclusions happen here, before anything reaches a file.
public final class RecordPipeline: RecordSink {
    private let next: any RecordSink
    private let excludeKinds: Set<RecordKind>
    private let excludeFields: Set<FieldGroup>
    private let progress: ExtractionProgress

    public init(next: any RecordSink, filters: ExtractionFilters, progress: ExtractionProgress) {
        self.next = next
        self.excludeKinds = filters.excludeKinds
        self.excludeFields = filters.excludeFields
        self.progress = progress
    }

    public func write(_ record: MetadataRecord) throws {
        guard !excludeKinds.contains(record.kind) else { return }
        if excludeFields.isEmpty {
            try next.write(record)
        } else {
            try next.write(record.removing(excludeFields))
        }
        progress.recordWritten()
    }
}

/// Counters a progress display reads while an extraction runs on another task.
public final class ExtractionProgress: Sendable {
    private let records = Atomic<Int>(0)

    public init() {}

    public var recordsWritten: Int { records.load(ordering: .relaxed) }

    func recordWritten() {
        records.add(1, ordering: .relaxed)
    }
}

extension MetadataRecord {
    /// The record with every field of the given groups removed.
    func removing(_ groups: Set<FieldGroup>) -> MetadataRecord {
        let comments = groups.contains(.comments)
        let definitions = groups.contains(.definitions)
        let defaults = groups.contains(.defaults)
        let statistics = groups.contains(.statistics)
        let owners = groups.contains(.owners)
        switch self {
        case .database(var record):
            if comments { record.comment = nil }
            if statistics { record.sizeBytes = nil }
            if owners { record.owner = nil }
            return .database(record)
        case .schema(var record):
            if comments { record.comment = nil }
            if owners { record.owner = nil }
            return .schema(record)
        case .relation(var record):
            if comments { record.comment = nil }
            if statistics {
                record.rowEstimate = nil
                record.sizeBytes = nil
            }
            if owners { record.owner = nil }
            if definitions {
                record.definition = nil
                record.partitionBound = nil
                record.partitionKey = nil
                record.clusteringKey = nil
            }
            return .relation(record)
        case .column(var record):
            if comments { record.comment = nil }
            if defaults { record.defaultExpression = nil }
            if definitions { record.generatedExpression = nil }
            return .column(record)
        case .constraint(var record):
            if comments { record.comment = nil }
            if definitions { record.expression = nil }
            return .constraint(record)
        case .index(var record):
            if comments { record.comment = nil }
            if statistics { record.sizeBytes = nil }
            if definitions {
                record.definition = nil
                record.predicate = nil
                record.keys = record.keys.map {
                    Index.Key(column: $0.column, expression: nil, descending: $0.descending)
                }
            }
            return .index(record)
        case .lineageEdge:
            return self
        case .enumType(var record):
            if comments { record.comment = nil }
            if owners { record.owner = nil }
            return .enumType(record)
        case .domainType(var record):
            if comments { record.comment = nil }
            if owners { record.owner = nil }
            if defaults { record.defaultExpression = nil }
            if definitions { record.checks = [] }
            return .domainType(record)
        case .function(var record):
            if comments { record.comment = nil }
            if owners { record.owner = nil }
            return .function(record)
        case .bi(let record):
            return .bi(record.removing(groups))
        }
    }
}
