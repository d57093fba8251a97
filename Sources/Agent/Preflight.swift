internal import Connectors
internal import Foundation
internal import Logging
public import OutpostProtocol
internal import Relay
internal import Secrets

#if canImport(Glibc)
    internal import Glibc
#endif

/// `outpost agent --check`: verifies from inside the network what the agent will need — its data dir, its API
/// key's store, the control plane over TLS (through the proxy when one is set) accepting the key, and every
/// egress host resolving — printing one line per check; and, for each source given with `--source`, the whole way a
/// job would go to it: the local policy, its secrets, the proxy, the connection and the authentication; and for each
/// relay bucket given with `--relay`, the way a delivery would reach it, writing nothing.
public struct Preflight: Sendable {
    /// A source to reach as a job would (`--source URL`, with `--secret ROLE=REFERENCE` for each secret its
    /// connection names).
    public struct Source: Sendable {
        public var url: String
        public var secrets: [String: String]

        public init(url: String, secrets: [String: String] = [:]) {
            self.url = url
            self.secrets = secrets
        }
    }

    public let configuration: AgentConfiguration
    public let environment: [String: String]
    public let sources: [Source]
    /// Relay buckets to check as a delivery would reach them (`--relay`), writing nothing.
    public let relays: [RelayTarget]

    public init(
        configuration: AgentConfiguration, environment: [String: String], sources: [Source] = [],
        relays: [RelayTarget] = []
    ) {
        self.configuration = configuration
        self.environment = environment
        self.sources = sources
        self.relays = relays
    }

