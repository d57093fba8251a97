internal import Foundation
public import Logging
internal import OutpostProtocol

#if canImport(Glibc)
    internal import Glibc
#endif

/// Runs each job as an Argo Workflow: one pod running `outpost run-job` with the envelope mounted from a
/// per-run Secret and the run's spool folder mounted from the PersistentVolumeClaim the agent keeps its data
/// directory on. The pod's log becomes the run's log, the Workflow's end the job's end, and the sealed
/// `result.json` the pod leaves in the shared folder is read exactly as after a local job.
public final class ArgoExecutor: Sendable {
    let client: KubernetesClient
    let settings: AgentConfiguration.Argo
    let dataDirectory: String
    let logger: Logger
    /// How often pods are looked for while the job's container has not started.
    let pollInterval: Duration

    /// - Parameter client: the cluster's API; `shutdown()` closes it.
    public init(
        client: KubernetesClient, settings: AgentConfiguration.Argo, dataDirectory: String, logger: Logger,
        pollInterval: Duration = .seconds(1)
    ) {
        self.client = client
        self.settings = settings
        self.dataDirectory = dataDirectory
        self.logger = logger
        self.pollInterval = pollInterval
    }

    /// The executor for `settings`: the kubeconfig's cluster when one is given, else the pod's own.
    public static func make(
        settings: AgentConfiguration.Argo, dataDirectory: String, environment: [String: String], logger: Logger
    ) throws -> ArgoExecutor {
        let client: KubernetesClient
        do {
            client =
                try settings.kubeconfig.map { try KubernetesClient.kubeconfig(path: $0) }
                ?? KubernetesClient.inCluster(environment: environment)
        } catch let error as AgentError {
            throw AgentError(error.code, "jobs.argo: \(error.message)")
        }
        return ArgoExecutor(client: client, settings: settings, dataDirectory: dataDirectory, logger: logger)
    }

    /// Closes the connections to the API server.
    public func shutdown() async {
        try? await client.shutdown()
    }

    /// What of a job's environment goes to its pod: the allow-listed variables but PATH, HOME and TMPDIR (the pod
    /// has its own), and, when AKS's webhook gives the pods a workload identity (`jobs.argo.podLabels`), not the
    /// agent's AZURE_* variables either: the pod gets its own, with its own token file.
    static func passedEnvironment(
        _ environment: [String: String], settings: AgentConfiguration.Argo
    ) -> [String: String] {
        var own: Set<String> = ["PATH", "HOME", "TMPDIR"]
        if settings.podsHaveAzureWorkloadIdentity {
            own.formUnion(["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST"])
        }
        return environment.filter { !own.contains($0.key) }
    }

    /// Submits the run's Workflow and its Secret and returns the running job.
    ///
    /// A Workflow of the same name is what an earlier agent process left of this run and attempt: a resumed
    /// extraction starts over, so it is deleted (with its pod) and the spool folder emptied before submitting.
    func submit(envelope: JobEnvelope, environment: [String: String]) async throws -> ArgoJob {
        let environment = Self.passedEnvironment(environment, settings: settings)
        let manifest = try WorkflowManifest(
            settings: settings, runId: envelope.runId, attempt: envelope.attempt, folder: envelope.outputDirectory,
            dataDirectory: dataDirectory, maxDurationSeconds: envelope.maxDurationSeconds,
            environmentNames: Array(environment.keys))
        let namespace = settings.namespace
        var created = try await client.createWorkflow(namespace: namespace, manifest.workflow())
        if created == .alreadyExists {
            logger.notice("argo.workflow_replaced", metadata: ["workflow": "\(manifest.name)"])
            try await client.deleteWorkflow(namespace: namespace, name: manifest.name, foreground: true)
            try await waitUntilGone(manifest.name)
            let folder = envelope.outputDirectory
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                try? FileManager.default.removeItem(atPath: folder + "/" + name)
            }
            created = try await client.createWorkflow(namespace: namespace, manifest.workflow())
        }
        guard case .created(let workflow) = created, let uid = workflow["metadata"]?["uid"]?.string else {
            throw AgentError(.job, "the Workflow \(manifest.name) could not be created: one of that name remains")
        }
        do {
            let secret = try manifest.secret(envelope: envelope, environment: environment, workflowUID: uid)
            if try await client.createSecret(namespace: namespace, secret) == .alreadyExists {
                throw AgentError(.job, "the Secret \(manifest.name) exists already and belongs to another Workflow")
            }
        } catch {
            _ = try? await client.deleteWorkflow(namespace: namespace, name: manifest.name, foreground: false)
            throw error
        }
        logger.info("argo.workflow_submitted", metadata: ["workflow": "\(manifest.name)", "namespace": "\(namespace)"])
        return ArgoJob(executor: self, name: manifest.name)
    }

    private func waitUntilGone(_ name: String) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while try await client.workflow(namespace: settings.namespace, name: name) != nil {
            guard ContinuousClock.now < deadline else {
                throw AgentError(.job, "the earlier Workflow \(name) was not deleted within two minutes")
            }
            try await Task.sleep(for: pollInterval)
        }
    }
}

extension ArgoExecutor: JobExecutor {
    func start(
        envelope: JobEnvelope, environment: [String: String], workDirectory: String
    ) async throws
        -> any RunningJob
    {
        try await submit(envelope: envelope, environment: environment)
    }
}

