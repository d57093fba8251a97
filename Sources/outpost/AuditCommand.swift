import Agent
import ArgumentParser
import ControlPlane
import OutpostAdmin
import OutpostProtocol

/// `outpost audit`: works with the agent's local audit ledger.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Inspect the agent's local, hash-chained audit ledger.",
        subcommands: [AuditVerifyCommand.self]
    )
}

/// `outpost audit verify`: checks the ledger's hash chain and, with `--server`, that the ledger still holds what the
/// control plane saw of it; exit status 0 when intact, 1 at the first broken line or a ledger cut short.
struct AuditVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every entry of the audit ledger against its hash and the entry before it.",
        discussion: """
            Exit status 0 when the whole chain verifies, 1 when a line is broken (the first one is shown). A hash \
            chain cannot show that its newest entries were cut off: with --server (and an admin key, as for \
            outpost admin) the ledger is also compared with the longest head the agent ever reported to the \
            control plane, and a ledger shorter than that, or with another entry there, fails.
            """
    )

    @Option(name: .long, help: "The ledger file.")
    var file: String?

    @Option(name: .customLong("data-dir"), help: "The agent's data directory (the ledger is its audit.jsonl).")
    var dataDirectory: String?

    @OptionGroup var admin: AdminOptions

    func validate() throws {
        guard (file == nil) != (dataDirectory == nil) else {
            throw ValidationError("give exactly one of --file PATH or --data-dir DIR")
        }
        if admin.server != nil && dataDirectory == nil {
            throw ValidationError("--server needs --data-dir: the agent's id is kept there")
        }
    }

    func run() async throws {
        let path = file ?? AuditLedger.path(dataDirectory: dataDirectory ?? "")
        var acknowledged: AgentResponse?
        if admin.server != nil, let dataDirectory {
            guard let agentId = Agent.storedIdentity(dataDirectory: dataDirectory) else {
                Terminal.error("\(dataDirectory) holds no agent id: the agent never started there")
                throw ExitCode(ExitStatus.failure)
            }
            try await admin.withClient { client in
                let agents = try await client.call(.get, "/v1/admin/agents", as: AgentList.self).agents
                acknowledged = agents.first { $0.id == agentId }
            }
            guard acknowledged != nil else {
                Terminal.error("the control plane knows no agent \(agentId) (another tenant's key, or another server?)")
                throw ExitCode(ExitStatus.failure)
            }
        }
        let result: AuditVerification
        do {
            result = try AuditLedger.verify(path: path, checkpoint: acknowledged?.auditHead)
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(ExitStatus.failure)
        }
        if let broken = result.broken {
            print("\(path): BROKEN at line \(broken.line): \(broken.reason)")
            print("\(result.entries) entries before it verified")
            throw ExitCode(ExitStatus.failure)
        }
        if let head = acknowledged?.auditHead {
            if Int64(result.entries) < head.sequence {
                print(
                    "\(path): SHORTENED: the control plane saw \(head.sequence) entries (the last with hash "
                        + "\(head.hash)); the ledger holds \(result.entries): entries were removed")
                throw ExitCode(ExitStatus.failure)
            }
            guard result.checkpointHash == head.hash else {
                print(
                    "\(path): REWRITTEN: entry \(head.sequence) has hash \(result.checkpointHash ?? "-"), the control plane "
                        + "saw \(head.hash)")
                throw ExitCode(ExitStatus.failure)
            }
        }
        if let problem = acknowledged?.auditProblem {
            print("\(path): the control plane recorded a problem with this ledger: \(problem)")
            throw ExitCode(ExitStatus.failure)
        }
        let checked = acknowledged?.auditHead.map { ", including the \($0.sequence) the control plane saw" } ?? ""
        print("\(path): intact, \(result.entries) entries\(checked)")
    }
}
