// The Agent module is the outbound-only daemon behind `outpost agent`: it claims runs from the control plane,
// keeps their leases, runs each job in an isolated child process (`outpost run-job`), and delivers what the job
// extracted — directly through pre-signed URLs or into the organisation's own bucket — with everything not yet
// acknowledged kept in an encrypted spool, and every run recorded in a hash-chained audit ledger.

internal import AWSSigV4
internal import AsyncHTTPClient
internal import Foundation
public import Logging
internal import Secrets

/// Builds a ready-to-run agent from its configuration.
public enum Agent {
    /// Prepares the data dir (identity, spool, ledger), the network and the control-plane client.
    ///
    /// - Parameters:
    ///   - jobExecutable: the `outpost` binary that runs `outpost run-job`; the configuration's
    ///     `jobs.executable` wins when set.
    ///   - localApprover: asked before each job whether its operator approves the job's source beyond the
    ///     configured policy (the quickstart's own connections); nil for every configured agent.
    /// - Throws: `AgentError` when the data dir, the spool key or the TLS files cannot be used.
    public static func make(
        configuration: AgentConfiguration, environment: [String: String], version: String, jobExecutable: String,
        metrics: AgentMetrics?, logger: Logger, localApprover: LocalSourceApprover? = nil
    ) async throws -> AgentRunner {
        // Job processes run in their own work dirs: every path handed to them must be absolute.
        var configuration = configuration
        if !configuration.dataDirectory.hasPrefix("/") {
            configuration.dataDirectory =
                FileManager.default.currentDirectoryPath + "/" + configuration.dataDirectory
        }
        let dataDirectory = configuration.dataDirectory
        do {
            try FileManager.default.createDirectory(
                atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw AgentError(.io, "cannot create the data dir \(dataDirectory): \(error)")
        }
        let agentId = try identity(dataDirectory: dataDirectory)
        let network = try OutboundNetwork(
            network: configuration.network, environment: environment, vault: configuration.secretStores.vault)
        do {
            return try await assemble(
                configuration: configuration, environment: environment, version: version, jobExecutable: jobExecutable,
                metrics: metrics, logger: logger, agentId: agentId, network: network, localApprover: localApprover)
        } catch {
            await network.shutdown()
            throw error
        }
    }

    private static func assemble(
        configuration: AgentConfiguration, environment: [String: String], version: String, jobExecutable: String,
        metrics: AgentMetrics?, logger: Logger, agentId: String, network: OutboundNetwork,
        localApprover: LocalSourceApprover?
    ) async throws -> AgentRunner {
        let dataDirectory = configuration.dataDirectory
        let resolver = try secretResolver(configuration: configuration, environment: environment, network: network)
        let keys = APIKeyProvider(
            reference: configuration.controlPlane.apiKey, resolver: resolver,
            refreshInterval: configuration.controlPlane.keyRefreshInterval,
            retryInterval: configuration.controlPlane.keyRetryInterval)
        let spoolKey: [UInt8]
        do {
            if let reference = configuration.spool.key {
                let text = try await resolver.resolve(reference).trimmingWhitespace
                guard let bytes = Data(base64Encoded: text), bytes.count == 32 else {
                    throw AgentError(.invalidConfiguration, "the spool key at \(reference) must be 32 bytes in base64")
                }
                spoolKey = Array(bytes)
            } else {
                spoolKey = try SpoolKey.loadOrCreate(at: dataDirectory + "/spool.key")
            }
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(.io, "cannot load the spool key: \(error)")
        }
        let spool: Spool
        let audit: AuditLedger
        do {
            spool = try Spool(
                directory: dataDirectory + "/spool", key: spoolKey, capBytes: configuration.spool.capBytes)
            audit = try AuditLedger(path: dataDirectory + "/audit.jsonl")
        } catch {
            throw AgentError(.io, "cannot open the spool or the audit ledger in \(dataDirectory): \(error)")
        }
        if let torn = audit.recoveredTail {
            logger.warning(
                "audit.torn_tail",
                metadata: [
                    "audit.path": .string(audit.path), "audit.torn_path": .string(torn),
                    "reason": "the ledger ended in an entry a crash cut short; its bytes were moved aside",
                ])
        }
        let client = ControlPlaneClient(
            baseURL: configuration.controlPlane.url, keys: keys, network: network,
            requestTimeout: configuration.controlPlane.requestTimeout, version: version, agentId: agentId)
        // The job's output is masked for the API key too, whatever the job does with its environment.
        let apiKey = try? await keys.key()
        var context = AgentContext(
            configuration: configuration, agentId: agentId, version: version, client: client, network: network,
            spool: spool, spoolKey: spoolKey, audit: audit, metrics: metrics,
            jobExecutable: configuration.jobs.executable ?? jobExecutable, environment: environment,
            limits: JobProcess.Limits(
                addressSpaceBytes: configuration.jobs.addressSpaceBytes, cpuSeconds: configuration.jobs.cpuSeconds,
                openFiles: configuration.jobs.openFiles, fileSizeBytes: configuration.jobs.fileSizeBytes),
            redactor: Redactor(secrets: apiKey.map { [$0] } ?? []),
            relayCredentials: .init(configuration: configuration, resolver: resolver), logger: logger)
        context.localApprover = localApprover
        if configuration.jobs.executor == .argo, let settings = configuration.jobs.argo {
            context.argo = try ArgoExecutor.make(
                settings: settings, dataDirectory: dataDirectory, environment: environment, logger: logger)
        }
        return AgentRunner(context: context, keys: keys)
    }

    /// The secret stores the agent itself reads (its API key, the spool key): files, environment, AWS Secrets
    /// Manager (through the proxy, when one is set), configured commands, Kubernetes Secrets and Vault, when
    /// configured.
    ///
    /// - Parameter readsOncePerLocator: for one piece of work that ends with `revokeLeases()` (a preflight source
    ///   check): each Vault path is read once, so one dynamic credential's username and password match.
    /// - Parameter hostCheck: called by the Secret Manager and Key Vault providers with every URL before they
    ///   request it (a preflight source check passes the policy's host check, as a job's resolver has).
    static func secretResolver(
        configuration: AgentConfiguration, environment: [String: String], network: OutboundNetwork,
        readsOncePerLocator: Bool = false, hostCheck: @escaping @Sendable (String) throws -> Void = { _ in }
    ) throws
        -> SecretResolver
    {
        let commands: CommandSecretProvider
        do {
            commands = try CommandSecretProvider(
                commands: configuration.secretStores.commands.mapValues {
                    .init(executable: $0.path, arguments: $0.arguments, timeout: $0.timeout)
                })
        } catch {
            throw AgentError(.invalidConfiguration, "secretStores.commands: \(error)")
        }
        var base: [any SecretProvider] = [
            EnvironmentSecretProvider(), FileSecretProvider(),
            AWSSecretsManagerSecretProvider(
                clientForHost: { network.serviceClient(for: $0) }, environment: AWSEnvironment(environment)),
            commands,
            KubernetesSecretProvider(
                access: KubernetesAccess.configured(
                    kubeconfig: configuration.secretStores.kubernetes.kubeconfig, environment: environment)),
        ]
        let google = configuration.secretStores.google ?? GoogleSecretManagerSettings()
        let keys = SecretResolver(providers: base)
        base.append(
            GoogleSecretManagerSecretProvider(
                settings: google, clientForHost: { network.serviceClient(for: $0) },
                credentials: { try await keys.resolve($0) }, hostCheck: hostCheck, environment: environment))
        base.append(
            AzureKeyVaultSecretProvider(
                settings: configuration.secretStores.azure ?? AzureKeyVaultSettings(),
                clientForHost: { network.serviceClient(for: $0) },
                credentials: { try await keys.resolve($0) }, hostCheck: hostCheck, environment: environment))
        guard let vault = configuration.secretStores.vault else { return SecretResolver(providers: base) }
        // The agent's own secrets are read anew each time (its API key rotates), so nothing is kept between reads.
        let credentials = SecretResolver(providers: base)
        return SecretResolver(
            providers: base + [
                VaultSecretProvider(
                    configuration: vault, client: network.vaultClient(for: vault),
                    credentials: { try await credentials.resolve($0) }, readsOncePerLocator: readsOncePerLocator)
            ])
    }

    /// The agent's id as its data dir holds it, without creating one (nil before the agent's first start).
    public static func storedIdentity(dataDirectory: String) -> String? {
        guard let data = FileManager.default.contents(atPath: dataDirectory + "/agent-id") else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingWhitespace
        return text.isEmpty ? nil : text
    }

    /// The agent's stable id, created once in the data dir.
    static func identity(dataDirectory: String) throws -> String {
        let path = dataDirectory + "/agent-id"
        if let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).trimmingWhitespace
            guard !text.isEmpty, text.count <= 64,
                text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
            else {
                throw AgentError(.io, "\(path) does not hold a valid agent id; remove it to get a new one")
            }
            return text
        }
        let id = "agt_" + UUID().uuidString.lowercased().filter { $0 != "-" }
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(id.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw AgentError(.io, "cannot write \(path)")
        }
        return id
    }
}
