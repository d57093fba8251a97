internal import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOHTTP1
internal import NIOSSL
public import OutpostProtocol
internal import Yams

/// A small Kubernetes API client for what the Argo executor and `k8s:` secret references need: Workflows (create,
/// get, list, watch, delete), Secrets (create, get), pods (list by label, follow a container's log).
///
/// It authenticates with a bearer token — the pod's projected service-account token, re-read before every
/// request and once more after a 401 because the kubelet rotates it — or with a kubeconfig's token or client
/// certificate. Bodies are streamed (watches, logs) or read with a cap; nothing secret is ever put in an error.
public final class KubernetesClient: Sendable {
    /// How requests prove who we are.
    public enum Credentials: Sendable {
        case none
        /// A fixed bearer token (from a kubeconfig).
        case token(String)
        /// A file holding the bearer token, re-read on every request (projected service-account tokens rotate).
        case tokenFile(String)
    }

    /// What `create` found.
    public enum Creation: Sendable, Equatable {
        /// Created now: the object as stored by the API server.
        case created(KubernetesJSON)
        /// An object of that name exists already (409 AlreadyExists).
        case alreadyExists
    }

    /// What a Workflow watch reports.
    public enum WorkflowEvent: Sendable, Equatable {
        /// The Workflow as it stands now (first from a list, then after each change).
        case changed(KubernetesJSON)
        /// The Workflow is gone.
        case deleted
    }

    /// The in-cluster service-account files.
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// `https://host:port`, without a trailing slash.
    public let server: String
    private let credentials: Credentials
    private let http: HTTPClient
    private let requestTimeout: Duration

