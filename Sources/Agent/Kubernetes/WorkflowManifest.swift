internal import Foundation
public import OutpostProtocol

/// The Kubernetes objects one run becomes under the Argo executor: a Workflow with one container template
/// running `outpost run-job`, and a Secret holding the job envelope (it carries the spool key) and the values of
/// the passed environment variables.
///
/// Nothing secret is in the Workflow itself: the envelope reaches the pod as a file mounted from the Secret, the
/// environment through `secretKeyRef`s. The pod writes its sealed files into the run's spool folder on the
/// PersistentVolumeClaim it shares with the agent, exactly where a local job process would.
public struct WorkflowManifest: Sendable {
    /// The run's Secret key holding the envelope, and where the pod finds it.
    public static let envelopeKey = "envelope.json"
    public static let envelopeDirectory = "/var/run/outpost/envelope"
    /// The label every object of a run carries.
    public static let runLabel = "outpost.run-id"
    /// The label Argo puts on a Workflow's pods.
    public static let workflowLabel = "workflows.argoproj.io/workflow"

    public let settings: AgentConfiguration.Argo
    public let runId: String
    public let attempt: Int
    /// The run's spool folder: an absolute path in the agent, and the same path in the pod.
    public let folder: String
    /// The folder relative to the shared volume's root (the agent's data directory).
    public let subPath: String
    /// The run's maximum duration in seconds; 0 is none.
    public let maxDurationSeconds: Int
    /// Names of the environment variables handed to the job; their values live in the Secret.
    public let environmentNames: [String]

    /// - Throws: `AgentError(.job)` when the folder is not inside the data directory.
    public init(
        settings: AgentConfiguration.Argo, runId: String, attempt: Int, folder: String, dataDirectory: String,
        maxDurationSeconds: Int, environmentNames: [String]
    ) throws {
        let root = dataDirectory.hasSuffix("/") ? dataDirectory : dataDirectory + "/"
        guard folder.hasPrefix(root), !folder.dropFirst(root.count).split(separator: "/").contains("..") else {
            throw AgentError(.job, "the run's folder \(folder) is not inside the agent's data directory \(root)")
        }
        self.settings = settings
        self.runId = runId
        self.attempt = attempt
        self.folder = folder
        self.subPath = String(folder.dropFirst(root.count))
        self.maxDurationSeconds = maxDurationSeconds
        self.environmentNames = environmentNames.sorted()
    }