    /// Runs every check (each independent of the others' outcome); returns whether all passed.
    public func run(print: @Sendable (String) -> Void = { Swift.print($0) }) async -> Bool {
        var passed = true
        func report(_ ok: Bool, _ name: String, _ detail: String) {
            print("\(ok ? "ok  " : "FAIL") \(name): \(detail)")
            if !ok { passed = false }
        }
        let dataDirectory = configuration.dataDirectory
        do {
            try FileManager.default.createDirectory(
                atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            report(
                FileManager.default.isWritableFile(atPath: dataDirectory), "data dir",
                FileManager.default.isWritableFile(atPath: dataDirectory)
                    ? "\(dataDirectory) is writable" : "\(dataDirectory) is not writable by this user")
        } catch {
            report(false, "data dir", "cannot create \(dataDirectory): \(error)")
        }

        let network: OutboundNetwork
        do {
            network = try OutboundNetwork(
                network: configuration.network, environment: environment, vault: configuration.secretStores.vault)
        } catch {
            report(false, "network", "\(error)")
            return false
        }
        let resolver: SecretResolver
        do {
            resolver = try Agent.secretResolver(
                configuration: configuration, environment: environment, network: network)
        } catch {
            report(false, "secret stores", "\(error)")
            await network.shutdown()
            return false
        }
        let reference = configuration.controlPlane.apiKey
        var keyReadable = false
        do {
            let key = try await resolver.resolve(reference)
            keyReadable = !key.trimmingWhitespace.isEmpty
            report(keyReadable, "api key", keyReadable ? "read from \(reference)" : "\(reference) is empty")
        } catch {
            report(false, "api key", "cannot read \(reference): \(error)")
        }

        let host = URLComponents(string: configuration.controlPlane.url)?.plainHost ?? ""
        if let proxy = network.proxy {
            let bypass = OutboundNetwork.bypassesProxy(host: host, noProxy: network.noProxy)
            report(
                true, "proxy",
                "\(proxy.host):\(proxy.port)\(proxy.username == nil ? "" : " with basic auth")"
                    + (bypass ? " (not used for \(host): NO_PROXY)" : " (used for \(host))"))
        }
        if keyReadable {
            let keys = APIKeyProvider(
                reference: reference, resolver: resolver, refreshInterval: .seconds(3600), retryInterval: .seconds(1))
            let agentId = (try? Agent.identity(dataDirectory: dataDirectory)) ?? "preflight"
            let client = ControlPlaneClient(
                baseURL: configuration.controlPlane.url, keys: keys, network: network,
                requestTimeout: configuration.controlPlane.requestTimeout, version: "preflight", agentId: agentId)
            do {
                let response = try await client.heartbeat(
                    HeartbeatRequest(
                        agentId: agentId, agentName: configuration.name, version: "preflight", state: .idle,
                        runningLeases: [], freeSlots: 0))
                let tls = configuration.controlPlane.url.lowercased().hasPrefix("https") ? "TLS ≥ 1.2, " : ""
                report(
                    true, "control plane",
                    "\(configuration.controlPlane.url) reachable (\(tls)key accepted, server minimum agent version "
                        + "\(response.minimumAgentVersion))")
            } catch {
                report(false, "control plane", "\(configuration.controlPlane.url): \(error)")
            }
        }

        for entry in configuration.policy.allowedHosts where !entry.contains("*") && !entry.contains("/") {
            let name = Self.hostPart(entry)
            if let addresses = Self.resolve(name), !addresses.isEmpty {
                report(true, "egress host \(entry)", "resolves to \(addresses.prefix(3).joined(separator: ", "))")
            } else {
                report(false, "egress host \(entry)", "\(name) does not resolve")
            }
        }
        if configuration.policy.allowedSources.isEmpty {
            report(false, "policy", "policy.allowedSources is empty: every job will be refused")
        } else {
            report(true, "policy", "\(configuration.policy.allowedSources.count) source pattern(s) allowed")
        }
        if let vault = configuration.secretStores.vault {
            let (ok, detail) = await check(vault, resolver: resolver, network: network)
            report(ok, "vault", detail)
        }
        if let google = configuration.secretStores.google {
            let (ok, detail) = await check(google, resolver: resolver, network: network)
            report(ok, "google secret manager", detail)
        }
        if let azure = configuration.secretStores.azure {
            let provider = AzureKeyVaultSecretProvider(
                settings: azure, clientForHost: { network.serviceClient(for: $0) },
                credentials: { try await resolver.resolve($0) },
                hostCheck: hostCheck("jobs could not read azure-kv: references: "), environment: environment)
            do {
                report(true, "azure key vault", try await provider.checkAccess())
            } catch {
                report(false, "azure key vault", "\(error)")
            }
        }
        for target in relays {
            let delivery = RelayDelivery(
                target: target, network: network, policy: configuration.policy, environment: environment,
                controlPlaneHost: host, folder: "", key: [],
                credentials: .init(configuration: configuration, resolver: resolver),
                logger: Logger(label: "outpost.preflight"))
            do {
                report(true, "relay \(target.location(target.folder))", try await delivery.check())
            } catch {
                report(false, "relay \(target.location(target.folder))", "\(error)")
            }
        }
        for source in sources {
            // A resolver of its own per source, as a job has: one read per Vault path, its leases revoked after.
            let jobResolver =
                (try? Agent.secretResolver(
                    configuration: configuration, environment: environment, network: network,
                    readsOncePerLocator: true, hostCheck: hostCheck(""))) ?? resolver
            let (ok, detail) = await check(source, resolver: jobResolver, network: network)
            await jobResolver.revokeLeases()
            report(ok, "source \(JobRunner.credentialFree(source.url))", detail)
        }
        await network.shutdown()
        return passed
    }

    /// One source the way a job reaches it: refused by the policy, its secrets unreadable, or the connector's own
    /// check (connect, authenticate, one cheap read) through the proxy; secret values are masked in what it says.
    private func check(
        _ source: Source, resolver: SecretResolver, network: OutboundNetwork
    ) async -> (ok: Bool, detail: String) {
        let policy: EgressPolicy
        let secretPolicy: SecretPolicy
        let transport: SourceTransportPolicy
        do {
            policy = try EgressPolicy(
                allowedHosts: configuration.policy.allowedHosts, allowedSources: configuration.policy.allowedSources)
            secretPolicy = try SecretPolicy(
                allowedSecrets: configuration.policy.allowedSecrets,
                protected: SecretPolicy.Protected(configuration: configuration, environment: environment))
            transport = try SourceTransportPolicy(
                unverifiedSources: configuration.policy.unverifiedSources,
                cleartextPasswordSources: configuration.policy.cleartextPasswordSources)
        } catch {
            return (false, "the local policy is invalid: \(error)")
        }
        let decision = policy.checkSource(source.url)
        guard decision.allowed else { return (false, "a job would be refused: \(decision.reason)") }
        var secrets = JobRunner.ResolvedSecrets()
        var values: [String] = []
        for (role, text) in source.secrets.sorted(by: { $0.key < $1.key }) {
            do {
                try JobRunner.ResolvedSecrets.checkRole(role)
                let (secretDecision, read) = secretPolicy.check(try SecretReference(parsing: text))
                guard secretDecision.allowed else { return (false, "a job would be refused: \(secretDecision.reason)") }
                let value = try await resolver.resolve(read)
                values += JobRunner.ResolvedSecrets.maskedForms(role: role, value: value)
                try secrets.set(role, value)
            } catch {
                return (false, "cannot read the \(role) secret \(text): \(error)")
            }
        }
        let redactor = Redactor(secrets: values)
        do {
            let resolved = try SourceLocation.resolve(
                source.url, username: secrets.username, password: secrets.password, environment: environment,
                snowflake: try secrets.snowflakeCredentials(), tableau: try secrets.tableauCredentials(),
                queryTag: "outpost agent --check")
            let connector = JobRunner.checkingOpenedFile(
                network.settings.applied(to: try transport.applied(to: resolved.connector, url: source.url)),
                policy: policy)
            let reached = try await connector.check(
                logger: Logger(label: "outpost.preflight") { _ in SwiftLogNoOpLogHandler() })
            return (true, "\(reached); \(decision.reason)")
        } catch {
            return (false, redactor.redact("\(error)"))
        }
    }

    /// Checks each URL a secret store's provider requests (the secret service, the token endpoint, the metadata
    /// server or managed identity endpoint) against `policy.allowedHosts`, as a job's providers do; a refusal says
    /// `consequence` first.
    private func hostCheck(_ consequence: String) -> @Sendable (String) throws -> Void {
        let policy = try? EgressPolicy(
            allowedHosts: configuration.policy.allowedHosts, allowedSources: configuration.policy.allowedSources)
        return { url in
            guard let decision = policy?.checkURL(url), !decision.allowed else { return }
            throw AgentError(.policyDenied, consequence + decision.reason)
        }
    }

    /// The Vault server: allowed by the local policy (jobs read from it) and accepting the agent's login.
    /// Google Secret Manager as a job reaches it: every endpoint allowed by the policy and a token for the identity;
    /// no secret is read.
    private func check(
        _ google: GoogleSecretManagerSettings, resolver: SecretResolver, network: OutboundNetwork
    ) async -> (ok: Bool, detail: String) {
        let provider = GoogleSecretManagerSecretProvider(
            settings: google, clientForHost: { network.serviceClient(for: $0) },
            credentials: { try await resolver.resolve($0) },
            hostCheck: hostCheck("jobs could not read gcp-sm: references: "), environment: environment)
        do {
            return (true, try await provider.checkAccess())
        } catch {
            return (false, "\(error)")
        }
    }

    private func check(
        _ vault: VaultConfiguration, resolver: SecretResolver, network: OutboundNetwork
    ) async -> (ok: Bool, detail: String) {
        let host = VaultEndpoint.host(vault.address)
        let port = VaultEndpoint.port(vault.address)
        if let policy = try? EgressPolicy(
            allowedHosts: configuration.policy.allowedHosts, allowedSources: configuration.policy.allowedSources),
            !policy.checkHost(host: host, port: port).allowed
        {
            return (false, "\(host):\(port) is not in policy.allowedHosts: jobs could not read vault: references")
        }
        let provider = VaultSecretProvider(
            configuration: vault, client: network.vaultClient(for: vault),
            credentials: { try await resolver.resolve($0) }, readsOncePerLocator: true)
        let result: (ok: Bool, detail: String)
        do {
            result = (true, "\(vault.address): " + (try await provider.checkAccess()))
        } catch {
            result = (false, "\(vault.address): \(error)")
        }
        // The token it logged in for is of no further use.
        await provider.revokeLeases()
        return result
    }

    /// `host:port`, `[v6]:port` or a bare host → the host.
    static func hostPart(_ entry: String) -> String {
        if entry.hasPrefix("["), let end = entry.firstIndex(of: "]") {
            return String(entry[entry.index(after: entry.startIndex)..<end])
        }
        if entry.filter({ $0 == ":" }).count == 1, let colon = entry.firstIndex(of: ":") {
            return String(entry[..<colon])
        }
        return entry
    }

    static func resolve(_ host: String) -> [String]? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(
                info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST)
                == 0
            {
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !addresses.contains(text) { addresses.append(text) }
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }
}
