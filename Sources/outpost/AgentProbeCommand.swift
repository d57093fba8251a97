import Agent
import ArgumentParser

/// `outpost probe`: asks the agent's own health listener whether it is alive or ready, for a container
/// HEALTHCHECK or a Kubernetes `exec` probe in an image that has no shell and no curl.
struct AgentProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Check the local agent's health listener: exit 0 when the URL answers 200, 1 otherwise.",
        discussion: """
            For container health checks and exec probes, e.g. `outpost probe http://127.0.0.1:9464/readyz`. \
            The URL must be http:// on a loopback address: the agent's observability.listen.
            """
    )

    @Argument(help: "The endpoint: /healthz (the agent runs) or /readyz (it can take work).")
    var url = "http://127.0.0.1:9464/healthz"

    @Option(name: .long, help: "Seconds to wait for the answer (1-300).")
    var timeout = 5

    func validate() throws {
        guard (1...300).contains(timeout) else {
            throw ValidationError("--timeout must be between 1 and 300 seconds, not \(timeout)")
        }
        do {
            _ = try HealthProbe(url: url, timeout: .seconds(timeout))
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() async throws {
        do {
            let line = try await HealthProbe(url: url, timeout: .seconds(timeout)).check()
            print(line.isEmpty ? "ok" : line)
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(ExitStatus.failure)
        }
    }
}