/// One run's Workflow, followed from submission to its end.
final class ArgoJob: RunningJob {
    let executor: ArgoExecutor
    let name: String
    private let watcher: Task<JobProcess.Termination, Never>
    private let ended = MutexBox(false)

    var label: String { "workflow \(name)" }

    init(executor: ArgoExecutor, name: String) {
        self.executor = executor
        self.name = name
        let ended = self.ended
        self.watcher = Task {
            let termination = await Self.follow(executor: executor, name: name)
            ended.withLock { $0 = true }
            return termination
        }
    }

    deinit { watcher.cancel() }

    /// Watches the Workflow until it ends or is deleted; retries a broken watch; cancelled, it reports SIGKILL.
    private static func follow(executor: ArgoExecutor, name: String) async -> JobProcess.Termination {
        while !Task.isCancelled {
            do {
                for try await event in executor.client.watchWorkflow(namespace: executor.settings.namespace, name: name)
                {
                    switch event {
                    case .deleted:
                        return .signalled(SIGTERM)
                    case .changed(let workflow):
                        if let termination = termination(of: workflow) {
                            executor.logger.info(
                                "argo.workflow_ended",
                                metadata: [
                                    "workflow": "\(name)",
                                    "argo.phase": "\(workflow["status"]?["phase"]?.string ?? "")",
                                    "argo.message": "\(workflow["status"]?["message"]?.string ?? "")",
                                ])
                            return termination
                        }
                    }
                }
            } catch {
                executor.logger.notice("argo.watch_failed", metadata: ["workflow": "\(name)", "error": "\(error)"])
            }
            try? await Task.sleep(for: executor.pollInterval)
        }
        return .signalled(SIGKILL)
    }

    /// How a finished Workflow's job ended: the pod's exit code when Argo recorded one, else — a deadline, a
    /// pod that never started — a kill. Nil while it runs.
    static func termination(of workflow: KubernetesJSON) -> JobProcess.Termination? {
        let phase = workflow["status"]?["phase"]?.string
        guard phase == "Succeeded" || phase == "Failed" || phase == "Error" else { return nil }
        var nodes: [KubernetesJSON] = []
        if case .object(let members)? = workflow["status"]?["nodes"] { nodes = Array(members.values) }
        let pod = nodes.first { $0["type"]?.string == "Pod" }
        if let code = pod?["outputs"]?["exitCode"]?.integer, let status = Int32(exactly: code) {
            return .exited(status)
        }
        return phase == "Succeeded" ? .exited(JobMain.exitSucceeded) : .signalled(SIGKILL)
    }

    /// The log of the Workflow's pod (container `main`), from when it starts until it ends.
    func output() -> AsyncStream<[UInt8]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        let executor = self.executor
        let name = self.name
        let ended = self.ended
        let task = Task {
            await Self.streamLog(executor: executor, name: name, ended: ended) { continuation.yield($0) }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private static func streamLog(
        executor: ArgoExecutor, name: String, ended: MutexBox<Bool>, yield: @Sendable ([UInt8]) -> Void
    ) async {
        let namespace = executor.settings.namespace
        while !Task.isCancelled {
            let finished = ended.value
            let pods =
                (try? await executor.client.pods(
                    namespace: namespace, labelSelector: "\(WorkflowManifest.workflowLabel)=\(name)")) ?? []
            let started = pods.first {
                ["Running", "Succeeded", "Failed"].contains($0["status"]?["phase"]?.string ?? "")
            }
            if let pod = started?["metadata"]?["name"]?.string {
                var received = false
                do {
                    let log = try await executor.client.followLog(
                        namespace: namespace, pod: pod, container: "main", timeout: .seconds(7 * 86_400))
                    for try await chunk in log {
                        received = true
                        yield(chunk)
                    }
                    return
                } catch let error as AgentError where error.status == 400 && !received {
                    // The container is still being created; look again shortly.
                } catch {
                    if received {
                        yield(Array("\n[outpost] the job's log broke off: \(error)\n".utf8))
                        return
                    }
                    executor.logger.notice("argo.log_failed", metadata: ["pod": "\(pod)", "error": "\(error)"])
                }
            } else if finished {
                return
            }
            try? await Task.sleep(for: executor.pollInterval)
        }
    }

    func wait() async -> JobProcess.Termination {
        await watcher.value
    }

    /// Deletes the Workflow (foreground: its pod goes first) and waits, at most `grace` plus half a minute, to
    /// see it gone; then stops following it.
    func stop(grace: Duration) async {
        let deadline = ContinuousClock.now + grace + .seconds(30)
        while ContinuousClock.now < deadline {
            do {
                try await executor.client.deleteWorkflow(
                    namespace: executor.settings.namespace, name: name, foreground: true)
                break
            } catch {
                executor.logger.warning("argo.delete_failed", metadata: ["workflow": "\(name)", "error": "\(error)"])
                try? await Task.sleep(for: executor.pollInterval)
            }
        }
        let watcher = self.watcher
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = await watcher.value }
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            await group.next()
            group.cancelAll()
            watcher.cancel()
        }
    }

    /// Deletes the finished Workflow now rather than at its TTL; its Secret and pod go with it.
    func release() async {
        do {
            try await executor.client.deleteWorkflow(
                namespace: executor.settings.namespace, name: name, foreground: false)
        } catch {
            executor.logger.notice(
                "argo.cleanup_deferred",
                metadata: ["workflow": "\(name)", "error": "\(error)", "reason": "the Workflow's TTL will remove it"])
        }
    }
}
