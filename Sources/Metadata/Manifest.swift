/// The description of one extraction: what was read, with which filters, into which files, and how
/// completely. Written last, as `manifest.json`; its presence is what makes a folder an extraction.
public struct Manifest: Codable, Sendable, Equatable {
    /// Whether every schema in scope was read fully.
    public enum Status: String, Codable, Sendable {
        case complete
        case partial
    }

    /// The source that was read. Never holds credentials.
    public struct Source: Codable, Sendable, Equatable {
        /// `postgresql`, `sqlite` or `snowflake`.
        public var kind: String
        public var serverVersion: String?
        /// Where the source is, with any credentials removed (`host:port` or a file path).
        public var location: String?
        /// What reading the source cost it, when the source bills for it (Snowflake).
        public var usage: Usage?

        public init(kind: String, serverVersion: String? = nil, location: String? = nil, usage: Usage? = nil) {
            self.kind = kind
            self.serverVersion = serverVersion
            self.location = location
            self.usage = usage
        }
    }

    /// Statements an extraction ran and the compute time they used.
    public struct Usage: Codable, Sendable, Equatable {
        /// Every statement submitted, including those that ran without a warehouse (SHOW).
        public var statements: Int
        /// Statements that ran on a warehouse.
        public var warehouseStatements: Int
        /// Wall time from submission to result of the statements that ran on a warehouse, in seconds.
        public var warehouseSeconds: Double

        public init(statements: Int, warehouseStatements: Int, warehouseSeconds: Double) {
            self.statements = statements
            self.warehouseStatements = warehouseStatements
            self.warehouseSeconds = warehouseSeconds
        }
    }

    /// The connector that did the reading.
    public struct Connector: Codable, Sendable, Equatable {
        public var name: String
        public var version: String

        public init(name: String, version: String) {
            self.name = name
            self.version = version
        }
    }

    /// The filters and exclusions in force, as given.
    public struct Filters: Codable, Sendable, Equatable {
        public var includeDatabases: [String]
        public var excludeDatabases: [String]
        public var includeSchemas: [String]
        public var excludeSchemas: [String]
        public var includeTables: [String]
        public var excludeTables: [String]
        public var excludeKinds: [String]
        public var excludeFields: [String]

        public init(
            includeDatabases: [String] = [], excludeDatabases: [String] = [], includeSchemas: [String] = [],
            excludeSchemas: [String] = [], includeTables: [String] = [], excludeTables: [String] = [],
            excludeKinds: [String] = [], excludeFields: [String] = []
        ) {
            self.includeDatabases = includeDatabases
            self.excludeDatabases = excludeDatabases
            self.includeSchemas = includeSchemas
            self.excludeSchemas = excludeSchemas
            self.includeTables = includeTables
            self.excludeTables = excludeTables
            self.excludeKinds = excludeKinds
            self.excludeFields = excludeFields
        }
    }

    /// One chunk file.
    public struct File: Codable, Sendable, Equatable {
        /// The file name, relative to the manifest.
        public var path: String
        public var sha256: String
        public var bytes: Int64
        public var uncompressedBytes: Int64
        public var records: Int

        public init(path: String, sha256: String, bytes: Int64, uncompressedBytes: Int64, records: Int) {
            self.path = path
            self.sha256 = sha256
            self.bytes = bytes
            self.uncompressedBytes = uncompressedBytes
            self.records = records
        }
    }

    /// Whether one schema (or, with `schema` absent, a whole database) was read fully.
    ///
    /// Consumers delete assets that disappeared only inside entries marked complete.
    public struct Completeness: Codable, Sendable, Equatable {
        public var database: String
        public var schema: String?
        public var qualifiedName: QualifiedName
        public var complete: Bool
        /// Why the entry is incomplete: permission denied, timeout, connection lost …
        public var reason: String?

        public init(
            database: String, schema: String?, qualifiedName: QualifiedName, complete: Bool, reason: String? = nil
        ) {
            self.database = database
            self.schema = schema
            self.qualifiedName = qualifiedName
            self.complete = complete
            self.reason = reason
        }
    }

    public var formatVersion: String
    public var extractionId: String
    /// The connection name every qualified name starts with.
    public var connection: String
    public var source: Source
    public var connector: Connector
    /// RFC 3339 UTC timestamps.
    public var startedAt: String
    public var finishedAt: String
    public var status: Status
    public var filters: Filters
    public var files: [File]
    /// Records per kind.
    public var counts: [String: Int]
    public var recordCount: Int
    public var completeness: [Completeness]

    public init(
        extractionId: String, connection: String, source: Source, connector: Connector, startedAt: String,
        finishedAt: String, filters: Filters, files: [File], counts: [String: Int], completeness: [Completeness]
    ) {
        self.formatVersion = MetadataFormat.version
        self.extractionId = extractionId
        self.connection = connection
        self.source = source
        self.connector = connector
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.status = completeness.allSatisfy(\.complete) ? .complete : .partial
        self.filters = filters
        self.files = files
        self.counts = counts
        self.recordCount = files.reduce(0) { $0 + $1.records }
        self.completeness = completeness
    }
}
