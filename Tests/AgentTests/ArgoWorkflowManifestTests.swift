import Foundation
import OutpostProtocol
import OutpostTesting
import Testing

@testable import Agent

/// The Workflows the Argo executor submits, checked against Argo's own JSON Schema made strict (unknown fields
/// refused, IntOrString and Quantity typed as the API server reads them).
@Suite("Argo Workflow manifests")
struct ArgoWorkflowManifestTests {
    static let schema = BuildProducts.repositoryRoot + "/../shared/schemas/argo-workflows/schema-v4.1.2.json"
    static let validator = BuildProducts.repositoryRoot + "/Tests/tools/validate_argo_workflow.py"

    static func envelope(runId: String, folder: String) -> JobEnvelope {
        JobEnvelope(
            runId: runId, attempt: 1,
            job: JobSpec(
                connectionId: "c1", connectionName: "shop", sourceKind: "postgres",
                sourceURL: "postgres://db.corp:5432/shop", secrets: ["password": "env:PG_PASSWORD"],
                filters: JobFilters(), delivery: Delivery(mode: .direct)),
            outputDirectory: folder, sealingKey: Data(repeating: 7, count: 32).base64EncodedString(),
            allowedSources: ["postgres://*.corp:5432/*"], allowedHosts: [], excludeFields: [], secretCommands: [:],
            maxDurationSeconds: 600)
    }

    /// Runs the validator on the manifests; returns its report (empty when all are valid) and exit status.
    static func validate(_ manifests: [KubernetesJSON]) throws -> (status: Int32, report: String) {
        let directory = NSTemporaryDirectory() + "argo-manifests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var paths: [String] = []
        for (index, manifest) in manifests.enumerated() {
            let path = directory + "/workflow-\(index).json"
            try Data(try manifest.encoded()).write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }
        let result = try ChildProcess.run("/usr/bin/env", ["python3", validator, schema] + paths)
        return (result.status, result.standardOutput + result.standardError)
    }

    static var minimal: AgentConfiguration.Argo {
        AgentConfiguration.Argo(
            namespace: "outpost", image: "registry.example.com/outpost:1.0", sharedVolumeClaim: "data")
    }

    static var full: AgentConfiguration.Argo {
        var settings = minimal
        settings.serviceAccount = "outpost-job"
        settings.requests = .init(cpu: "500m", memory: "512Mi", ephemeralStorage: "1Gi")
        settings.limits = .init(cpu: "2", memory: "4Gi")
        settings.activeDeadline = .seconds(7200)
        settings.ttlAfterFinished = .seconds(600)
        settings.fsGroup = 65532
        settings.podLabels = [AgentConfiguration.Argo.azureWorkloadIdentityLabel: "true", "team": "data-platform"]
        return settings
    }

    static func manifest(
        _ settings: AgentConfiguration.Argo, runId: String = "01JDRUN0000000000000000001", attempt: Int = 1,
        maxDuration: Int = 3600, environment: [String] = []
    ) throws -> WorkflowManifest {
        try WorkflowManifest(
            settings: settings, runId: runId, attempt: attempt, folder: "/var/lib/outpost/spool/runs/\(runId)/files",
            dataDirectory: "/var/lib/outpost", maxDurationSeconds: maxDuration, environmentNames: environment)
    }

    @Test func everyGeneratedWorkflowIsValidAgainstArgosSchema() throws {
        #expect(FileManager.default.fileExists(atPath: Self.schema), "Argo's schema is missing at \(Self.schema)")
        let manifests = [
            try Self.manifest(Self.minimal).workflow(),
            try Self.manifest(Self.full, environment: ["PG_PASSWORD", "AWS_REGION"]).workflow(),
            try Self.manifest(Self.minimal, runId: "Run_With.Odd/Chars", attempt: 12, maxDuration: 0).workflow(),
            try Self.manifest(Self.full, runId: String(repeating: "r", count: 120), attempt: 3).workflow(),
        ]
        let (status, report) = try Self.validate(manifests)
        #expect(report == "")
        #expect(status == 0)
    }

    @Test func theStrictSchemaCatchesAMisspeltField() throws {
        guard case .object(var workflow) = try Self.manifest(Self.minimal).workflow(),
            case .object(var spec) = workflow["spec"]
        else { throw TestFailure("the Workflow is not an object") }
        spec["activeDeadlineSecond"] = 60
        spec["ttlStrategy"] = ["secondsAfterCompletion": "soon"]
        workflow["spec"] = .object(spec)
        let (status, report) = try Self.validate([.object(workflow)])
        #expect(status == 1)
        #expect(report.contains("activeDeadlineSecond"))
        #expect(report.contains("spec/ttlStrategy/secondsAfterCompletion"))
    }