    /// `outpost-<run id>-<attempt>`, lower-cased, only letters, digits and '-', at most 63 characters (the
    /// name is also a label value): the same run and attempt always gives the same name.
    public var name: String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        let cleaned = String(runId.lowercased().map { allowed.contains($0) ? $0 : "-" })
        let suffix = "-\(attempt)"
        return "outpost-" + String(cleaned.prefix(63 - 8 - suffix.count)) + suffix
    }

    /// The run id as a label value (at most 63 characters of letters, digits, '-', '_' and '.').
    var runLabelValue: String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        let cleaned = String(runId.map { allowed.contains($0) ? $0 : "_" }.prefix(63))
        return cleaned.trimmingCharacters(in: CharacterSet(charactersIn: "-_."))
    }

    private var labels: KubernetesJSON {
        [
            Self.runLabel: .string(runLabelValue), "app.kubernetes.io/managed-by": "outpost-agent",
            "app.kubernetes.io/name": "outpost-job",
        ]
    }

    /// The pods' labels: the run's, with `jobs.argo.podLabels` added (which may not replace them).
    private var podLabels: KubernetesJSON {
        guard case .object(var merged) = labels else { return labels }
        for (name, value) in settings.podLabels where merged[name] == nil { merged[name] = .string(value) }
        return .object(merged)
    }

    /// The deadline: the configured one, else the run's maximum duration plus a minute for the pod to start.
    public var activeDeadlineSeconds: Int64? {
        if let deadline = settings.activeDeadline { return deadline.components.seconds }
        return maxDurationSeconds > 0 ? Int64(maxDurationSeconds) + 60 : nil
    }

    /// The Workflow to `POST` to `/apis/argoproj.io/v1alpha1/namespaces/NAMESPACE/workflows`.
    public func workflow() -> KubernetesJSON {
        let restricted: KubernetesJSON = [
            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
            "capabilities": ["drop": ["ALL"]], "seccompProfile": ["type": "RuntimeDefault"],
        ]
        var environment: [KubernetesJSON] = [["name": "HOME", "value": "/tmp"], ["name": "TMPDIR", "value": "/tmp"]]
        for variable in environmentNames {
            environment.append([
                "name": .string(variable),
                "valueFrom": ["secretKeyRef": ["name": .string(name), "key": .string("env." + variable)]],
            ])
        }
        var container: [String: KubernetesJSON] = [
            "image": .string(settings.image),
            "command": [
                .string(settings.executable), "run-job", "--envelope",
                .string(Self.envelopeDirectory + "/" + Self.envelopeKey),
            ],
            "env": .array(environment),
            "securityContext": restricted,
            "volumeMounts": [
                ["name": "envelope", "mountPath": .string(Self.envelopeDirectory), "readOnly": true],
                ["name": "spool", "mountPath": .string(folder), "subPath": .string(subPath)],
                ["name": "tmp", "mountPath": "/tmp"],
            ],
        ]
        let resources = ["requests": settings.requests, "limits": settings.limits].compactMapValues {
            Self.quantities($0)
        }
        if !resources.isEmpty { container["resources"] = .object(resources) }
        var podSecurity: [String: KubernetesJSON] = [
            "runAsNonRoot": true, "seccompProfile": ["type": "RuntimeDefault"],
        ]
        if let group = settings.fsGroup { podSecurity["fsGroup"] = .integer(group) }
        var spec: [String: KubernetesJSON] = [
            "entrypoint": "run-job",
            "podMetadata": ["labels": podLabels],
            "securityContext": .object(podSecurity),
            "ttlStrategy": ["secondsAfterCompletion": .integer(settings.ttlAfterFinished.components.seconds)],
            // The agent reads the pod's log to its end before it deletes the Workflow; the delay covers an agent
            // that is a little behind when the Workflow completes.
            "podGC": ["strategy": "OnWorkflowCompletion", "deleteDelayDuration": "5m"],
            "volumes": [
                [
                    "name": "envelope",
                    "secret": [
                        "secretName": .string(name), "defaultMode": 0o440,
                        "items": [["key": .string(Self.envelopeKey), "path": .string(Self.envelopeKey)]],
                    ],
                ],
                ["name": "spool", "persistentVolumeClaim": ["claimName": .string(settings.sharedVolumeClaim)]],
                ["name": "tmp", "emptyDir": ["medium": "Memory", "sizeLimit": "256Mi"]],
            ],
            "templates": [["name": "run-job", "container": .object(container)]],
        ]
        if let account = settings.serviceAccount { spec["serviceAccountName"] = .string(account) }
        if let deadline = activeDeadlineSeconds { spec["activeDeadlineSeconds"] = .integer(deadline) }
        return [
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": ["name": .string(name), "namespace": .string(settings.namespace), "labels": labels],
            "spec": .object(spec),
        ]
    }

    /// The run's Secret, owned by the Workflow (`uid`) so Kubernetes deletes it with the Workflow.
    public func secret(
        envelope: JobEnvelope, environment: [String: String], workflowUID: String
    ) throws -> KubernetesJSON {
        var data: [String: KubernetesJSON] = [
            Self.envelopeKey: .string(Data(try JSONEncoder().encode(envelope)).base64EncodedString())
        ]
        for variable in environmentNames {
            guard let value = environment[variable] else { continue }
            data["env." + variable] = .string(Data(value.utf8).base64EncodedString())
        }
        return [
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": [
                "name": .string(name), "namespace": .string(settings.namespace), "labels": labels,
                "ownerReferences": [
                    [
                        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": .string(name),
                        "uid": .string(workflowUID), "blockOwnerDeletion": true,
                    ]
                ],
            ],
            "immutable": true,
            "data": .object(data),
        ]
    }

    private static func quantities(_ resources: AgentConfiguration.Argo.Resources) -> KubernetesJSON? {
        var values: [String: KubernetesJSON] = [:]
        if let cpu = resources.cpu { values["cpu"] = .string(cpu) }
        if let memory = resources.memory { values["memory"] = .string(memory) }
        if let storage = resources.ephemeralStorage { values["ephemeral-storage"] = .string(storage) }
        return values.isEmpty ? nil : .object(values)
    }
}
