import ArgumentParser
import Foundation
import OutpostAdmin
import OutpostProtocol

/// `outpost admin connections`: sources with their settings and secret references.
struct AdminConnectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections", abstract: "Create, list, show, update and delete connections.",
        subcommands: [Create.self, List.self, Show.self, Update.self, Delete.self])

    /// The connection settings a command line can give; every one optional, so `update` changes only what is given.
    struct Settings: ParsableArguments {
        @Option(name: .long, help: "A JSON file with the whole connection (the admin API's ConnectionRequest).")
        var fromFile: String?

        @Option(name: .long, help: "Unique name; the first part of every qualified name extracted from it.")
        var name: String?

        @Option(name: .long, help: "postgresql, sqlite, snowflake or tableau.")
        var sourceKind: String?

        @Option(name: .long, help: "The source without credentials: postgres://reader@db:5432/sales.")
        var sourceURL: String?

        @Option(name: .long, help: "A secret reference ROLE=REF (password=aws-sm:prod/pg#password); repeatable.")
        var secret: [String] = []

        @Option(name: .long, help: "The agent pool that may run it (default: default).")
        var pool: String?

        @Option(name: .long, help: "A five-field cron expression or @hourly/@daily/…, UTC; \"none\" removes it.")
        var schedule: String?

        @Option(name: .long, help: "Schemas to include (glob or re:); repeatable.")
        var includeSchema: [String] = []

        @Option(name: .long, help: "Schemas to exclude (glob or re:); repeatable.")
        var excludeSchema: [String] = []

        @Option(name: .long, help: "Tables to include (glob or re:); repeatable.")
        var includeTable: [String] = []

        @Option(name: .long, help: "Tables to exclude (glob or re:); repeatable.")
        var excludeTable: [String] = []

        /// `base` (or the file's request) with the flags applied on top.
        func apply(to base: ConnectionRequest?) throws -> ConnectionRequest {
            var request = base
            if let fromFile {
                guard let data = FileManager.default.contents(atPath: fromFile) else {
                    throw AdminClientError(usage: "cannot read --from-file '\(fromFile)'")
                }
                do {
                    request = try JSONDecoder().decode(ConnectionRequest.self, from: data)
                } catch {
                    throw AdminClientError(usage: "--from-file '\(fromFile)' is not a connection in JSON: \(error)")
                }
            }
            guard var result = request ?? makeNew() else {
                throw AdminClientError(
                    usage: "a new connection needs --name, --source-kind and --source-url (or --from-file)")
            }
            if let name { result.name = name }
            if let sourceKind { result.sourceKind = sourceKind }
            if let sourceURL { result.sourceURL = sourceURL }
            if let pool { result.pool = pool }
            if let schedule { result.schedule = schedule.lowercased() == "none" ? nil : schedule }
            for entry in secret {
                guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                    throw AdminClientError(usage: "--secret '\(entry)' is not ROLE=REFERENCE")
                }
                var secrets = result.secrets ?? [:]
                secrets[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
                result.secrets = secrets
            }
            if !(includeSchema + excludeSchema + includeTable + excludeTable).isEmpty {
                var filters = result.filters ?? ConnectionFilters()
                if !includeSchema.isEmpty { filters.includeSchemas = includeSchema }
                if !excludeSchema.isEmpty { filters.excludeSchemas = excludeSchema }
                if !includeTable.isEmpty { filters.includeTables = includeTable }
                if !excludeTable.isEmpty { filters.excludeTables = excludeTable }
                result.filters = filters
            }
            return result
        }

        private func makeNew() -> ConnectionRequest? {
            guard let name, let sourceKind, let sourceURL else { return nil }
            return ConnectionRequest(name: name, sourceKind: sourceKind, sourceURL: sourceURL)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a connection (from flags or a JSON file).")

        @OptionGroup var options: AdminOptions
        @OptionGroup var settings: Settings

        func run() async throws {
            try await options.withClient { client in
                let request = try settings.apply(to: nil)
                let bytes = try await client.send(.post, "/v1/admin/connections", body: request)
                if options.json { return options.printJSON(bytes) }
                let connection = try JSONDecoder().decode(ConnectionResponse.self, from: Data(bytes))
                print("created connection \(connection.id) '\(connection.name)'")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the connections.")

        @OptionGroup var options: AdminOptions

        func run() async throws {
            try await options.withClient { client in
                let bytes = try await client.send(.get, "/v1/admin/connections")
                if options.json { return options.printJSON(bytes) }
                let connections = try JSONDecoder().decode(ConnectionList.self, from: Data(bytes)).connections
                AdminTable.print(
                    ["ID", "NAME", "KIND", "POOL", "SCHEDULE", "NEXT RUN"],
                    connections.map { [$0.id, $0.name, $0.sourceKind, $0.pool, $0.schedule, $0.nextRunAt] })
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one connection.")

        @OptionGroup var options: AdminOptions

        @Argument(help: "The connection's id (con_…) or name.")
        var connection: String

        func run() async throws {
            try await options.withClient { client in
                let id = try await AdminConnectionsCommand.resolve(connection, client: client)
                let bytes = try await client.send(.get, "/v1/admin/connections/\(AdminPath.escape(id))")
                if options.json { return options.printJSON(bytes) }
                let shown = try JSONDecoder().decode(ConnectionResponse.self, from: Data(bytes))
                AdminTable.fields([
                    ("id", shown.id), ("name", shown.name), ("source kind", shown.sourceKind),
                    ("source URL", shown.sourceURL),
                    (
                        "secrets",
                        shown.secrets.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                            separator: ", ")
                    ),
                    ("delivery", shown.delivery.mode.rawValue), ("pool", shown.pool), ("schedule", shown.schedule),
                    ("next run", shown.nextRunAt), ("created", shown.createdAt), ("updated", shown.updatedAt),
                ])
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a connection: the flags given replace those settings, the rest stays.")

        @OptionGroup var options: AdminOptions

        @Argument(help: "The connection's id (con_…) or name.")
        var connection: String

        @OptionGroup var settings: Settings

        func run() async throws {
            try await options.withClient { client in
                let id = try await AdminConnectionsCommand.resolve(connection, client: client)
                let path = "/v1/admin/connections/\(AdminPath.escape(id))"
                let current = try await client.call(.get, path, as: ConnectionResponse.self)
                let request = try settings.apply(to: AdminConnectionsCommand.request(from: current))
                let bytes = try await client.send(.put, path, body: request)
                if options.json { return options.printJSON(bytes) }
                print("updated connection \(id)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a connection with its run history (refused while a run of it is active).")

        @OptionGroup var options: AdminOptions

        @Argument(help: "The connection's id (con_…) or name.")
        var connection: String

        func run() async throws {
            try await options.withClient { client in
                let id = try await AdminConnectionsCommand.resolve(connection, client: client)
                try await client.send(.delete, "/v1/admin/connections/\(AdminPath.escape(id))")
                print("deleted connection \(id)")
            }
        }
    }

    /// The id of the connection named or identified by `text`.
    static func resolve(_ text: String, client: AdminClient) async throws -> String {
        if text.hasPrefix("con_") { return text }
        let connections = try await client.call(.get, "/v1/admin/connections", as: ConnectionList.self).connections
        guard let match = connections.first(where: { $0.name == text }) else {
            throw AdminClientError(failure: "no connection is named '\(text)' (`outpost admin connections list`)")
        }
        return match.id
    }

    /// The tenant's connection names by id, for tables that would otherwise show ids.
    static func names(client: AdminClient) async throws -> [String: String] {
        let connections = try await client.call(.get, "/v1/admin/connections", as: ConnectionList.self).connections
        return Dictionary(connections.map { ($0.id, $0.name) }) { first, _ in first }
    }

    /// The request that recreates `connection` as it is.
    static func request(from connection: ConnectionResponse) -> ConnectionRequest {
        let filters = connection.filters
        func nonEmpty(_ list: [String]) -> [String]? { list.isEmpty ? nil : list }
        return ConnectionRequest(
            name: connection.name, sourceKind: connection.sourceKind, sourceURL: connection.sourceURL,
            secrets: connection.secrets,
            filters: ConnectionFilters(
                includeDatabases: nonEmpty(filters.includeDatabases),
                excludeDatabases: nonEmpty(filters.excludeDatabases),
                includeSchemas: nonEmpty(filters.includeSchemas), excludeSchemas: nonEmpty(filters.excludeSchemas),
                includeTables: nonEmpty(filters.includeTables), excludeTables: nonEmpty(filters.excludeTables),
                excludeKinds: nonEmpty(filters.excludeKinds), excludeFields: nonEmpty(filters.excludeFields)),
            delivery: DeliverySettings(
                mode: connection.delivery.mode,
                relay: connection.delivery.relay.map {
                    RelaySettings(
                        kind: $0.kind, bucket: $0.bucket, account: $0.account,
                        prefix: $0.prefix.isEmpty ? nil : $0.prefix,
                        region: $0.region, endpoint: $0.endpoint,
                        serverSideEncryption: $0.kind == .s3 ? $0.serverSideEncryption : nil, kmsKeyId: $0.kmsKeyId,
                        kmsKeyName: $0.kmsKeyName, encryptionScope: $0.encryptionScope)
                }),
            pool: connection.pool, schedule: connection.schedule)
    }
}