    /// - Parameters:
    ///   - server: `https://…`, or `http://` for a loopback address only.
    ///   - caPEM: the cluster's CA certificates; nil trusts the system's.
    ///   - clientCertificatePEM / clientKeyPEM: a client certificate for mutual TLS.
    /// - Throws: `AgentError(.invalidConfiguration)` for a bad server URL or unreadable PEM data.
    public init(
        server: String, credentials: Credentials, caPEM: [UInt8]? = nil, clientCertificatePEM: [UInt8]? = nil,
        clientKeyPEM: [UInt8]? = nil, requestTimeout: Duration = .seconds(30)
    ) throws {
        let trimmed = server.hasSuffix("/") ? String(server.dropLast()) : server
        guard let components = URLComponents(string: trimmed), let scheme = components.scheme,
            let host = components.plainHost, !host.isEmpty, components.path.isEmpty
        else {
            throw AgentError(.invalidConfiguration, "the Kubernetes API server '\(server)' is not an https:// URL")
        }
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(host)
        guard scheme == "https" || (scheme == "http" && loopback) else {
            throw AgentError(
                .invalidConfiguration,
                "the Kubernetes API server must be reached over https:// (http:// only on loopback), not '\(server)'")
        }
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        do {
            if let caPEM { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(caPEM)) }
            if let clientCertificatePEM, let clientKeyPEM {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(clientCertificatePEM).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: clientKeyPEM, format: .pem))
            }
        } catch {
            throw AgentError(.invalidConfiguration, "the Kubernetes CA or client certificate is not valid PEM")
        }
        configuration.tlsConfiguration = tls
        self.server = trimmed
        self.credentials = credentials
        self.requestTimeout = requestTimeout
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The client of a pod's service account: `KUBERNETES_SERVICE_HOST`/`_PORT`, its CA and its token file.
    public static func inCluster(
        environment: [String: String], directory: String = serviceAccountDirectory
    ) throws -> KubernetesClient {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
            throw AgentError(
                .invalidConfiguration,
                "no kubeconfig is configured and KUBERNETES_SERVICE_HOST is not set: "
                    + "the agent is not running in a Kubernetes pod")
        }
        let port = environment["KUBERNETES_SERVICE_PORT"] ?? "443"
        guard let ca = FileManager.default.contents(atPath: directory + "/ca.crt") else {
            throw AgentError(.invalidConfiguration, "cannot read the cluster CA \(directory)/ca.crt")
        }
        let address = host.contains(":") ? "[\(host)]" : host
        return try KubernetesClient(
            server: "https://\(address):\(port)", credentials: .tokenFile(directory + "/token"), caPEM: Array(ca))
    }

    /// The client a kubeconfig file's current context describes (server, CA, token or client certificate).
    public static func kubeconfig(path: String) throws -> KubernetesClient {
        func failure(_ message: String) -> AgentError {
            AgentError(.invalidConfiguration, "the kubeconfig \(path): \(message)")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else { throw failure("does not exist or is unreadable") }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw failure("is not valid YAML") }
        guard let root, root.mapping != nil else { throw failure("is not a mapping") }
        func named(_ list: String, _ name: String, _ field: String) throws -> Node {
            for entry in root[list]?.sequence ?? [] where entry["name"]?.string == name {
                guard let value = entry[field] else { break }
                return value
            }
            throw failure("names \(list.dropLast()) '\(name)' but does not define it")
        }
        guard let current = root["current-context"]?.string else { throw failure("has no current-context") }
        let context = try named("contexts", current, "context")
        guard let clusterName = context["cluster"]?.string, let userName = context["user"]?.string else {
            throw failure("context '\(current)' names no cluster or user")
        }
        let cluster = try named("clusters", clusterName, "cluster")
        guard let server = cluster["server"]?.string else { throw failure("cluster '\(clusterName)' has no server") }
        if cluster["insecure-skip-tls-verify"]?.bool == true {
            throw failure("insecure-skip-tls-verify is refused: give the cluster's certificate-authority")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        func bytes(_ node: Node, data: String, file: String) throws -> [UInt8]? {
            if let encoded = node[data]?.string {
                guard let decoded = Data(base64Encoded: encoded) else { throw failure("\(data) is not base64") }
                return Array(decoded)
            }
            guard let name = node[file]?.string else { return nil }
            let full = name.hasPrefix("/") ? name : base + "/" + name
            guard let contents = FileManager.default.contents(atPath: full) else {
                throw failure("\(file) \(full) does not exist or is unreadable")
            }
            return Array(contents)
        }
        let user = (try? named("users", userName, "user")) ?? Node.mapping([:])
        if user["exec"] != nil || user["auth-provider"] != nil {
            throw failure("user '\(userName)' uses an exec or auth-provider plugin; give a token or tokenFile")
        }
        let credentials: Credentials
        if let token = user["token"]?.string {
            credentials = .token(token)
        } else if let file = user["tokenFile"]?.string {
            credentials = .tokenFile(file.hasPrefix("/") ? file : base + "/" + file)
        } else {
            credentials = .none
        }
        return try KubernetesClient(
            server: server, credentials: credentials,
            caPEM: try bytes(cluster, data: "certificate-authority-data", file: "certificate-authority"),
            clientCertificatePEM: try bytes(user, data: "client-certificate-data", file: "client-certificate"),
            clientKeyPEM: try bytes(user, data: "client-key-data", file: "client-key"))
    }

    /// Closes the connections.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: Workflows

    static func workflows(_ namespace: String) -> String {
        "/apis/argoproj.io/v1alpha1/namespaces/\(escaped(namespace))/workflows"
    }

    /// `POST`s a Workflow; a 409 AlreadyExists is `.alreadyExists`, not an error.
    public func createWorkflow(namespace: String, _ workflow: KubernetesJSON) async throws -> Creation {
        try await create(Self.workflows(namespace), workflow)
    }

    /// `POST`s a Secret; a 409 AlreadyExists is `.alreadyExists`.
    public func createSecret(namespace: String, _ secret: KubernetesJSON) async throws -> Creation {
        try await create("/api/v1/namespaces/\(Self.escaped(namespace))/secrets", secret)
    }

    /// `GET`s a Secret and returns the answer as it came: the caller maps 401, 403 and 404 to what they mean for
    /// it. The body holds the Secret's values: it must never reach a log or an error.
    public func readSecret(namespace: String, name: String) async throws -> (status: Int, body: [UInt8]) {
        try await send(.GET, "/api/v1/namespaces/\(Self.escaped(namespace))/secrets/\(Self.escaped(name))")
    }

    /// The Workflow, or nil when there is none of that name.
    public func workflow(namespace: String, name: String) async throws -> KubernetesJSON? {
        let (status, body) = try await send(.GET, Self.workflows(namespace) + "/" + Self.escaped(name))
        if status == 404 { return nil }
        guard status == 200 else { throw Self.failure(status, body, "GET workflow \(name)") }
        return try Self.decode(body)
    }

    /// Deletes the Workflow (and, through owner references, its pods and Secret); false when it was gone.
    ///
    /// - Parameter foreground: wait, server-side, for the dependents to go before the Workflow does.
    @discardableResult
    public func deleteWorkflow(namespace: String, name: String, foreground: Bool) async throws -> Bool {
        let options: KubernetesJSON = [
            "apiVersion": "v1", "kind": "DeleteOptions",
            "propagationPolicy": foreground ? "Foreground" : "Background",
        ]
        let (status, body) = try await send(
            .DELETE, Self.workflows(namespace) + "/" + Self.escaped(name), body: try options.encoded())
        if status == 404 { return false }
        guard status == 200 || status == 202 else { throw Self.failure(status, body, "DELETE workflow \(name)") }
        return true
    }

    /// Follows one Workflow: its current state from a list, then every change from a watch started at the list's
    /// resource version. A watch that ends is resumed from the last version seen; a 410 Gone (the version is
    /// too old) starts over with a fresh list. Ends after `.deleted`; throws what it cannot get past.
    public func watchWorkflow(namespace: String, name: String) -> AsyncThrowingStream<WorkflowEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: WorkflowEvent.self, bufferingPolicy: .bufferingNewest(8))
        let task = Task {
            do {
                try await self.follow(namespace: namespace, name: name) { continuation.yield($0) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func follow(
        namespace: String, name: String, yield: @Sendable (WorkflowEvent) -> Void
    ) async throws {
        let selector = "fieldSelector=" + Self.escaped("metadata.name=\(name)")
        relist: while true {
            let (status, body) = try await send(.GET, Self.workflows(namespace) + "?" + selector)
            guard status == 200 else { throw Self.failure(status, body, "list workflows") }
            let list = try Self.decode(body)
            guard let item = list["items"]?.elements.first else {
                yield(.deleted)
                return
            }
            yield(.changed(item))
            var version = list["metadata"]?["resourceVersion"]?.string ?? ""
            while true {
                try Task.checkCancellation()
                let path =
                    Self.workflows(namespace) + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=300&"
                    + selector + "&resourceVersion=" + Self.escaped(version)
                let response = try await open(path, timeout: .seconds(330))
                guard response.status == .ok else {
                    let body = Array(buffer: try await response.body.collect(upTo: 64 * 1024))
                    if response.status.code == 410 { continue relist }
                    throw Self.failure(Int(response.status.code), body, "watch workflow \(name)")
                }
                var lines = LineSplitter(limit: 16 * 1024 * 1024)
                for try await buffer in response.body {
                    for line in try lines.push(buffer.readableBytesView) {
                        let event = try Self.decode(line)
                        let object = event["object"] ?? .null
                        switch event["type"]?.string {
                        case "ADDED", "MODIFIED":
                            version = object["metadata"]?["resourceVersion"]?.string ?? version
                            yield(.changed(object))
                        case "DELETED":
                            yield(.deleted)
                            return
                        case "BOOKMARK":
                            version = object["metadata"]?["resourceVersion"]?.string ?? version
                        case "ERROR":
                            if object["code"]?.integer == 410 { continue relist }
                            throw AgentError(
                                .unavailable,
                                "the Workflow watch failed: \(object["message"]?.string ?? "an ERROR event")")
                        default:
                            throw AgentError(.unavailable, "the Workflow watch sent an event of unknown type")
                        }
                    }
                }
            }
        }
    }

    // MARK: Pods

    /// The pods carrying `labelSelector` (`key=value`).
    public func pods(namespace: String, labelSelector: String) async throws -> [KubernetesJSON] {
        let path = "/api/v1/namespaces/\(Self.escaped(namespace))/pods?labelSelector=" + Self.escaped(labelSelector)
        let (status, body) = try await send(.GET, path)
        guard status == 200 else { throw Self.failure(status, body, "list pods") }
        return try Self.decode(body)["items"]?.elements ?? []
    }

    /// Follows a container's log until the container ends, chunk by chunk as the kubelet sends it.
    ///
    /// - Throws: `AgentError` with the HTTP status — 400 while the container has not started yet.
    public func followLog(
        namespace: String, pod: String, container: String, timeout: Duration
    ) async throws -> some AsyncSequence<[UInt8], any Error> {
        let path =
            "/api/v1/namespaces/\(Self.escaped(namespace))/pods/\(Self.escaped(pod))/log?container="
            + Self.escaped(container) + "&follow=true"
        let response = try await open(path, timeout: timeout)
        guard response.status == .ok else {
            let body = Array(buffer: try await response.body.collect(upTo: 64 * 1024))
            throw Self.failure(Int(response.status.code), body, "log of pod \(pod)")
        }
        return response.body.map { Array(buffer: $0) }
    }

    // MARK: Requests

    private func create(_ path: String, _ object: KubernetesJSON) async throws -> Creation {
        let (status, body) = try await send(.POST, path, body: try object.encoded())
        switch status {
        case 200, 201, 202: return .created(try Self.decode(body))
        case 409 where (try? Self.decode(body))?["reason"]?.string == "AlreadyExists": return .alreadyExists
        default: throw Self.failure(status, body, "POST \(object["kind"]?.string ?? "object")")
        }
    }

    /// One request with its body read (at most 16 MiB).
    private func send(
        _ method: HTTPMethod, _ path: String, body: [UInt8]? = nil
    ) async throws -> (status: Int, body: [UInt8]) {
        let response = try await open(path, method: method, body: body, timeout: requestTimeout)
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return (Int(response.status.code), Array(buffer: bytes))
    }

    /// Sends a request and returns the response with its body unread. A 401 with a token file is tried once
    /// more after re-reading the file: the kubelet may have rotated the token in between.
    private func open(
        _ path: String, method: HTTPMethod = .GET, body: [UInt8]? = nil, timeout: Duration
    ) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: server + path)
            request.method = method
            request.headers.add(name: "Accept", value: "application/json")
            if let token = try bearerToken() { request.headers.add(name: "Authorization", value: "Bearer " + token) }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .init(timeout))
            } catch {
                throw AgentError(.unavailable, "the Kubernetes API server \(server) could not be reached: \(error)")
            }
            if response.status == .unauthorized, case .tokenFile = credentials, attempt == 1 {
                _ = try? await response.body.collect(upTo: 64 * 1024)
                continue
            }
            return response
        }
    }

    private func bearerToken() throws -> String? {
        switch credentials {
        case .none:
            return nil
        case .token(let token):
            return token
        case .tokenFile(let path):
            guard let data = FileManager.default.contents(atPath: path),
                let token = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
                !token.isEmpty
            else {
                throw AgentError(.unavailable, "the Kubernetes token file \(path) is missing, unreadable or empty")
            }
            return token
        }
    }

    static func decode(_ bytes: some Collection<UInt8>) throws -> KubernetesJSON {
        do {
            return try KubernetesJSON.decode(bytes)
        } catch {
            throw AgentError(.unavailable, "the Kubernetes API server sent a body that is not JSON")
        }
    }

    /// An error from a non-success answer, with the API server's `Status` message when it sent one.
    static func failure(_ status: Int, _ body: [UInt8], _ what: String) -> AgentError {
        let decoded = try? KubernetesJSON.decode(body)
        let reason = decoded?["reason"]?.string.map { " (\($0))" } ?? ""
        let message = decoded?["message"]?.string.map { ": \($0.prefix(500))" } ?? ""
        let text = "Kubernetes refused \(what) with HTTP \(status)\(reason)\(message)"
        let retryable = status == 429 || status >= 500
        return AgentError(retryable ? .unavailable : .job, text, status: status)
    }

    static func escaped(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// Splits a byte stream into lines, refusing a line longer than `limit`.
struct LineSplitter {
    let limit: Int
    private var pending: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    /// The complete lines `bytes` finishes (without their newline, blank ones skipped).
    mutating func push(_ bytes: some Collection<UInt8>) throws -> [[UInt8]] {
        var lines: [[UInt8]] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if !pending.isEmpty { lines.append(pending) }
                pending.removeAll(keepingCapacity: true)
            } else {
                guard pending.count < limit else {
                    throw AgentError(.unavailable, "the Kubernetes API server sent a line longer than \(limit) bytes")
                }
                pending.append(byte)
            }
        }
        return lines
    }
}
