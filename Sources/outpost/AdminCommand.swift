import ArgumentParser
import Foundation
import OutpostAdmin
import OutpostProtocol

/// `outpost admin`: API keys, connections, runs and agents, through a server's admin API.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Manage API keys, connections, runs and agents through a server's admin API.",
        discussion: """
            The server comes from --server or OUTPOST_SERVER (http(s)://HOST:PORT); the admin key from --key-file or \
            OUTPOST_ADMIN_KEY (the key text; a file keeps it out of the process list and shell history). \
            `outpost server` writes its first admin key to DATA_DIR/admin.key.
            Exit status: 0 done, 1 the server refused or could not be reached, 64 invalid command line.
            """,
        subcommands: [
            AdminKeysCommand.self, AdminConnectionsCommand.self, AdminRunsCommand.self, AdminRunNowCommand.self,
            AdminAgentsCommand.self,
        ]
    )
}

/// Where the admin API is and how to authenticate, shared by every `outpost admin` subcommand.
struct AdminOptions: ParsableArguments {
    @Option(name: .long, help: "The server, http(s)://HOST:PORT (default: $OUTPOST_SERVER).")
    var server: String?

    @Option(name: .long, help: "A file holding the admin key (default: the key in $OUTPOST_ADMIN_KEY).")
    var keyFile: String?

    @Option(name: .long, help: "A PEM bundle to trust for an https server (a self-signed or private CA).")
    var caFile: String?

    @Flag(name: .long, help: "Print the server's JSON answer instead of a table.")
    var json = false

    /// Runs `body` with a client, printing any failure as one line and exiting 1 (64 for usage errors).
    func withClient(_ body: (AdminClient) async throws -> Void) async throws {
        let client: AdminClient
        do {
            client = try makeClient()
        } catch let error as AdminClientError {
            Terminal.error(error.message)
            throw ExitCode(error.isUsage ? ExitStatus.usage : ExitStatus.failure)
        }
        do {
            try await body(client)
            await client.shutdown()
        } catch let error as AdminClientError {
            await client.shutdown()
            Terminal.error(error.message)
            throw ExitCode(error.isUsage ? ExitStatus.usage : ExitStatus.failure)
        } catch {
            await client.shutdown()
            throw error
        }
    }

    private func makeClient() throws -> AdminClient {
        let environment = ProcessInfo.processInfo.environment
        guard let server = server ?? environment["OUTPOST_SERVER"], !server.isEmpty else {
            throw AdminClientError(usage: "no server: pass --server http://HOST:PORT or set OUTPOST_SERVER")
        }
        let key: String
        if let keyFile {
            guard let data = FileManager.default.contents(atPath: keyFile) else {
                throw AdminClientError(usage: "cannot read the key file '\(keyFile)'")
            }
            key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let text = environment["OUTPOST_ADMIN_KEY"], !text.isEmpty {
            key = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            throw AdminClientError(usage: "no admin key: pass --key-file FILE or set OUTPOST_ADMIN_KEY")
        }
        guard !key.isEmpty, !key.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            throw AdminClientError(
                usage: "the admin key is empty or not one word; check --key-file or OUTPOST_ADMIN_KEY")
        }
        return try AdminClient(baseURL: server, key: key, caFile: caFile)
    }

    /// Prints a JSON answer as the server sent it.
    func printJSON(_ bytes: [UInt8]) {
        print(String(decoding: bytes, as: UTF8.self))
    }
}

/// Plain-text tables for `outpost admin` listings.
enum AdminTable {
    /// Left-aligned columns separated by two spaces; `-` for empty cells.
    static func print(_ headers: [String], _ rows: [[String?]]) {
        let cells = [headers] + rows.map { $0.map { $0 ?? "-" } }
        var widths = Array(repeating: 0, count: headers.count)
        for row in cells { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        for row in cells {
            let line = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }
            Swift.print(line.joined(separator: "  "))
        }
    }

    /// `key: value` lines for one object.
    static func fields(_ pairs: [(String, String?)]) {
        let width = pairs.map(\.0.count).max() ?? 0
        for (name, value) in pairs {
            Swift.print(name + ":" + String(repeating: " ", count: width - name.count + 1) + (value ?? "-"))
        }
    }
}

/// `outpost admin run-now CONNECTION`: queues a run of a connection (by id or by name).
struct AdminRunNowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-now", abstract: "Queue a run of a connection now.")

    @OptionGroup var options: AdminOptions

    @Argument(help: "The connection's id (con_…) or name.")
    var connection: String

    func run() async throws {
        try await options.withClient { client in
            let id = try await AdminConnectionsCommand.resolve(connection, client: client)
            let bytes = try await client.send(.post, "/v1/admin/connections/\(AdminPath.escape(id))/runs")
            if options.json { return options.printJSON(bytes) }
            let run = try JSONDecoder().decode(RunResponse.self, from: Data(bytes))
            print("queued run \(run.id) of connection \(run.connectionId)")
        }
    }
}

/// Path segments and query values for admin API URLs.
enum AdminPath {
    /// Percent-encodes everything but unreserved characters, so an id or name cannot change the path.
    static func escape(_ text: String) -> String {
        let allowed = CharacterSet(
            charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
