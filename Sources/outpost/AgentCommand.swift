import Agent
import ArgumentParser
import Foundation
import Logging
import OutpostProtocol
import UnixSignals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `outpost agent`: the outbound-only daemon that claims runs and extracts them.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the agent: claim extraction runs from the control plane and deliver their metadata.",
        discussion: """
            Configuration: one YAML file (--config), with OUTPOST_<SECTION>_<KEY> environment overrides \
            (e.g. OUTPOST_CONTROL_PLANE_URL). The API key is read from a secret reference (controlPlane.apiKey), \
            never from the file itself. See docs/agent-configuration.md.
            SIGTERM or SIGINT drains: no new runs, running ones finish (up to agent.drainTimeout); a second signal \
            stops them at once. Exit status: 0 after a drain, 78 for an invalid configuration, 1 otherwise.
            """
    )

    @Option(name: .long, help: "The agent's YAML configuration file.")
    var config: String

    @Flag(name: .long, help: "Run the preflight checks, print one line per check, and exit.")
    var check = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "With --check: also reach this source as a job would (policy, secrets, proxy, connection, "
                + "authentication).", valueName: "URL"))
    var source: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "With --check: a secret the --source needs, as its connection names it "
                + "(privateKey=file:/etc/outpost/sf.pem, password=aws-sm:prod/pg#password). Repeatable.",
            valueName: "ROLE=REFERENCE"))
    var secret: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "With --check: also check a relay bucket as a delivery would reach it (policy, identity, permissions), "
                + "writing nothing: gs://BUCKET[/PREFIX], s3://BUCKET[/PREFIX] or azure://ACCOUNT/CONTAINER[/PREFIX]. "
                + "Repeatable.",
            valueName: "LOCATION"))
    var relay: [String] = []

    @Option(name: .long, help: "With --relay: the bucket's endpoint, if not the cloud's own.")
    var relayEndpoint: String?

    @Option(name: .long, help: "With --relay s3://…: the bucket's region (default: AWS_REGION).")
    var relayRegion: String?

    func validate() throws {
        if !check && (source != nil || !secret.isEmpty || !relay.isEmpty) {
            throw ValidationError("--source, --secret and --relay go with --check")
        }
        if relay.isEmpty && (relayEndpoint != nil || relayRegion != nil) {
            throw ValidationError("--relay-endpoint and --relay-region describe a --relay: give the --relay too")
        }
        _ = try relayTargets(environment: [:])
        if source == nil && !secret.isEmpty {
            throw ValidationError("--secret names a secret of a --source: give the --source too")
        }
        for entry in secret where !entry.contains("=") || entry.hasPrefix("=") || entry.hasSuffix("=") {
            throw ValidationError("--secret \(entry): write ROLE=REFERENCE, e.g. privateKey=file:/etc/outpost/sf.pem")
        }
    }

    /// The --source option with its --secret options.
    private func preflightSources() -> [Preflight.Source] {
        var secrets: [String: String] = [:]
        for entry in secret {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            secrets[String(parts[0]).trimmingCharacters(in: .whitespaces)] = String(parts[1])
        }
        return source.map { [Preflight.Source(url: $0, secrets: secrets)] } ?? []
    }

    /// The --relay options as relay targets.
    private func relayTargets(environment: [String: String]) throws -> [RelayTarget] {
        try relay.map { location in
            let kind: RelayKind
            var rest: Substring
            var account: String?
            if location.hasPrefix("gs://") {
                kind = .gcs
                rest = location.dropFirst(5)
            } else if location.hasPrefix("s3://") {
                kind = .s3
                rest = location.dropFirst(5)
            } else if location.hasPrefix("azure://") {
                kind = .azureBlob
                rest = location.dropFirst(8)
                account = String(rest.prefix { $0 != "/" })
                rest = rest.dropFirst(account!.count).drop { $0 == "/" }
            } else {
                throw ValidationError(
                    "--relay \(location): write gs://BUCKET[/PREFIX], s3://BUCKET[/PREFIX] or "
                        + "azure://ACCOUNT/CONTAINER[/PREFIX]")
            }
            let bucket = String(rest.prefix { $0 != "/" })
            guard !bucket.isEmpty else { throw ValidationError("--relay \(location) names no bucket or container") }
            let prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
            return RelayTarget(
                kind: kind, bucket: bucket, account: account, prefix: prefix,
                region: kind == .s3 ? relayRegion ?? environment["AWS_REGION"] ?? "us-east-1" : nil,
                endpoint: relayEndpoint)
        }
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        let environment = ProcessInfo.processInfo.environment
        let configuration: AgentConfiguration
        do {
            configuration = try AgentConfiguration.load(file: config, environment: environment)
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(Self.configurationError)
        }
        let json = configuration.observability.logFormat == .json
        let level = Logger.Level(rawValue: configuration.observability.logLevel) ?? .info
        let logger = Logger(label: "outpost.agent") { label in
            LineLogHandler(
                label: label, level: level, secrets: LineLogHandler.Secrets(), json: json, descriptor: STDERR_FILENO)
        }
        if check {
            let passed = await Preflight(
                configuration: configuration, environment: environment, sources: preflightSources(),
                relays: try relayTargets(environment: environment)
            ).run()
            if !passed { throw ExitCode(ExitStatus.failure) }
            return
        }
        let metrics = AgentMetrics()
        let runner: AgentRunner
        do {
            runner = try await Agent.make(
                configuration: configuration, environment: environment, version: OutpostVersion.current,
                jobExecutable: Self.ownExecutable(), metrics: metrics, logger: logger)
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(ExitStatus.failure)
        }
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var received = 0
                for await _ in signals {
                    received += 1
                    if received == 1 {
                        runner.drain()
                    } else {
                        runner.stopNow()
                    }
                }
            }
            if let listen = configuration.observability.listen {
                group.addTask {
                    do {
                        let (host, port) = try Self.parseListen(listen)
                        try await HealthServer(
                            configuration: HealthServerConfiguration(host: host, port: port), metrics: metrics,
                            logger: logger,
                            readiness: {
                                let (ready, reason) = await runner.readiness()
                                return ready ? .ready : .notReady(reason)
                            }
                        ).run()
                    } catch is CancellationError {
                    } catch {
                        logger.error("health.listener_failed", metadata: ["error": "\(error)"])
                    }
                }
            }
            await runner.run()
            group.cancelAll()
        }
    }

    /// `host:port`, `[v6]:port` or `:port` (loopback).
    static func parseListen(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65_535).contains(port)
        else {
            throw AgentError(.invalidConfiguration, "observability.listen must be HOST:PORT, not '\(text)'")
        }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    /// EX_CONFIG from sysexits.h.
    static let configurationError: Int32 = 78

    /// This process's executable, which also runs `outpost run-job`.
    static func ownExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// `outpost run-job`: one job process, started by the agent with its envelope on stdin. Not for people.
struct RunJobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-job",
        abstract: "Run one extraction job (started by `outpost agent`; reads its job envelope from stdin).",
        shouldDisplay: false
    )

    @Option(help: "Read the job envelope from this file instead of stdin (the Argo executor's mounted Secret).")
    var envelope: String?

    func run() async throws {
        let status = await JobMain.run(environment: ProcessInfo.processInfo.environment, envelopeFile: envelope)
        if status != 0 { throw ExitCode(status) }
    }
}
