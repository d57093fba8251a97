public import AsyncHTTPClient
internal import Foundation
public import NIOCore
internal import NIOHTTP1

/// Resolves `vault:<path>[?version=N][#field]` from HashiCorp Vault or OpenBao: KV version 2 secrets and dynamic
/// secrets such as `vault:database/creds/ROLE`.
///
/// The locator is the path as Vault's API and ACL policies name it (`secret/data/outpost/pg`); the `vault kv` form
/// without `data/` (`secret/outpost/pg`) works too, as the mount's KV version is looked up the way the vault CLI
/// does. A dynamic secret comes with a lease: the provider keeps it (`maintainLeases()`) while its reader needs
/// it and revokes it (`revokeLeases()`) when done.
///
/// With `readsOncePerLocator`, each path is read once for the provider's life, so a username and a password
/// selected from one dynamic credential come from the same lease; a long-lived provider (the agent's own) leaves
/// it off so that a rotated secret is read anew. Nothing is written anywhere; errors name the reference and the
/// path, never a value or a token.
public actor VaultSecretProvider: LeasingSecretProvider {
    public nonisolated var store: SecretReference.Store { .vault }

    /// What the provider did, for tests and diagnostics: counts only.
    public struct Statistics: Sendable, Equatable {
        public var logins = 0
        public var tokenRenewals = 0
        public var reads = 0
        public var leaseRenewals = 0
        public var leasesRevoked = 0
    }

    /// A dynamic secret's lease.
    private struct Lease {
        var id: String
        var duration: Duration
        var renewable: Bool
        /// When the provider should renew it (half way through).
        var due: ContinuousClock.Instant
    }

    public nonisolated let configuration: VaultConfiguration
    private let client: HTTPClient
    private let credentials: @Sendable (SecretReference) async throws -> String
    private let readsOncePerLocator: Bool
    private let timeout: TimeAmount
    private let retryDelay: Duration

    private var token: String?
    /// When the token should be renewed (two thirds into its TTL); nil when it does not expire or is unknown.
    private var tokenDue: ContinuousClock.Instant?
    private var tokenRenewable = false
    private var reads: [String: Data] = [:]
    private var mounts: [String: Mount] = [:]
    private var leases: [Lease] = []
    public private(set) var statistics = Statistics()

    /// - Parameters:
    ///   - client: the HTTP client for the Vault address, with its CA bundle and proxy; the caller shuts it down.
    ///   - credentials: resolves an AppRole's role id and secret id references (other stores, never `vault:`).
    ///   - readsOncePerLocator: read each path once and answer later resolutions from that read.
    ///   - retryDelay: the first pause before retrying a 5xx or 429 answer (twice, doubling).
    public init(
        configuration: VaultConfiguration, client: HTTPClient,
        credentials: @escaping @Sendable (SecretReference) async throws -> String, readsOncePerLocator: Bool,
        timeout: TimeAmount = .seconds(15), retryDelay: Duration = .milliseconds(250)
    ) {
        self.configuration = configuration
        self.client = client
        self.credentials = credentials
        self.readsOncePerLocator = readsOncePerLocator
        self.timeout = timeout
        self.retryDelay = retryDelay
    }

    public func resolve(_ reference: SecretReference) async throws -> String {
        let locator = try VaultLocator(parsing: reference)
        let target = await target(of: locator)
        // Keyed by the API path, so `secret/x` and `secret/data/x` are one read.
        let key = target.path + (locator.version.map { "?version=\($0)" } ?? "")
        let fields: Data
        if readsOncePerLocator, let earlier = reads[key] {
            fields = earlier
        } else {
            fields = try await read(target, version: locator.version, reference: reference)
            if readsOncePerLocator { reads[key] = fields }
        }
        // With a field, the resolver selects it from the JSON object; without one, a single field is the secret.
        if reference.field != nil { return String(decoding: fields, as: UTF8.self) }
        guard let object = try? JSONSerialization.jsonObject(with: fields) as? [String: Any] else {
            throw SecretError(.invalidFormat, "Vault's answer for \(reference) holds no fields")
        }
        guard object.count == 1, let only = object.keys.first else {
            let names = object.keys.sorted().joined(separator: ", ")
            throw SecretError(
                .invalidFormat,
                "secret \(reference) has \(object.count) fields (\(names)): add #FIELD to the reference to pick one")
        }
        return try SecretResolver.select(
            field: only, from: String(decoding: fields, as: UTF8.self), reference: reference)
    }

    /// Renews the token and every lease before they run out, until the calling task is cancelled.
    public func maintainLeases() async {
        while !Task.isCancelled {
            let now = ContinuousClock.now
            let next = ([tokenDue].compactMap { $0 } + leases.filter(\.renewable).map(\.due)).min()
            guard let next else {
                // Nothing to renew yet; a later read may bring a lease.
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            if next > now {
                try? await Task.sleep(until: min(next, now + .seconds(1)), clock: .continuous)
                continue
            }
            if let tokenDue, tokenDue <= now {
                do {
                    _ = try await currentToken(context: "renewing the Vault token")
                } catch {
                    // Tried again in a few seconds; the reads that need the token report what is wrong.
                    self.tokenDue = now + .seconds(5)
                }
            }
            // By id: a revocation may empty the list while a renewal waits for Vault.
            for id in leases.filter({ $0.renewable && $0.due <= now }).map(\.id) {
                await renew(leaseId: id)
            }
        }
    }

    /// Revokes every lease this provider obtained, once, and the token it logged in for; the credentials stop
    /// working at once. A later resolution logs in again.
    public func revokeLeases() async {
        let pending = leases
        leases = []
        reads = [:]
        for lease in pending {
            let body = Self.json(["lease_id": lease.id])
            if let response = try? await authenticated(
                .PUT, "sys/leases/revoke", body: body, context: "revoking a lease"),
                response.status.code < 300
            {
                statistics.leasesRevoked += 1
            }
        }
        // A token this provider logged in for is its own: revoked too, which also ends any lease the revocations
        // above missed. A token file's token belongs to whoever writes the file, and stays.
        if case .tokenFile = configuration.authentication { return }
        if let token {
            _ = try? await send(
                .POST, "auth/token/revoke-self", body: Self.json([:]), token: token, context: "revoking the token")
            self.token = nil
            tokenDue = nil
        }
    }

    /// Logs in (or reads the token file) and looks the token up, for `outpost agent --check`: the auth method, the
    /// token's policies and how long it has left; never the token.
    public func checkAccess() async throws -> String {
        let token = try await currentToken(context: "checking access")
        let response = try await send(
            .GET, "auth/token/lookup-self", body: nil, token: token, context: "looking up the token")
        guard response.status.code == 200,
            let answer = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
            let data = answer["data"] as? [String: Any]
        else {
            throw Self.failure(response, doing: "looking up the token (auth/token/lookup-self)", hint: "")
        }
        let policies = (data["policies"] as? [String] ?? []).joined(separator: ", ")
        let ttl = Self.integer(data["ttl"]) ?? 0
        let namespace = configuration.namespace.map { " in namespace \($0)" } ?? ""
        return "\(configuration.authentication.method) login accepted\(namespace); token policies [\(policies)], "
            + (ttl == 0 ? "no expiry" : "\(ttl) s left")
    }

    // MARK: Reading

    /// Where a locator is read: its API path, whether that is a KV version 2 secret, and advice for a failed read.
    private struct Target {
        var path: String
        var kvVersion2: Bool
        var hint: String
    }

    /// The API path of a locator: `data/` added to a KV version 2 path written the `vault kv` way.
    private func target(of locator: VaultLocator) async -> Target {
        var path = locator.path
        var kvVersion2 = locator.path.split(separator: "/").dropFirst().first == "data"
        var hint = ""
        switch await mount(of: locator.path) {
        case .some(let mount) where mount.kvVersion == 2:
            let rest = locator.path.dropFirst(mount.path.count)
            if locator.path.hasPrefix(mount.path), !rest.hasPrefix("data/") { path = mount.path + "data/" + rest }
            kvVersion2 = true
        case .some:
            kvVersion2 = false
        case nil:
            hint =
                "; the mount of \(locator.path) could not be looked up, so for a KV version 2 secret write its full "
                + "path with data/ (e.g. secret/data/outpost/pg)"
        }
        return Target(path: path, kvVersion2: kvVersion2, hint: hint)
    }

    private func read(_ target: Target, version: Int?, reference: SecretReference) async throws -> Data {
        let (path, kvVersion2, hint) = (target.path, target.kvVersion2, target.hint)
        if version != nil && !kvVersion2 {
            throw SecretError(
                .invalidReference, "\(reference) asks for a version, but \(path) is not a KV version 2 secret")
        }
        let query = version.map { "?version=\($0)" } ?? ""
        let response = try await authenticated(.GET, path + query, body: nil, context: "reading \(reference)")
        statistics.reads += 1
        switch response.status.code {
        case 200:
            break
        case 404:
            throw SecretError(.notFound, "Vault has no secret at \(path) for \(reference)\(hint)")
        default:
            throw Self.failure(response, doing: "reading \(reference) (\(path))", hint: hint)
        }
        guard let answer = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
            let data = answer["data"] as? [String: Any]
        else {
            throw SecretError(.invalidFormat, "Vault's answer for \(reference) is not a secret (no data)")
        }
        let leaseId = answer["lease_id"] as? String ?? ""
        let fields: [String: Any]
        if !leaseId.isEmpty {
            let seconds = Self.integer(answer["lease_duration"]) ?? 0
            let duration = Duration.seconds(seconds)
            leases.append(
                Lease(
                    id: leaseId, duration: duration, renewable: answer["renewable"] as? Bool ?? false,
                    due: .now + duration / 2))
            fields = data
        } else if kvVersion2 {
            guard let inner = data["data"] as? [String: Any] else {
                // KV v2 answers a deleted or destroyed version with `data: null`.
                throw SecretError(.notFound, "the version of \(path) that \(reference) names is deleted or destroyed")
            }
            fields = inner
        } else {
            fields = data
        }
        return (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    /// A secrets engine mount as `sys/internal/ui/mounts/<path>` describes it.
    private struct Mount {
        var path: String
        var kvVersion: Int?
    }

    /// The mount `path` lies in, or nil when Vault would not say.
    private func mount(of path: String) async -> Mount? {
        let first = String(path.split(separator: "/").first ?? "")
        if let known = mounts[first] { return known }
        guard
            let response = try? await authenticated(
                .GET, "sys/internal/ui/mounts/" + path, body: nil, context: "looking up the mount of \(path)"),
            response.status.code == 200,
            let answer = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
            let data = answer["data"] as? [String: Any], let mountPath = data["path"] as? String
        else { return nil }
        let options = data["options"] as? [String: Any]
        let type = data["type"] as? String
        let version = (options?["version"] as? String).flatMap { Int($0) }
        let mount = Mount(path: mountPath, kvVersion: type == "kv" ? (version ?? 1) : nil)
        if mountPath.split(separator: "/").count == 1 { mounts[first] = mount }
        return mount
    }

    private func renew(leaseId: String) async {
        guard let lease = leases.first(where: { $0.id == leaseId }) else { return }
        let seconds = max(Int64(lease.duration.components.seconds), 1)
        let body = Self.json(["lease_id": lease.id, "increment": Int(seconds)])
        guard
            let response = try? await authenticated(.PUT, "sys/leases/renew", body: body, context: "renewing a lease"),
            response.status.code == 200,
            let answer = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]
        else {
            // Tried again soon; the lease itself still has time left.
            if let index = leases.firstIndex(where: { $0.id == leaseId }) { leases[index].due = .now + .seconds(2) }
            return
        }
        guard let index = leases.firstIndex(where: { $0.id == leaseId }) else { return }
        let granted = Duration.seconds(Self.integer(answer["lease_duration"]) ?? 0)
        statistics.leaseRenewals += 1
        // A lease at its max TTL is granted less than asked: it cannot be kept longer, so stop renewing it.
        leases[index].due = .now + granted / 2
        if granted < .seconds(2) { leases[index].renewable = false }
    }

    // MARK: Tokens

    /// An authenticated request: logs in when needed, and on a 403 logs in (or re-reads the token file) once and
    /// tries again.
    private func authenticated(
        _ method: HTTPMethod, _ path: String, body: Data?, context: String
    ) async throws -> VaultResponse {
        let token = try await currentToken(context: context)
        let response = try await send(method, path, body: body, token: token, context: context)
        guard response.status.code == 403 else { return response }
        self.token = nil
        let fresh = try await currentToken(context: context)
        return try await send(method, path, body: body, token: fresh, context: context)
    }

    /// The token to use now: read from the file, or obtained by login, and renewed when it is due.
    private func currentToken(context: String) async throws -> String {
        if case .tokenFile(let path) = configuration.authentication {
            let text = try await FileSecretProvider().resolve(SecretReference(store: .file, locator: path))
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else {
                throw SecretError(.unreadable, "the Vault token file \(path) is empty")
            }
            if text != token {
                token = text
                await lookUpToken(text)
            } else if let due = tokenDue, due <= .now {
                // A token that cannot be renewed (any more) is the file writer's to replace: looked at again soon.
                let renewed = tokenRenewable ? await renewToken(text) : false
                if !renewed { tokenDue = .now + .seconds(5) }
            }
            return text
        }
        if let token {
            guard let due = tokenDue, due <= .now else { return token }
            if tokenRenewable, await renewToken(token) { return token }
        }
        return try await logIn(context: context)
    }

    /// Learns a token file's token's TTL, so that it is renewed before it expires; best effort.
    private func lookUpToken(_ token: String) async {
        tokenDue = nil
        tokenRenewable = false
        guard
            let response = try? await send(
                .GET, "auth/token/lookup-self", body: nil, token: token, context: "looking up the Vault token"),
            response.status.code == 200,
            let answer = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
            let data = answer["data"] as? [String: Any]
        else { return }
        tokenRenewable = data["renewable"] as? Bool ?? false
        tokenDue = Self.due(ttl: Self.integer(data["ttl"]) ?? 0)
    }

    /// `renew-self`; false when Vault refused or granted too little to be worth keeping.
    @discardableResult
    private func renewToken(_ token: String) async -> Bool {
        guard
            let response = try? await send(
                .POST, "auth/token/renew-self", body: Self.json([:]), token: token, context: "renewing the Vault token"),
            response.status.code == 200,
            let answer = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
            let auth = answer["auth"] as? [String: Any]
        else { return false }
        let seconds = Self.integer(auth["lease_duration"]) ?? 0
        statistics.tokenRenewals += 1
        tokenRenewable = auth["renewable"] as? Bool ?? false
        tokenDue = Self.due(ttl: seconds)
        // At its max TTL a token is renewed for less each time: past a few seconds, a new login serves better.
        return seconds == 0 || seconds >= 3
    }

    private func logIn(context: String) async throws -> String {
        let mount: String
        let body: Data
        let method: String
        switch configuration.authentication {
        case .tokenFile:
            preconditionFailure("a token file needs no login")
        case .appRole(let appRoleMount, let roleIdReference, let secretIdReference):
            let roleId = try await credentials(roleIdReference)
            let secretId = try await credentials(secretIdReference)
            mount = appRoleMount
            method = "AppRole"
            body = Self.json(["role_id": roleId, "secret_id": secretId])
        case .kubernetes(let kubernetesMount, let role, let jwtFile):
            let jwt = try await FileSecretProvider().resolve(SecretReference(store: .file, locator: jwtFile))
                .trimmingCharacters(in: .whitespacesAndNewlines)
            mount = kubernetesMount
            method = "Kubernetes (role \(role))"
            body = Self.json(["role": role, "jwt": jwt])
        }
        let response = try await send(
            .POST, "auth/\(mount)/login", body: body, token: nil, context: "logging in to Vault for \(context)")
        guard response.status.code == 200 else {
            throw Self.failure(
                response, doing: "the \(method) login at auth/\(mount)/login",
                hint: response.status.code == 400 || response.status.code == 403
                    ? "; check the role and its credentials" : "")
        }
        guard let answer = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
            let auth = answer["auth"] as? [String: Any], let token = auth["client_token"] as? String
        else {
            throw SecretError(.invalidFormat, "Vault's answer to the \(method) login carries no token")
        }
        statistics.logins += 1
        self.token = token
        tokenRenewable = auth["renewable"] as? Bool ?? false
        tokenDue = Self.due(ttl: Self.integer(auth["lease_duration"]) ?? 0)
        return token
    }

    private static func due(ttl seconds: Int64) -> ContinuousClock.Instant? {
        guard seconds > 0 else { return nil }
        return .now + .seconds(seconds) * 2 / 3
    }

    // MARK: HTTP

    struct VaultResponse {
        var status: HTTPResponseStatus
        var body: Data
    }

    /// One request, retried briefly on 5xx, 429 and connection failures.
    private func send(
        _ method: HTTPMethod, _ path: String, body: Data?, token: String?, context: String
    ) async throws -> VaultResponse {
        let base =
            configuration.address.hasSuffix("/") ? String(configuration.address.dropLast()) : configuration.address
        var request = HTTPClientRequest(url: base + "/v1/" + path)
        request.method = method
        if let token { request.headers.add(name: "X-Vault-Token", value: token) }
        if let namespace = configuration.namespace { request.headers.add(name: "X-Vault-Namespace", value: namespace) }
        request.headers.add(name: "X-Vault-Request", value: "true")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        var delay = retryDelay
        var attempt = 1
        while true {
            do {
                let response = try await client.execute(request, timeout: timeout)
                let bytes = try await response.body.collect(upTo: 1024 * 1024)
                let answer = VaultResponse(status: response.status, body: Data(Array(buffer: bytes)))
                let code = answer.status.code
                guard (code >= 500 || code == 429) && attempt < 3 else { return answer }
            } catch {
                guard attempt < 3, !Task.isCancelled else {
                    let text = "\(error)"
                    let advice =
                        text.contains("CERTIFICATE_VERIFY_FAILED")
                        ? " (the server's certificate is not trusted: set the Vault CA bundle)" : ""
                    throw SecretError(
                        .unreadable,
                        "cannot reach Vault at \(configuration.address) while \(context): \(text)\(advice)")
                }
            }
            try await Task.sleep(for: delay)
            delay *= 2
            attempt += 1
        }
    }

    /// A refusal in words: the status, what Vault said (its error texts name paths and reasons, never values) and
    /// what to do.
    private static func failure(_ response: VaultResponse, doing what: String, hint: String) -> SecretError {
        let errors =
            ((try? JSONSerialization.jsonObject(with: response.body) as? [String: Any])?["errors"] as? [String]) ?? []
        let said = errors.isEmpty ? "" : ": " + errors.joined(separator: "; ").prefix(300)
        let code = response.status.code
        let advice: String
        switch code {
        case 403: advice = " (the token's policies do not allow it, or the login was refused)"
        case 400: advice = " (Vault found the request invalid)"
        case 429: advice = " (rate limited)"
        case 500...: advice = " (Vault is failing, sealed or in standby; try again later)"
        default: advice = ""
        }
        return SecretError(
            .unreadable, "Vault refused \(what): HTTP \(code)\(advice)\(said)\(hint)")
    }

    private static func json(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object)) ?? Data("{}".utf8)
    }

    private static func integer(_ value: Any?) -> Int64? {
        switch value {
        case let number as NSNumber: number.int64Value
        case let text as String: Int64(text)
        default: nil
        }
    }
}

/// `PATH[?version=N]`, as a `vault:` reference's locator writes it.
struct VaultLocator {
    var path: String
    var version: Int?

    init(parsing reference: SecretReference) throws {
        var text = reference.locator
        while text.hasPrefix("/") { text.removeFirst() }
        if text.hasPrefix("v1/") { text.removeFirst(3) }
        if let question = text.firstIndex(of: "?") {
            let query = text[text.index(after: question)...]
            text = String(text[..<question])
            for item in query.split(separator: "&") {
                let parts = item.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0] == "version", let number = Int(parts[1]), number > 0 else {
                    throw SecretError(
                        .invalidReference, "\(reference): the only query a vault: reference takes is ?version=N")
                }
                version = number
            }
        }
        guard !text.isEmpty, text.contains("/"), !text.split(separator: "/").contains("..") else {
            throw SecretError(
                .invalidReference, "\(reference) must name a path such as vault:secret/data/outpost/pg#password")
        }
        path = text
    }
}
