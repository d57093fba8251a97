import ArgumentParser
import Foundation
import OutpostAdmin
import OutpostProtocol

/// `outpost admin runs`: the queue and history, logs and cancellation.
struct AdminRunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List and show runs, print their logs, cancel them.",
        subcommands: [List.self, Show.self, Logs.self, Cancel.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List runs, newest first.")

        @OptionGroup var options: AdminOptions

        @Option(name: .long, help: "Only the runs of this connection (id or name).")
        var connection: String?

        @Option(name: .long, help: "At most this many runs (1–500).")
        var limit = 50

        func run() async throws {
            try await options.withClient { client in
                var path = "/v1/admin/runs?limit=\(limit)"
                if let connection {
                    let id = try await AdminConnectionsCommand.resolve(connection, client: client)
                    path += "&connectionId=\(AdminPath.escape(id))"
                }
                let bytes = try await client.send(.get, path)
                if options.json { return options.printJSON(bytes) }
                let runs = try JSONDecoder().decode(RunList.self, from: Data(bytes)).runs
                let names = try await AdminConnectionsCommand.names(client: client)
                AdminTable.print(
                    ["ID", "CONNECTION", "STATUS", "ATTEMPT", "CREATED", "FINISHED", "ERROR"],
                    runs.map {
                        [
                            $0.id, names[$0.connectionId] ?? $0.connectionId, $0.status.rawValue,
                            "\($0.attempt)/\($0.maxAttempts)", $0.createdAt, $0.finishedAt, $0.error,
                        ]
                    })
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one run.")

        @OptionGroup var options: AdminOptions

        @Argument(help: "The run's id (run_…).")
        var id: String

        func run() async throws {
            try await options.withClient { client in
                let bytes = try await client.send(.get, "/v1/admin/runs/\(AdminPath.escape(id))")
                if options.json { return options.printJSON(bytes) }
                let run = try JSONDecoder().decode(RunResponse.self, from: Data(bytes))
                let name = try await AdminConnectionsCommand.names(client: client)[run.connectionId]
                AdminTable.fields([
                    ("id", run.id), ("connection", name.map { "\($0) (\(run.connectionId))" } ?? run.connectionId),
                    ("status", run.status.rawValue),
                    ("attempt", "\(run.attempt)/\(run.maxAttempts)"), ("agent", run.leaseAgentId),
                    ("lease expires", run.leaseExpiresAt), ("cancel requested", run.cancelRequested ? "yes" : "no"),
                    ("cancel reason", run.cancelReason), ("error", run.error), ("created", run.createdAt),
                    ("started", run.startedAt), ("finished", run.finishedAt), ("log bytes", "\(run.logBytes)"),
                    ("log total bytes", run.logTotalBytes.map(String.init)),
                    ("log dropped bytes", run.logDroppedBytes.map(String.init)),
                    (
                        "catalog",
                        run.catalogChanges.map {
                            "\($0.created) created, \($0.updated) updated, \($0.unchanged) unchanged, \($0.deleted) deleted"
                        }
                    ),
                ])
            }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a run's log as stored so far, page by page (bounded memory).")

        @OptionGroup var options: AdminOptions

        @Argument(help: "The run's id (run_…).")
        var id: String

        @Option(name: .long, help: "Start at this byte offset.")
        var from: Int64 = 0

        func run() async throws {
            try await options.withClient { client in
                var offset = from
                while true {
                    let page = try await client.call(
                        .get, "/v1/admin/runs/\(AdminPath.escape(id))/logs?from=\(offset)&limit=262144",
                        as: RunLogResponse.self)
                    FileHandle.standardOutput.write(Data(page.text.utf8))
                    // A page ends early only at the end of the stored log (or before a character cut in two).
                    guard page.nextOffset > offset, page.nextOffset < page.totalBytes else { break }
                    offset = page.nextOffset
                }
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a run: a queued one at once, a running one on its agent's next lease renewal.")

        @OptionGroup var options: AdminOptions

        @Argument(help: "The run's id (run_…).")
        var id: String

        @Option(name: .long, help: "Why, shown to the agent and in the run.")
        var reason: String?

        func run() async throws {
            try await options.withClient { client in
                let bytes = try await client.send(
                    .post, "/v1/admin/runs/\(AdminPath.escape(id))/cancel", body: CancelRequest(reason: reason))
                if options.json { return options.printJSON(bytes) }
                let run = try JSONDecoder().decode(RunResponse.self, from: Data(bytes))
                print(
                    run.status == .cancelled
                        ? "cancelled run \(run.id)" : "cancellation of run \(run.id) requested (\(run.status.rawValue))"
                )
            }
        }
    }
}

/// `outpost admin agents`: the tenant's agents and their health.
struct AdminAgentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents", abstract: "List agents.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the agents with their last heartbeat.")

        @OptionGroup var options: AdminOptions

        func run() async throws {
            try await options.withClient { client in
                let bytes = try await client.send(.get, "/v1/admin/agents")
                if options.json { return options.printJSON(bytes) }
                let agents = try JSONDecoder().decode(AgentList.self, from: Data(bytes)).agents
                AdminTable.print(
                    ["ID", "NAME", "VERSION", "STATUS", "STATE", "FREE", "RUNNING", "LAST SEEN", "LAST ERROR"],
                    agents.map {
                        [
                            $0.id, $0.name, $0.version, $0.status.rawValue, $0.state, "\($0.freeSlots)",
                            "\($0.runningLeases)", $0.lastSeenAt, $0.lastError,
                        ]
                    })
            }
        }
    }
}
