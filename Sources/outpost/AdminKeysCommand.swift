import ArgumentParser
import CivilTime
import Foundation
import OutpostAdmin
import OutpostProtocol

/// `outpost admin keys`: create, list and revoke API keys.
struct AdminKeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Create, list and revoke API keys.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key and print it once: it cannot be shown again.",
            discussion: "The key alone goes to standard output (for scripts); what it is goes to standard error.")

        @OptionGroup var options: AdminOptions

        @Option(name: .long, help: "agent (for `outpost agent`) or admin (for this command and the UI).")
        var role: String

        @Option(name: .long, help: "A name to recognise the key by (default: the role and the date).")
        var name: String?

        @Option(name: .long, help: "Expire after this long: 90d, 12h, 30m, 2w (default: never).")
        var expiresIn: String?

        func run() async throws {
            guard let role = APIKeyRole(rawValue: role) else {
                Terminal.error("--role '\(self.role)' is not a role: use agent or admin")
                throw ExitCode(ExitStatus.usage)
            }
            let now = Date()
            var expiresAt: String?
            if let expiresIn {
                guard let seconds = AdminDuration.seconds(expiresIn) else {
                    Terminal.error("--expires-in '\(expiresIn)' is not a duration like 90d, 12h, 30m or 2w")
                    throw ExitCode(ExitStatus.usage)
                }
                expiresAt = RFC3339.format(
                    millisecondsSince1970: Int64(now.timeIntervalSince1970 * 1000) + seconds * 1000)
            }
            let day = RFC3339.format(millisecondsSince1970: Int64(now.timeIntervalSince1970 * 1000)).prefix(10)
            let request = KeyCreateRequest(
                name: name ?? "\(role.rawValue) key \(day)", role: role, expiresAt: expiresAt)
            try await options.withClient { client in
                let bytes = try await client.send(.post, "/v1/admin/keys", body: request)
                if options.json { return options.printJSON(bytes) }
                let created = try JSONDecoder().decode(KeyCreatedResponse.self, from: Data(bytes))
                print(created.key)
                Terminal.writeStandardError(
                    "created \(created.apiKey.role.rawValue) key \(created.apiKey.id) '\(created.apiKey.name)'"
                        + (created.apiKey.expiresAt.map { ", expires \($0)" } ?? ", no expiry")
                        + ": store it now, it cannot be shown again\n")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenant's keys (never their text).")

        @OptionGroup var options: AdminOptions

        func run() async throws {
            try await options.withClient { client in
                let bytes = try await client.send(.get, "/v1/admin/keys")
                if options.json { return options.printJSON(bytes) }
                let keys = try JSONDecoder().decode(KeyList.self, from: Data(bytes)).keys
                AdminTable.print(
                    ["ID", "NAME", "ROLE", "PREFIX", "CREATED", "EXPIRES", "REVOKED", "LAST USED"],
                    keys.map {
                        [
                            $0.id, $0.name, $0.role.rawValue, $0.prefix, $0.createdAt, $0.expiresAt, $0.revokedAt,
                            $0.lastUsedAt,
                        ]
                    })
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key; effective at once.")

        @OptionGroup var options: AdminOptions

        @Argument(help: "The key's id (key_…), as `keys list` shows it.")
        var id: String

        func run() async throws {
            try await options.withClient { client in
                try await client.send(.delete, "/v1/admin/keys/\(AdminPath.escape(id))")
                print("revoked key \(id)")
            }
        }
    }
}

/// Durations like `90d` for `--expires-in`.
enum AdminDuration {
    /// Seconds in `text` (`<positive integer><s|m|h|d|w>`), or nil.
    static func seconds(_ text: String) -> Int64? {
        guard let unit = text.last, let count = Int64(text.dropLast()), count > 0 else { return nil }
        let factor: Int64
        switch unit {
        case "s": factor = 1
        case "m": factor = 60
        case "h": factor = 3600
        case "d": factor = 86_400
        case "w": factor = 604_800
        default: return nil
        }
        let (seconds, overflow) = count.multipliedReportingOverflow(by: factor)
        return overflow || seconds > 100 * 365 * 86_400 ? nil : seconds
    }
}
