internal import Foundation
internal import Logging
internal import Metadata
internal import OutpostProtocol
internal import Secrets

/// What every part of a running agent shares: configuration, identity, the control-plane client, the spool,
/// the audit ledger and metrics. Built once by `Agent.make`.
struct AgentContext: Sendable {
    let configuration: AgentConfiguration
    let agentId: String
    let version: String
    let client: ControlPlaneClient
    let network: OutboundNetwork
    let spool: Spool
    let spoolKey: [UInt8]
    let audit: AuditLedger
    let metrics: AgentMetrics?
    /// The `outpost` binary that runs `outpost run-job`.
    let jobExecutable: String
    /// The agent's own environment, from which job environments are filtered.
    let environment: [String: String]
    let limits: JobProcess.Limits
    /// Masks the agent's own secrets (its API key) in job output.
    let redactor: Redactor
    /// The relay credentials of the configuration, read with the agent's own resolver.
    let relayCredentials: RelayDelivery.Credentials
    let logger: Logger
    /// Runs jobs as Argo Workflows when `jobs.executor` is `argo`; nil runs them as local processes.
    var argo: ArgoExecutor? = nil
    /// Approves a job's source outside the configured policy (the quickstart); nil approves nothing.
    var localApprover: LocalSourceApprover? = nil
    /// The one-session credentials (Tableau tokens) runs take turns with.
    let sessionCredentials = SessionCredentials()

    /// Delivers a run's spooled files as its job spec says; returns where relay delivery put them.
    func delivery(
        for assignment: RunAssignment, tracker: RunTracker, folder: String, logger: Logger
    ) async throws -> CompleteRequest.RelayObjects? {
        switch assignment.job.delivery.mode {
        case .direct:
            try await DirectDelivery(
                client: client, network: network, tracker: tracker, folder: folder, key: spoolKey,
                allowedHosts: configuration.policy.allowedHosts, logger: logger
            ).deliver()
            return nil
        case .relay:
            guard let target = assignment.job.delivery.relay else {
                throw AgentError(.delivery, "the job asks for bucket relay but names no bucket")
            }
            return try await RelayDelivery(
                target: target, network: network, policy: configuration.policy, environment: environment,
                controlPlaneHost: client.host, folder: folder, key: spoolKey, credentials: relayCredentials,
                logger: logger
            ).deliver(runId: assignment.runId, connectionId: assignment.job.connectionId)
        }
    }

    /// Appends the run's audit entry: what was read, what left, where to, how it ended.
    func record(state: RunState, outcome: AuditEntry.Outcome, error: String?) {
        let assignment = state.assignment
        let folder = try? spool.filesDirectory(runId: assignment.runId)
        let files =
            folder.flatMap { try? DirectDelivery.items(folder: $0, key: spoolKey) }?.map {
                AuditEntry.File(name: $0.file.path, bytes: $0.file.bytes, sha256: $0.file.sha256)
            } ?? []
        let destination: AuditEntry.Destination? =
            switch assignment.job.delivery.mode {
            case .direct: files.isEmpty ? nil : .direct(host: client.host)
            case .relay:
                state.relay.map { .relay(bucket: $0.bucket, keys: $0.objects.map(\.key)) }
            }
        let denied = state.denied == true
        let entry = AuditEntry(
            runId: assignment.runId, connectionId: assignment.job.connectionId,
            connectionName: assignment.job.connectionName, source: state.source ?? assignment.job.sourceURL,
            policy: state.policy.map { .init(allowed: !denied, rule: denied ? nil : $0, reason: denied ? $0 : nil) },
            files: outcome == .succeeded || outcome == .partial ? files : [], destination: destination,
            startedAt: state.startedAt, finishedAt: Timestamps.now(), outcome: denied ? .denied : outcome,
            error: error)
        do {
            try audit.append(entry)
        } catch {
            logger.error("audit.append_failed", metadata: ["run.id": "\(assignment.runId)", "error": "\(error)"])
        }
    }
}
