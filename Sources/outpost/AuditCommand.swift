import Agent
import ArgumentParser

/// `outpost audit`: works with the agent's local audit ledger.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Inspect the agent's local, hash-chained audit ledger.",
        subcommands: [AuditVerifyCommand.self]
    )
}

/// `outpost audit verify`: checks the ledger's hash chain; exit status 0 when intact, 1 at the first broken line.
struct AuditVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every entry of the audit ledger against its hash and the entry before it.",
        discussion: "Exit status 0 when the whole chain verifies, 1 when a line is broken (the first one is shown)."
    )

    @Option(name: .long, help: "The ledger file.")
    var file: String?

    @Option(name: .customLong("data-dir"), help: "The agent's data directory (the ledger is its audit.jsonl).")
    var dataDirectory: String?

    func validate() throws {
        guard (file == nil) != (dataDirectory == nil) else {
            throw ValidationError("give exactly one of --file PATH or --data-dir DIR")
        }
    }

    func run() throws {
        let path = file ?? AuditLedger.path(dataDirectory: dataDirectory ?? "")
        let result: AuditVerification
        do {
            result = try AuditLedger.verify(path: path)
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(ExitStatus.failure)
        }
        if let broken = result.broken {
            print("\(path): BROKEN at line \(broken.line): \(broken.reason)")
            print("\(result.entries) entries before it verified")
            throw ExitCode(ExitStatus.failure)
        }
        print("\(path): intact, \(result.entries) entries")
    }
}
