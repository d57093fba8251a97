// The `outpost` executable: argument parsing and process wiring only. Every command delegates to a library.

import ArgumentParser

@main
struct Outpost: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outpost",
        abstract: "Outbound-only metadata extraction agent and its control plane.",
        version: OutpostVersion.current,
        subcommands: [
            QuickstartCommand.self, ExtractCommand.self, ExportCommand.self, ServerCommand.self, AgentCommand.self,
            AdminCommand.self, AuditCommand.self, AgentProbeCommand.self, RunJobCommand.self,
        ]
    )
}

/// The version of this build.
enum OutpostVersion {
    static let current = "0.1.0"
}

/// Exit codes shared by every command, documented in the README.
enum ExitStatus {
    /// Everything in scope was read.
    static let success: Int32 = 0
    /// The command failed; nothing usable was written.
    static let failure: Int32 = 1
    /// Finished, but some schemas or databases could not be read fully; the manifest says which.
    static let partial: Int32 = 2
    /// The command line was invalid (unknown flag, unknown scheme, invalid pattern).
    static let usage: Int32 = 64
}