    @Test func thePodIsLockedDownAndBounded() throws {
        let manifest = try Self.manifest(Self.full, environment: ["PG_PASSWORD"])
        let workflow = manifest.workflow()
        let spec = try #require(workflow["spec"])
        let container = try #require(spec["templates"]?.elements.first?["container"])
        let security = try #require(container["securityContext"])
        #expect(security["readOnlyRootFilesystem"] == true)
        #expect(security["runAsNonRoot"] == true)
        #expect(security["allowPrivilegeEscalation"] == false)
        #expect(security["capabilities"]?["drop"] == ["ALL"])
        #expect(security["seccompProfile"]?["type"] == "RuntimeDefault")
        #expect(spec["securityContext"]?["fsGroup"] == 65532)
        #expect(spec["activeDeadlineSeconds"] == 7200)
        #expect(spec["ttlStrategy"]?["secondsAfterCompletion"] == 600)
        #expect(spec["serviceAccountName"] == "outpost-job")
        #expect(container["resources"]?["limits"]?["memory"] == "4Gi")
        #expect(container["resources"]?["requests"]?["ephemeral-storage"] == "1Gi")
        #expect(workflow["metadata"]?["labels"]?["outpost.run-id"] == "01JDRUN0000000000000000001")
        // The configured labels go on the pods (AKS's webhook reads them there), beside the run's own.
        let podLabels = try #require(spec["podMetadata"]?["labels"])
        #expect(podLabels["azure.workload.identity/use"] == "true")
        #expect(podLabels["team"] == "data-platform")
        #expect(podLabels["outpost.run-id"] == "01JDRUN0000000000000000001")
        #expect(workflow["metadata"]?["labels"]?["team"] == nil)
        #expect(
            container["command"]
                == ["/usr/local/bin/outpost", "run-job", "--envelope", "/var/run/outpost/envelope/envelope.json"])
        let mounts = container["volumeMounts"]?.elements ?? []
        let spool = try #require(mounts.first { $0["name"] == "spool" })
        #expect(spool["mountPath"] == "/var/lib/outpost/spool/runs/01JDRUN0000000000000000001/files")
        #expect(spool["subPath"] == "spool/runs/01JDRUN0000000000000000001/files")
        // Without a configured deadline the run's own maximum (plus a minute to start) bounds the Workflow.
        #expect(try Self.manifest(Self.minimal, maxDuration: 900).workflow()["spec"]?["activeDeadlineSeconds"] == 960)
        #expect(try Self.manifest(Self.minimal, maxDuration: 0).workflow()["spec"]?["activeDeadlineSeconds"] == nil)
    }

    @Test func secretsStayOutOfTheWorkflowAndGoToTheOwnedSecret() throws {
        let manifest = try Self.manifest(Self.full, environment: ["PG_PASSWORD"])
        let envelope = Self.envelope(runId: manifest.runId, folder: manifest.folder)
        let workflowText = String(decoding: try manifest.workflow().encoded(), as: UTF8.self)
        #expect(!workflowText.contains(envelope.sealingKey))
        #expect(!workflowText.contains("s3cr3t-value"))
        #expect(workflowText.contains("\"secretKeyRef\":{\"key\":\"env.PG_PASSWORD\""))
        let secret = try manifest.secret(
            envelope: envelope, environment: ["PG_PASSWORD": "s3cr3t-value", "OTHER": "x"], workflowUID: "uid-1")
        #expect(secret["metadata"]?["ownerReferences"]?.elements.first?["uid"] == "uid-1")
        #expect(secret["metadata"]?["name"] == .string(manifest.name))
        let data = try #require(secret["data"])
        let stored = try #require(Data(base64Encoded: data["envelope.json"]?.string ?? ""))
        #expect(try JSONDecoder().decode(JobEnvelope.self, from: stored) == envelope)
        #expect(data["env.PG_PASSWORD"] == .string(Data("s3cr3t-value".utf8).base64EncodedString()))
        #expect(data["env.OTHER"] == nil)
    }

    @Test func namesAreStableValidAndBounded() throws {
        let odd = try Self.manifest(Self.minimal, runId: "Run_With.Odd/Chars", attempt: 12)
        #expect(odd.name == "outpost-run-with-odd-chars-12")
        let long = try Self.manifest(Self.minimal, runId: String(repeating: "r", count: 120), attempt: 3)
        #expect(long.name.count == 63)
        #expect(
            long.name == (try Self.manifest(Self.minimal, runId: String(repeating: "r", count: 120), attempt: 3)).name)
        #expect(throws: AgentError.self) {
            try WorkflowManifest(
                settings: Self.minimal, runId: "r", attempt: 1, folder: "/elsewhere/r/files",
                dataDirectory: "/var/lib/outpost", maxDurationSeconds: 0, environmentNames: [])
        }
    }

    /// Pods that AKS's webhook gives a workload identity get their own AZURE_* variables, never the agent's.
    @Test func podsWithAzureWorkloadIdentityAreNotHandedTheAgentsAzureVariables() {
        let environment = [
            "PATH": "/bin", "AZURE_CLIENT_ID": "agent-app", "AZURE_TENANT_ID": "t",
            "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token", "PG_PASSWORD": "x",
        ]
        #expect(
            Set(ArgoExecutor.passedEnvironment(environment, settings: Self.minimal).keys)
                == ["AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "PG_PASSWORD"])
        #expect(Set(ArgoExecutor.passedEnvironment(environment, settings: Self.full).keys) == ["PG_PASSWORD"])
    }

    @Test func theArgoExecutorIsConfigured() throws {
        let base = """
            controlPlane:
              url: https://outpost.example.com
              apiKey: file:/var/run/secrets/outpost/api-key
            jobs:
              executor: argo
              argo:
                namespace: outpost-jobs
                image: registry.example.com/outpost:1.0
                sharedVolumeClaim: outpost-data
                serviceAccount: outpost-job
                resources:
                  requests: {cpu: 500m, memory: 1Gi}
                  limits: {cpu: "2", memory: 4Gi, ephemeralStorage: 2Gi}
                activeDeadline: 2h
                ttlAfterFinished: 30m
                fsGroup: 65532
            """
        let configuration = try AgentConfiguration.parse(base, file: "agent.yaml", environment: [:])
        #expect(configuration.jobs.executor == .argo)
        let argo = try #require(configuration.jobs.argo)
        #expect(argo.namespace == "outpost-jobs")
        #expect(argo.requests == .init(cpu: "500m", memory: "1Gi"))
        #expect(argo.limits == .init(cpu: "2", memory: "4Gi", ephemeralStorage: "2Gi"))
        #expect(argo.activeDeadline == .seconds(7200))
        #expect(argo.ttlAfterFinished == .seconds(1800))
        #expect(argo.kubeconfig == nil)
        func failure(_ text: String) -> String {
            do {
                _ = try AgentConfiguration.parse(text, file: "agent.yaml", environment: [:])
                return "no error"
            } catch { return "\(error)" }
        }
        #expect(failure(base.replacingOccurrences(of: "memory: 4Gi", with: "memory: 4 GB")).contains("quantity"))
        #expect(
            failure(base.replacingOccurrences(of: "executor: argo", with: "executor: k8s")).contains("local or argo"))
        #expect(
            failure(base.replacingOccurrences(of: "outpost-jobs", with: "Outpost_Jobs")).contains("Kubernetes name"))
        #expect(
            failure(base.replacingOccurrences(of: "    sharedVolumeClaim: outpost-data\n", with: ""))
                .contains("sharedVolumeClaim"))
        #expect(failure(base.replacingOccurrences(of: "fsGroup", with: "fsGroupp")).contains("fsGroupp"))
        #expect(failure(base.replacingOccurrences(of: "500m", with: "half")).contains("requests.cpu"))
        // Switched back to local, the kept argo section is not read.
        let local = try AgentConfiguration.parse(
            base.replacingOccurrences(of: "executor: argo", with: "executor: local"), file: "agent.yaml",
            environment: [:])
        #expect(local.jobs.executor == .local)
        #expect(local.jobs.argo == nil)
        // The environment overrides like every other key.
        let overridden = try AgentConfiguration.parse(
            base, file: "agent.yaml", environment: ["OUTPOST_JOBS_ARGO_NAMESPACE": "other"])
        #expect(overridden.jobs.argo?.namespace == "other")
        // Pod labels: AKS's workload identity label and labels of the user's own; the agent's are not theirs to set.
        let labelled = try AgentConfiguration.parse(
            base + "\n    podLabels:\n      azure.workload.identity/use: \"true\"\n      team: data\n",
            file: "agent.yaml",
            environment: [:])
        #expect(labelled.jobs.argo?.podLabels == ["azure.workload.identity/use": "true", "team": "data"])
        #expect(labelled.jobs.argo?.podsHaveAzureWorkloadIdentity == true)
        for (labels, message) in [
            ("      outpost.run-id: x\n", "the agent's own"), ("      Bad Label: x\n", "not a Kubernetes label name"),
            ("      team: \"not valid!\"\n", "not a label value"), ("      team: [a]\n", "single values"),
        ] {
            #expect(failure(base + "\n    podLabels:\n" + labels).contains(message), "\(labels)")
        }
    }
}
