import Agent
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import OutpostProtocol
import OutpostTesting
import Synchronization

/// A FAKE Kubernetes API server on loopback (not Kubernetes, not Argo): a Hummingbird app answering the requests
/// the Argo executor makes with the request and response shapes of the real APIs — 201 with the stored object,
/// 409 and 404 `Status` objects, a watch that streams `ADDED`/`MODIFIED`/`DELETED` JSON lines and an `ERROR`
/// event with a 410 `Expired` `Status` for a compacted resource version, 401 for a stale bearer token, pod lists
/// and followed container logs. For `k8s:` secret references it serves Secret GETs as the API server answers them
/// under a Role with `resourceNames` (FakeKubernetesAPI+Secrets.swift), over HTTPS when given a TLS configuration.
///
/// With `runJobs`, it plays the Argo controller and kubelet too: once a Workflow's Secret exists it runs the
/// real `outpost run-job --envelope FILE` with the envelope from the Secret, serves its stdout as the pod's
/// log and records its exit code in the Workflow's status as Argo does.
final class FakeKubernetesAPI: Sendable {
    struct Recorded: Sendable, Equatable {
        var method: String
        var path: String
        var status: Int
    }

    struct State {
        var token: String
        var tokenFile: String?
        var rotateOnUnauthorized: String?
        var requests: [Recorded] = []
        var version = 100
        var workflows: [String: KubernetesJSON] = [:]
        var history: [(version: Int, type: String, name: String, object: KubernetesJSON)] = []
        var compactedBelow = 0
        var watchers: [UUID: AsyncStream<KubernetesJSON?>.Continuation] = [:]
        var secrets: [String: KubernetesJSON] = [:]
        var pods: [String: KubernetesJSON] = [:]
        var logs: [String: [UInt8]] = [:]
        var logsComplete: Set<String> = []
        /// The bodies of DELETE requests (their `DeleteOptions`).
        var deleteOptions: [KubernetesJSON] = []
        /// The `outpost run-job` processes playing pods, by Workflow.
        var processes: [String: Process] = [:]
        /// Secrets served to `GET …/secrets/NAME`, by `namespace/name` (see FakeKubernetesAPI+Secrets.swift).
        var readableSecrets = ReadableSecrets()
        /// Service account tokens the TokenReview API knows: token → (namespace, name, uid).
        var serviceAccountTokens: [String: (namespace: String, name: String, uid: String)] = [:]
    }

    let port: Int
    let state: Mutex<State>
    let runJobs: Bool
    private let server: Task<Void, any Error>

    let scheme: String
    var url: String { "\(scheme)://127.0.0.1:\(port)" }

