import Foundation
import Logging
import Metadata
import OutpostProtocol
import OutpostTesting
import Testing

@testable import Agent

/// The Kubernetes client and the Argo executor against a FAKE API server on loopback (`FakeKubernetesAPI`) that
/// answers with the Kubernetes and Argo APIs' request and response shapes.
@Suite("Argo executor against a fake Kubernetes API")
struct ArgoKubernetesClientTests {
    static var settings: AgentConfiguration.Argo {
        AgentConfiguration.Argo(
            namespace: "outpost", image: "registry.example.com/outpost:1.0", sharedVolumeClaim: "data")
    }

    static func workflow(_ runId: String) throws -> KubernetesJSON {
        try WorkflowManifest(
            settings: settings, runId: runId, attempt: 1, folder: "/data/spool/runs/\(runId)/files",
            dataDirectory: "/data", maxDurationSeconds: 60, environmentNames: []
        ).workflow()
    }

    @Test func createConflictGetAndDeleteUseTheAPIsAnswers() async throws {
        let fake = try await FakeKubernetesAPI(token: "token-a")
        let client = try KubernetesClient(server: fake.url, credentials: .token("token-a"))
        defer { Task { try? await client.shutdown() } }
        let workflow = try Self.workflow("run-1")
        guard case .created(let stored) = try await client.createWorkflow(namespace: "outpost", workflow) else {
            throw TestFailure("the first create did not create")
        }
        let uid = try #require(stored["metadata"]?["uid"]?.string)
        #expect(try await client.createWorkflow(namespace: "outpost", workflow) == .alreadyExists)
        #expect(
            try await client.workflow(namespace: "outpost", name: "outpost-run-1-1")?["metadata"]?["uid"]?.string == uid
        )
        #expect(try await client.workflow(namespace: "outpost", name: "outpost-none-1") == nil)
        #expect(try await client.deleteWorkflow(namespace: "outpost", name: "outpost-run-1-1", foreground: true))
        #expect(try await !client.deleteWorkflow(namespace: "outpost", name: "outpost-run-1-1", foreground: true))
        #expect(
            fake.requests.map(\.status) == [201, 409, 200, 404, 200, 404],
            "the fake saw \(fake.requests)")
        await fake.stop()
    }

    @Test func aWatchFollowsChangesAndRelistsAfter410Gone() async throws {
        let fake = try await FakeKubernetesAPI(token: "token-a")
        let client = try KubernetesClient(server: fake.url, credentials: .token("token-a"))
        defer { Task { try? await client.shutdown() } }
        _ = try await client.createWorkflow(namespace: "outpost", try Self.workflow("run-2"))
        let name = "outpost-run-2-1"
        let seen = MutexBox<[String]>([])
        let watcher = Task {
            for try await event in client.watchWorkflow(namespace: "outpost", name: name) {
                switch event {
                case .changed(let workflow):
                    seen.withLock { $0.append(workflow["status"]?["phase"]?.string ?? "?") }
                case .deleted:
                    seen.withLock { $0.append("deleted") }
                }
            }
        }
        func until(_ what: String, _ condition: @escaping () -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while !condition() {
                guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let watches = { fake.requests.filter { $0.path.contains("watch=true") } }
        try await until("the first watch") { !watches().isEmpty && seen.value == ["Pending"] }
        fake.update(name, status: ["phase": "Running"])
        try await until("Running") { seen.value.last == "Running" }
        // The API server compacted its history: the open watch gets an ERROR event with a 410 Expired Status.
        fake.compactHistory()
        try await until("a second watch") { watches().count == 2 }
        fake.update(name, status: ["phase": "Succeeded"])
        try await until("Succeeded") { seen.value.last == "Succeeded" }
        _ = try await client.deleteWorkflow(namespace: "outpost", name: name, foreground: false)
        try await watcher.value
        #expect(seen.value == ["Pending", "Running", "Running", "Succeeded", "deleted"])
        let lists = fake.requests.filter { $0.method == "GET" && !$0.path.contains("watch=true") }
        #expect(lists.count == 2, "a 410 is followed by a fresh list: \(fake.requests)")
        // The second watch starts at the second list's version, not the expired one.
        let versions = watches().compactMap {
            URLComponents(string: $0.path)?.queryItems?.first { $0.name == "resourceVersion" }?.value
        }
        #expect(versions.count == 2 && versions[0] != versions[1])
        await fake.stop()
    }

    @Test func aRotatedTokenIsReadAgainAfterA401() async throws {
        let directory = NSTemporaryDirectory() + "k8s-token-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tokenFile = directory + "/token"
        try Data("token-1\n".utf8).write(to: URL(fileURLWithPath: tokenFile))
        let fake = try await FakeKubernetesAPI(token: "token-1", tokenFile: tokenFile)
        let client = try KubernetesClient(server: fake.url, credentials: .tokenFile(tokenFile))
        let fixed = try KubernetesClient(server: fake.url, credentials: .token("token-1"))
        defer {
            Task {
                try? await client.shutdown()
                try? await fixed.shutdown()
            }
        }
        #expect(try await client.workflow(namespace: "outpost", name: "missing") == nil)
        // The projected token expires: the server refuses token-1, and the kubelet writes token-2 into the file.
        fake.rotateToken(to: "token-2")
        #expect(try await client.workflow(namespace: "outpost", name: "missing") == nil)
        #expect(fake.requests.map(\.status) == [404, 401, 404])
        // A fixed token has nothing to re-read: the 401 is an error, which never shows the token.
        do {
            _ = try await fixed.workflow(namespace: "outpost", name: "missing")
            Issue.record("a refused token was not reported")
        } catch let error as AgentError {
            #expect(error.status == 401)
            #expect(!error.message.contains("token-1"))
        }
        await fake.stop()
    }

    @Test func aPodsLogIsFollowedToItsEnd() async throws {
        let fake = try await FakeKubernetesAPI(token: "t")
        let client = try KubernetesClient(server: fake.url, credentials: .token("t"))
        defer { Task { try? await client.shutdown() } }
        fake.addPod("wf-pod", workflow: "wf", phase: "Pending")
        do {
            _ = try await client.followLog(
                namespace: "outpost", pod: "wf-pod", container: "main", timeout: .seconds(10))
            Issue.record("a pending pod's log was served")
        } catch let error as AgentError {
            #expect(error.status == 400)
            #expect(error.message.contains("ContainerCreating"))
        }
        fake.addPod("wf-pod", workflow: "wf", phase: "Running", log: Array("first line\n".utf8), finished: false)
        #expect(
            try await client.pods(namespace: "outpost", labelSelector: "workflows.argoproj.io/workflow=wf").count == 1)
        #expect(
            try await client.pods(namespace: "outpost", labelSelector: "workflows.argoproj.io/workflow=other").isEmpty)
        let reader = Task {
            var bytes: [UInt8] = []
            for try await chunk in try await client.followLog(
                namespace: "outpost", pod: "wf-pod", container: "main", timeout: .seconds(10))
            {
                bytes += chunk
            }
            return bytes
        }
        try await Task.sleep(for: .milliseconds(200))
        fake.appendLog("wf-pod", Array("second line\n".utf8), finished: true)
        #expect(String(decoding: try await reader.value, as: UTF8.self) == "first line\nsecond line\n")
        await fake.stop()
    }

    /// A whole job through the ArgoExecutor: the fake plays Argo by running the real `outpost run-job` with the
    /// envelope from the run's Secret; the outcome, files and log equal a local job's on the same envelope.
    @Test func aJobRunThroughArgoEndsAsALocalJobDoes() async throws {
        let fake = try await FakeKubernetesAPI(token: "t", runJobs: true)
        let client = try KubernetesClient(server: fake.url, credentials: .token("t"))
        let dataDirectory = NSTemporaryDirectory() + "argo-data-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let key = [UInt8](repeating: 9, count: 32)
        func envelope(_ runId: String) throws -> JobEnvelope {
            let folder = dataDirectory + "/spool/runs/\(runId)/files"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let root = BuildProducts.repositoryRoot
            return JobEnvelope(
                runId: runId, attempt: 1,
                job: JobSpec(
                    connectionId: "c1", connectionName: "shop", sourceKind: "sqlite",
                    sourceURL: "sqlite:\(root)/Samples/shop.db", secrets: [:], filters: JobFilters(),
                    delivery: Delivery(mode: .direct)),
                outputDirectory: folder, sealingKey: Data(key).base64EncodedString(),
                allowedSources: ["sqlite:\(root)/Samples/*"], allowedHosts: [], excludeFields: [], secretCommands: [:],
                maxDurationSeconds: 60)
        }
        var logger = Logger(label: "argo-test")
        logger.logLevel = .warning
        let executor = ArgoExecutor(
            client: client, settings: Self.settings, dataDirectory: dataDirectory, logger: logger,
            pollInterval: .milliseconds(50))
        defer { Task { await executor.shutdown() } }

        func run(_ executor: any JobExecutor, _ envelope: JobEnvelope) async throws -> (String, JobProcess.Termination)
        {
            let job = try await executor.start(
                envelope: envelope, environment: ["PATH": "/usr/bin:/bin"], workDirectory: dataDirectory)
            var log: [UInt8] = []
            for await chunk in job.output() { log += chunk }
            let termination = await job.wait()
            await job.release()
            return (String(decoding: log, as: UTF8.self), termination)
        }
        let argoEnvelope = try envelope("argo-run")
        // What an agent that died mid-run left: its Workflow, and a file in the run's folder.
        _ = try await client.createWorkflow(namespace: "outpost", try Self.workflow("argo-run"))
        let stale = argoEnvelope.outputDirectory + "/chunk-stale.jsonl"
        try Data("stale".utf8).write(to: URL(fileURLWithPath: stale))
        let (argoLog, argoTermination) = try await run(executor, argoEnvelope)
        let localEnvelope = try envelope("local-run")
        let local = LocalJobExecutor(
            executable: BuildProducts.outpost, arguments: ["run-job"],
            limits: .init(addressSpaceBytes: nil, cpuSeconds: nil, openFiles: nil, fileSizeBytes: nil))
        let (localLog, localTermination) = try await run(local, localEnvelope)

        #expect(argoTermination == .exited(JobMain.exitSucceeded))
        #expect(argoTermination == localTermination)
        func result(_ envelope: JobEnvelope) throws -> JobResult {
            try JSONDecoder().decode(
                JobResult.self,
                from: Data(
                    try SealedFile.readAll(
                        path: envelope.outputDirectory + "/" + JobResult.fileName, key: key, limit: 1 << 20)))
        }
        let argoResult = try result(argoEnvelope)
        #expect(argoResult.outcome == .succeeded)
        #expect(argoResult.records > 0)
        #expect(argoResult == (try result(localEnvelope)))
        let files = { (envelope: JobEnvelope) in
            try FileManager.default.contentsOfDirectory(atPath: envelope.outputDirectory).sorted()
        }
        #expect(try files(argoEnvelope) == (try files(localEnvelope)))
        #expect(argoLog.contains("job.extracted") && localLog.contains("job.extracted"))
        // Released: the Workflow (and with it its Secret and pod) is gone.
        #expect(try await client.workflow(namespace: "outpost", name: "outpost-argo-run-1") == nil)
        #expect(fake.requests.contains { $0.method == "POST" && $0.path.hasSuffix("/secrets") && $0.status == 201 })
        // The leftover Workflow was replaced, not adopted: 409, deleted, gone, created afresh; the folder emptied.
        let workflowCalls = fake.requests.filter {
            $0.path.contains("/workflows/outpost-argo-run-1")
                || ($0.method == "POST" && $0.path.hasSuffix("/workflows"))
        }
        #expect(
            workflowCalls.prefix(5).map { "\($0.method) \($0.status)" } == [
                "POST 201", "POST 409", "DELETE 200", "GET 404", "POST 201",
            ])
        #expect(!FileManager.default.fileExists(atPath: stale))
        await fake.stop()
    }
}
