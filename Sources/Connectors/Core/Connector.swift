// The Connectors module reads metadata out of sources. Each source kind has one `Connector`; all of them
// emit the same `MetadataRecord`s into a `RecordSink`, apply the same filters, and report per-schema
// completeness the same way, so everything downstream is source-agnostic.

public import Logging
public import Metadata

/// Reads the metadata of one source and streams it as records.
///
/// A connector must not accumulate the catalog in memory: it emits records as it reads them. It reports a
/// schema it could not read fully (permission denied, timeout) as incomplete and carries on with the rest;
/// it throws only when nothing useful can be read at all (unreachable, authentication failed).
public protocol Connector: Sendable {
    /// The source kind written into manifests (`postgresql`, `sqlite`).
    var sourceKind: String { get }

    /// Extracts everything `scope` admits into `sink`.
    func extract(scope: ExtractionScope, into sink: any RecordSink, logger: Logger) async throws -> SourceReport

    /// Reaches the source and authenticates as an extraction would, reading one cheap fact instead of the catalog
    /// (`outpost agent --check --source`); returns what was reached, in a sentence without secrets.
    ///
    /// - Throws: the `ConnectorError` the extraction would have failed with.
    func check(logger: Logger) async throws -> String
}

/// What to extract and how to name it.
public struct ExtractionScope: Sendable {
    /// The first part of every qualified name.
    public var connection: String
    public var filters: ExtractionFilters

    public init(connection: String, filters: ExtractionFilters = ExtractionFilters()) {
        self.connection = connection
        self.filters = filters
    }

    public var connectionName: QualifiedName { QualifiedName([connection]) }
}

/// What a connector learned about the source besides its records.
public struct SourceReport: Sendable {
    public var source: Manifest.Source
    public var connector: Manifest.Connector
    public var completeness: [Manifest.Completeness]

    public init(source: Manifest.Source, connector: Manifest.Connector, completeness: [Manifest.Completeness]) {
        self.source = source
        self.connector = connector
        self.completeness = completeness
    }
}

/// The version every built-in connector reports; bumped when connector output changes.
public enum ConnectorVersion {
    public static let current = "1.0.0"
}
