import Agent
import ControlPlane
import ControlPlaneStorage
import Foundation
import OutpostProtocol
import OutpostTesting
import Synchronization
import Testing

/// Whole runs of an in-process agent with `jobs.executor: argo`, against the real control plane and a FAKE
/// Kubernetes API (`FakeKubernetesAPI`) that plays Argo by running the real `outpost run-job`.
@Suite("Agent runs through the Argo executor", .serialized)
struct ArgoAgentRunTests {
    /// The agent's setup with the Argo executor and a kubeconfig pointing at `fake`.
    static func setup(_ controlPlane: TestControlPlane, fake: FakeKubernetesAPI) throws -> AgentSetup {
        var setup = try AgentSetup(controlPlane: controlPlane)
        let kubeconfig = setup.directory.path + "/kubeconfig"
        try Data(
            """
            apiVersion: v1
            kind: Config
            current-context: test
            contexts:
              - name: test
                context: {cluster: fake, user: agent}
            clusters:
              - name: fake
                cluster: {server: "\(fake.url)"}
            users:
              - name: agent
                user: {token: agent-token}
            """.utf8
        ).write(to: URL(fileURLWithPath: kubeconfig))
        setup.yaml = setup.yaml.replacingOccurrences(
            of: "  killGrace: 2s\n",
            with: """
                  killGrace: 2s
                  executor: argo
                  argo:
                    namespace: outpost
                    image: registry.example.com/outpost:test
                    sharedVolumeClaim: outpost-data
                    kubeconfig: \(kubeconfig)

                """)
        return setup
    }

    @Test func aRunThroughArgoDeliversTheSampleCatalogAndRemovesItsWorkflow() async throws {
        let fake = try await FakeKubernetesAPI(token: "agent-token", runJobs: true)
        try await withControlPlane { controlPlane in
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: sampleDatabaseURL))
            let queued = try await controlPlane.runNow(connection.id)
            let setup = try Self.setup(controlPlane, fake: fake)
            try await withAgent(setup) { _ in
                let run = try await controlPlane.finished(queued.id)
                #expect(run.status == .succeeded, "\(run.error ?? "")")
            }
            let log = try await controlPlane.log(queued.id)
            #expect(log.contains("job.extracted"))
            let assets = try await controlPlane.store.searchAssets(
                tenantId: controlPlane.tenant.id, text: "customers", kind: nil, connectionId: connection.id, limit: 10)
            #expect(assets.contains { $0.name == "customers" })
            #expect(
                fake.requests.contains { $0.method == "POST" && $0.path.hasSuffix("/workflows") && $0.status == 201 })
            #expect(fake.state.withLock { $0.workflows.isEmpty }, "the finished Workflow was not deleted")
            #expect(try FileManager.default.contentsOfDirectory(atPath: setup.dataDirectory + "/spool/runs").isEmpty)
        }
        await fake.stop()
    }

    @Test func cancellingFromTheControlPlaneDeletesTheWorkflowInTheForeground() async throws {
        let listener = try RecordingListener()
        let fake = try await FakeKubernetesAPI(token: "agent-token", runJobs: true)
        try await withControlPlane { controlPlane in
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "hanging", sourceKind: "postgresql",
                    sourceURL: "postgres://reader@127.0.0.1:\(listener.port)/sales"))
            let queued = try await controlPlane.runNow(connection.id)
            let setup = try Self.setup(controlPlane, fake: fake)
            try await withAgent(setup) { _ in
                _ = try await controlPlane.waitFor(queued.id) { $0.status == .running }
                let deadline = ContinuousClock.now + .seconds(20)
                while listener.connections == 0 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(listener.connections > 0, "the job never reached its source")
                try await controlPlane.cancel(queued.id)
                let run = try await controlPlane.finished(queued.id)
                #expect(run.status == .cancelled)
            }
            let deletions = fake.state.withLock { $0.deleteOptions }
            #expect(deletions.first?["propagationPolicy"] == "Foreground")
            #expect(fake.state.withLock { $0.workflows.isEmpty && $0.processes.isEmpty })
        }
        await fake.stop()
    }
}