    /// - Parameter tls: serve HTTPS with this configuration instead of plain HTTP.
    init(
        token: String, tokenFile: String? = nil, runJobs: Bool = false, tls: TLSConfiguration? = nil
    ) async throws {
        let port = try FreePort.find()
        self.port = port
        self.state = Mutex(State(token: token, tokenFile: tokenFile))
        self.runJobs = runJobs
        self.scheme = tls == nil ? "http" : "https"
        let router = Router()
        let holder = Holder()
        router.add(middleware: AuthMiddleware(holder: holder))
        let base = "/apis/argoproj.io/v1alpha1/namespaces/:namespace/workflows"
        router.post(RouterPath(stringLiteral: base)) { request, _ in
            try await holder.api!.createWorkflow(request)
        }
        router.get(RouterPath(stringLiteral: base)) { request, _ in holder.api!.listOrWatch(request) }
        router.get(RouterPath(stringLiteral: base + "/:name")) { _, context in
            holder.api!.getWorkflow(context.parameters.get("name") ?? "")
        }
        router.delete(RouterPath(stringLiteral: base + "/:name")) { request, context in
            try await holder.api!.deleteWorkflow(context.parameters.get("name") ?? "", request)
        }
        router.post("/api/v1/namespaces/:namespace/secrets") { request, _ in try await holder.api!.createSecret(request)
        }
        router.get("/api/v1/namespaces/:namespace/secrets/:name") { _, context in
            holder.api!.getSecret(
                namespace: context.parameters.get("namespace") ?? "", name: context.parameters.get("name") ?? "")
        }
        router.post("/apis/authentication.k8s.io/v1/tokenreviews") { request, _ in
            try await holder.api!.reviewToken(request)
        }
        router.get("/api/v1/namespaces/:namespace/pods") { request, _ in holder.api!.listPods(request) }
        router.get("/api/v1/namespaces/:namespace/pods/:pod/log") { _, context in
            holder.api!.followLog(context.parameters.get("pod") ?? "")
        }
        var logger = Logger(label: "fake-kubernetes")
        logger.logLevel = .critical
        let application = Application(
            router: router,
            server: try tls.map { try HTTPServerBuilder.tls(.http1(), tlsConfiguration: $0) }
                ?? HTTPServerBuilder.http1(),
            configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        server = Task { try await application.runService() }
        holder.set(self)
        let deadline = ContinuousClock.now + .seconds(60)
        while !FreePort.isListening(port) {
            guard ContinuousClock.now < deadline else { throw TestFailure("the fake API server did not start") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func stop() async {
        state.withLock { state in
            for watcher in state.watchers.values { watcher.finish() }
        }
        server.cancel()
        _ = try? await server.value
    }

    var requests: [Recorded] { state.withLock { $0.requests } }

    /// The token the server accepts from now on; the next 401 writes it into the token file, as the kubelet
    /// writes a rotated projected token.
    func rotateToken(to token: String) {
        state.withLock {
            $0.token = token
            $0.rotateOnUnauthorized = token
        }
    }

    // MARK: TokenReview

    /// Makes `token` a valid token of the service account `namespace/name` for the TokenReview API.
    func addServiceAccountToken(_ token: String, namespace: String, name: String, uid: String) {
        state.withLock { $0.serviceAccountTokens[token] = (namespace, name, uid) }
    }

    /// `POST /apis/authentication.k8s.io/v1/tokenreviews`, as a reviewer (Vault's Kubernetes auth) calls it with
    /// its own bearer token (checked by the middleware): authenticated with the service account's user name for a
    /// token this server issued, unauthenticated with an error for any other.
    func reviewToken(_ request: Request) async throws -> Response {
        let body = try KubernetesJSON.decode(Array(buffer: try await request.body.collect(upTo: 1 << 20)))
        let token = body["spec"]?["token"]?.string ?? ""
        let account = state.withLock { $0.serviceAccountTokens[token] }
        var status: KubernetesJSON = ["authenticated": false, "user": [:], "error": "invalid bearer token"]
        if let account {
            status = [
                "authenticated": true,
                "user": [
                    "username": .string("system:serviceaccount:\(account.namespace):\(account.name)"),
                    "uid": .string(account.uid),
                    "groups": [
                        "system:serviceaccounts", .string("system:serviceaccounts:\(account.namespace)"),
                        "system:authenticated",
                    ],
                ],
                "audiences": body["spec"]?["audiences"] ?? [],
            ]
        }
        return Self.json(
            [
                "kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "metadata": [:],
                "spec": body["spec"] ?? [:], "status": status,
            ], status: .created)
    }

    // MARK: Workflows

    static func status(_ code: Int, _ reason: String, _ message: String) -> KubernetesJSON {
        [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure", "message": .string(message),
            "reason": .string(reason), "code": .integer(Int64(code)),
        ]
    }

    static func json(_ value: KubernetesJSON, status: HTTPResponse.Status = .ok) -> Response {
        let bytes = (try? value.encoded()) ?? []
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    func createWorkflow(_ request: Request) async throws -> Response {
        let body = try KubernetesJSON.decode(Array(buffer: try await request.body.collect(upTo: 1 << 20)))
        let name = body["metadata"]?["name"]?.string ?? ""
        let stored: KubernetesJSON? = state.withLock { state in
            guard state.workflows[name] == nil else { return nil }
            let object = Self.with(body, metadata: ["uid": .string(UUID().uuidString)], status: ["phase": "Pending"])
            return Self.record(&state, "ADDED", name, object)
        }
        guard let stored else {
            return Self.json(
                Self.status(409, "AlreadyExists", "workflows.argoproj.io \"\(name)\" already exists"), status: .conflict
            )
        }
        return Self.json(stored, status: .created)
    }

    /// Changes a Workflow's status as the Argo controller would, and tells the watchers.
    func update(_ name: String, status: KubernetesJSON) {
        state.withLock { state in
            guard let current = state.workflows[name] else { return }
            _ = Self.record(&state, "MODIFIED", name, Self.with(current, metadata: [:], status: status))
        }
    }

    /// Forgets the history below now: watches from an older version get 410 Gone, and open watches end with it.
    func compactHistory() {
        state.withLock { state in
            state.compactedBelow = state.version + 1
            for watcher in state.watchers.values {
                watcher.yield(["type": "ERROR", "object": Self.status(410, "Expired", "too old resource version")])
                watcher.finish()
            }
            state.watchers = [:]
        }
    }

    private static func with(
        _ object: KubernetesJSON, metadata: [String: KubernetesJSON], status: KubernetesJSON
    ) -> KubernetesJSON {
        guard case .object(var members) = object, case .object(var meta) = members["metadata"] ?? [:] else {
            return object
        }
        for (key, value) in metadata { meta[key] = value }
        members["metadata"] = .object(meta)
        members["status"] = status
        return .object(members)
    }

    private static func record(
        _ state: inout State, _ type: String, _ name: String, _ object: KubernetesJSON
    )
        -> KubernetesJSON
    {
        state.version += 1
        let stored = with(
            object, metadata: ["resourceVersion": .string("\(state.version)")], status: object["status"] ?? [:])
        if type == "DELETED" { state.workflows[name] = nil } else { state.workflows[name] = stored }
        state.history.append((state.version, type, name, stored))
        for watcher in state.watchers.values { watcher.yield(["type": .string(type), "object": stored]) }
        return stored
    }

    func getWorkflow(_ name: String) -> Response {
        guard let workflow = state.withLock({ $0.workflows[name] }) else {
            return Self.json(
                Self.status(404, "NotFound", "workflows.argoproj.io \"\(name)\" not found"), status: .notFound)
        }
        return Self.json(workflow)
    }

    func deleteWorkflow(_ name: String, _ request: Request) async throws -> Response {
        let options = try? KubernetesJSON.decode(Array(buffer: try await request.body.collect(upTo: 1 << 20)))
        let deleted: KubernetesJSON? = state.withLock { state in
            state.deleteOptions.append(options ?? .null)
            guard let current = state.workflows[name] else { return nil }
            // The kubelet stops the pod's container as the pod is deleted.
            if let process = state.processes.removeValue(forKey: name), process.isRunning { process.terminate() }
            state.secrets[name] = nil
            state.pods = state.pods.filter {
                $0.value["metadata"]?["labels"]?["workflows.argoproj.io/workflow"] != .string(name)
            }
            return Self.record(&state, "DELETED", name, current)
        }
        guard deleted != nil else {
            return Self.json(
                Self.status(404, "NotFound", "workflows.argoproj.io \"\(name)\" not found"), status: .notFound)
        }
        return Self.json([
            "kind": "Status", "apiVersion": "v1", "status": "Success", "details": ["name": .string(name)],
        ])
    }

    func listOrWatch(_ request: Request) -> Response {
        let selector = request.uri.queryParameters["fieldSelector"].map(String.init) ?? ""
        let name = selector.hasPrefix("metadata.name=") ? String(selector.dropFirst("metadata.name=".count)) : nil
        guard request.uri.queryParameters["watch"] == "true" else {
            let (items, version) = state.withLock { state in
                (state.workflows.filter { name == nil || $0.key == name }.map(\.value), state.version)
            }
            return Self.json([
                "apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowList",
                "metadata": ["resourceVersion": .string("\(version)")], "items": .array(items),
            ])
        }
        let from = Int(request.uri.queryParameters["resourceVersion"] ?? "") ?? 0
        let (events, continuation) = AsyncStream.makeStream(of: KubernetesJSON?.self)
        let id = UUID()
        state.withLock { state in
            if from < state.compactedBelow - 1 {
                continuation.yield([
                    "type": "ERROR", "object": Self.status(410, "Expired", "too old resource version: \(from)"),
                ])
                continuation.finish()
                return
            }
            for entry in state.history where entry.version > from && (name == nil || entry.name == name) {
                continuation.yield(["type": .string(entry.type), "object": entry.object])
            }
            state.watchers[id] = continuation
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody { writer in
                defer { _ = self.state.withLock { $0.watchers.removeValue(forKey: id) } }
                for await event in events {
                    guard let event else { break }
                    if let name, event["object"]?["metadata"]?["name"]?.string != name, event["type"] != "ERROR" {
                        continue
                    }
                    try await writer.write(ByteBuffer(bytes: try event.encoded() + [UInt8(ascii: "\n")]))
                    if event["type"] == "DELETED" { break }
                }
                try await writer.finish(nil)
            })
    }

    // MARK: Secrets, pods, logs

    func createSecret(_ request: Request) async throws -> Response {
        let body = try KubernetesJSON.decode(Array(buffer: try await request.body.collect(upTo: 1 << 20)))
        let name = body["metadata"]?["name"]?.string ?? ""
        let created = state.withLock { state -> Bool in
            guard state.secrets[name] == nil else { return false }
            state.secrets[name] = body
            return true
        }
        guard created else {
            return Self.json(Self.status(409, "AlreadyExists", "secrets \"\(name)\" already exists"), status: .conflict)
        }
        if runJobs { try startJob(workflow: name, secret: body) }
        return Self.json(body, status: .created)
    }

    /// Adds a pod of `workflow` in `phase` with `log` as its container's output (complete when `finished`).
    func addPod(_ pod: String, workflow: String, phase: String, log: [UInt8] = [], finished: Bool = true) {
        state.withLock { state in
            state.pods[pod] = [
                "apiVersion": "v1", "kind": "Pod",
                "metadata": [
                    "name": .string(pod), "labels": ["workflows.argoproj.io/workflow": .string(workflow)],
                ],
                "status": ["phase": .string(phase)],
            ]
            state.logs[pod] = log
            if finished { state.logsComplete.insert(pod) } else { state.logsComplete.remove(pod) }
        }
    }

    func appendLog(_ pod: String, _ bytes: [UInt8], finished: Bool) {
        state.withLock { state in
            state.logs[pod, default: []] += bytes
            if finished { state.logsComplete.insert(pod) }
        }
    }

    func listPods(_ request: Request) -> Response {
        let selector = request.uri.queryParameters["labelSelector"].map(String.init) ?? ""
        let parts = selector.split(separator: "=", maxSplits: 1).map(String.init)
        let items = state.withLock { state in
            state.pods.values.filter { parts.count == 2 && $0["metadata"]?["labels"]?[parts[0]]?.string == parts[1] }
        }
        return Self.json([
            "apiVersion": "v1", "kind": "PodList", "metadata": ["resourceVersion": "1"], "items": .array(items),
        ])
    }

    func followLog(_ pod: String) -> Response {
        let phase = state.withLock { $0.pods[pod]?["status"]?["phase"]?.string }
        guard let phase else {
            return Self.json(Self.status(404, "NotFound", "pods \"\(pod)\" not found"), status: .notFound)
        }
        guard phase != "Pending" else {
            return Self.json(
                Self.status(
                    400, "BadRequest", "container \"main\" in pod \"\(pod)\" is waiting to start: ContainerCreating"),
                status: .badRequest)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain"],
            body: ResponseBody { writer in
                var sent = 0
                while true {
                    let (bytes, complete) = self.state.withLock { ($0.logs[pod] ?? [], $0.logsComplete.contains(pod)) }
                    if bytes.count > sent {
                        try await writer.write(ByteBuffer(bytes: bytes[sent...]))
                        sent = bytes.count
                    } else if complete {
                        break
                    } else {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                try await writer.finish(nil)
            })
    }

    // MARK: Playing Argo

    /// Runs the job of `workflow` as its pod would: `outpost run-job --envelope FILE`, its stdout the pod's log,
    /// its exit code the Pod node's `outputs.exitCode`.
    private func startJob(workflow: String, secret: KubernetesJSON) throws {
        let encoded = secret["data"]?["envelope.json"]?.string ?? ""
        guard let envelope = Data(base64Encoded: encoded) else { throw TestFailure("the Secret holds no envelope") }
        let file = NSTemporaryDirectory() + "envelope-\(UUID().uuidString).json"
        try envelope.write(to: URL(fileURLWithPath: file))
        let pod = workflow + "-run-job-1"
        addPod(pod, workflow: workflow, phase: "Running", finished: false)
        update(workflow, status: ["phase": "Running"])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: BuildProducts.outpost)
        process.arguments = ["run-job", "--envelope", file]
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        state.withLock { $0.processes[workflow] = process }
        Thread.detachNewThread { [self] in
            while true {
                let chunk = pipe.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                appendLog(pod, Array(chunk), finished: false)
            }
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: file)
            let code = process.terminationStatus
            appendLog(pod, [], finished: true)
            state.withLock { state in
                if case .object(var pods) = state.pods[pod], case .object(var status) = pods["status"] ?? [:] {
                    status["phase"] = code == 0 ? "Succeeded" : "Failed"
                    pods["status"] = .object(status)
                    state.pods[pod] = .object(pods)
                }
            }
            update(
                workflow,
                status: [
                    "phase": code == 0 ? "Succeeded" : "Failed",
                    "message": code == 0 ? .null : .string("Error (exit code \(code))"),
                    "nodes": [
                        workflow: [
                            "id": .string(workflow), "type": "Workflow", "phase": code == 0 ? "Succeeded" : "Failed",
                        ],
                        pod: [
                            "id": .string(pod), "type": "Pod", "phase": code == 0 ? "Succeeded" : "Failed",
                            "outputs": ["exitCode": .string("\(code)")],
                        ],
                    ],
                ])
        }
    }
}

/// Refers the routes to the fake, which is set before the server answers its first request.
private final class Holder: Sendable {
    private let value = Mutex<FakeKubernetesAPI?>(nil)

    var api: FakeKubernetesAPI? { value.withLock { $0 } }

    func set(_ api: FakeKubernetesAPI) { value.withLock { $0 = api } }
}

/// Answers 401 with a `Status` for any bearer token but the current one, recording every request.
private struct AuthMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let holder: Holder

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let api = holder.api else { throw TestFailure("the fake API server is not ready") }
        let path = request.uri.description
        let authorized = api.state.withLock { request.headers[.authorization] == "Bearer \($0.token)" }
        guard authorized else {
            api.state.withLock { state in
                state.requests.append(.init(method: "\(request.method)", path: path, status: 401))
                if let token = state.rotateOnUnauthorized, let file = state.tokenFile {
                    try? Data(token.utf8).write(to: URL(fileURLWithPath: file))
                    state.rotateOnUnauthorized = nil
                }
            }
            return FakeKubernetesAPI.json(
                FakeKubernetesAPI.status(401, "Unauthorized", "Unauthorized"), status: .unauthorized)
        }
        let response = try await next(request, context)
        api.state.withLock {
            $0.requests.append(.init(method: "\(request.method)", path: path, status: Int(response.status.code)))
        }
        return response
    }
}
