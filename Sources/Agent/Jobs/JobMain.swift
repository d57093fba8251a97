internal import AWSSigV4
internal import AsyncHTTPClient
internal import Connectors
internal import Foundation
internal import Logging
internal import Metadata
internal import OutpostProtocol
internal import Secrets
internal import UnixSignals

#if canImport(Glibc)
    internal import Glibc
#endif

/// The job process (`outpost run-job`): reads its envelope from stdin, checks the source against local policy,
/// resolves the job's secret references, extracts into the spool, and leaves `result.json` beside the files.
///
/// Everything it prints goes to stdout through a redactor that knows every secret it resolved; the agent ships
/// those lines as the run's log. Exit status: 0 succeeded, 2 partial, 3 denied by policy, 1 failed.
public enum JobMain {
    public static let exitSucceeded: Int32 = 0
    public static let exitFailed: Int32 = 1
    public static let exitPartial: Int32 = 2
    public static let exitDenied: Int32 = 3

    /// Runs the job described on stdin — or in `envelopeFile`, where a Kubernetes pod finds it mounted from the
    /// run's Secret — and returns the exit status.
    public static func run(
        environment: [String: String], json: Bool = false, envelopeFile: String? = nil
    ) async
        -> Int32
    {
        let secrets = LineLogHandler.Secrets()
        var logger = Logger(label: "outpost.job") { label in
            LineLogHandler(label: label, level: .info, secrets: secrets, json: json, descriptor: STDOUT_FILENO)
        }
        logger.logLevel = .info
        let envelope: JobEnvelope
        do {
            let input: Data
            if let envelopeFile {
                guard let handle = FileHandle(forReadingAtPath: envelopeFile) else {
                    throw AgentError(.job, "the job envelope file \(envelopeFile) does not exist or is unreadable")
                }
                defer { try? handle.close() }
                input = try handle.read(upToCount: 4 * 1024 * 1024 + 1) ?? Data()
            } else {
                input = FileHandle.standardInput.readDataToEndOfFile()
            }
            guard input.count <= 4 * 1024 * 1024 else { throw AgentError(.job, "the job envelope exceeds 4 MiB") }
            envelope = try JSONDecoder().decode(JobEnvelope.self, from: input)
        } catch {
            logger.error("job.invalid_envelope", metadata: ["error": "\(error)"])
            return exitFailed
        }
        logger[metadataKey: "run.id"] = .string(envelope.runId)
        guard let key = Data(base64Encoded: envelope.sealingKey), key.count == 32 else {
            logger.error("job.invalid_envelope", metadata: ["error": "the sealing key is not 32 bytes of base64"])
            return exitFailed
        }
        let runner = JobRunner(
            envelope: envelope, sealingKey: Array(key), environment: environment, secrets: secrets, logger: logger)
        // Only a source with work to end on its side (a running Snowflake statement) takes SIGTERM as a request to
        // stop; the others keep SIGTERM's default, ending at once, so a job told to stop never writes on.
        // Tableau's session is signed out on the way out, so that the token's one session is not left open.
        // A job holding Vault leases takes it that way too, so that they are revoked on the way out.
        let sourceURL = envelope.job.sourceURL.lowercased()
        let leasesSecrets = envelope.job.secrets.values.contains {
            $0.hasPrefix(SecretReference.Store.vault.rawValue + ":")
        }
        let result =
            sourceURL.hasPrefix("snowflake:") || sourceURL.hasPrefix("tableau:") || leasesSecrets
            ? await runUntilTerminated(runner, logger: logger) : await runner.run()
        do {
            try runner.writeResult(result)
        } catch {
            logger.error("job.result_unwritable", metadata: ["error": "\(error)"])
            return exitFailed
        }
        switch result.outcome {
        case .succeeded: return exitSucceeded
        case .partial: return exitPartial
        case .denied: return exitDenied
        case .failed: return exitFailed
        }
    }
}

extension JobMain {
    /// Runs the job; SIGTERM (the agent stopping it: cancelled, timed out, shutting down) cancels the work instead of
    /// killing the process, so the connector can end what it started on the source (a Snowflake statement is
    /// cancelled there). The process exits at the latest `terminationGrace` after the signal, whatever the work does.
    static func runUntilTerminated(
        _ runner: JobRunner, logger: Logger, terminationGrace: Duration = .seconds(5)
    ) async -> JobResult {
        let terminations = await UnixSignalsSequence(trapping: .sigterm)
        return await withTaskGroup(of: JobResult?.self) { group in
            group.addTask { await runner.run() }
            group.addTask {
                for await _ in terminations { return nil }
                return nil
            }
            var result: JobResult?
            while let next = await group.next() {
                if let next {
                    result = next
                } else if result == nil {
                    logger.notice("job.terminating", metadata: ["reason": "SIGTERM"])
                    group.cancelAll()
                    group.addTask {
                        // Cancellation is cooperative: work that does not notice it must not outlive the grace.
                        try? await Task.sleep(for: terminationGrace)
                        if !Task.isCancelled { exit(exitFailed) }
                        return nil
                    }
                    continue
                }
                group.cancelAll()
            }
            return result
                ?? JobResult(
                    outcome: .failed, error: "the job was stopped",
                    source: JobRunner.credentialFree(runner.envelope.job.sourceURL))
        }
    }
}

/// One job's work inside the job process.
struct JobRunner {
    let envelope: JobEnvelope
    let sealingKey: [UInt8]
    let environment: [String: String]
    let secrets: LineLogHandler.Secrets
    let logger: Logger

    private var job: JobSpec { envelope.job }

    func run() async -> JobResult {
        // The job's own HTTPS calls (AWS Secrets Manager, a Snowflake account) go through the agent's proxy.
        let services = envelope.proxy?.proxy.map { OutboundNetwork.serviceClient(proxy: $0) }
        let source = Self.credentialFree(job.sourceURL)
        let policy: EgressPolicy
        let secretPolicy: SecretPolicy
        do {
            policy = try EgressPolicy(allowedHosts: envelope.allowedHosts, allowedSources: envelope.allowedSources)
            secretPolicy = try SecretPolicy(
                allowedSecrets: envelope.allowedSecrets, protected: envelope.protectedSecrets)
        } catch {
            try? await services?.shutdown()
            return JobResult(outcome: .failed, error: "the agent's local policy is invalid: \(error)", source: source)
        }
        let vaultClient: HTTPClient?
        let resolver: SecretResolver
        do {
            vaultClient = try envelope.vault.map { try OutboundNetwork.vaultClient($0, proxy: envelope.proxy) }
            do {
                resolver = try self.resolver(
                    services: services, vaultClient: vaultClient, policy: policy, secretPolicy: secretPolicy)
            } catch {
                try? await vaultClient?.shutdown()
                throw error
            }
        } catch {
            try? await services?.shutdown()
            logger.error("job.failed", metadata: ["error": "\(error)"])
            return JobResult(outcome: .failed, error: "\(error)", source: source)
        }
        let result = await withTaskGroup(of: JobResult?.self) { group in
            group.addTask { await run(resolver: resolver, policy: policy, secretPolicy: secretPolicy) }
            group.addTask {
                // Returns once the job is stopped (SIGTERM cancels it): the leases are revoked then, before the work
                // notices, as work blocked on its source may not notice before the process is made to exit.
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                return nil
            }
            var result: JobResult?
            while let next = await group.next() {
                if let next {
                    result = next
                    group.cancelAll()
                } else if result == nil {
                    await resolver.revokeLeases()
                }
            }
            return result
                ?? JobResult(outcome: .failed, error: "the job was stopped", source: Self.credentialFree(job.sourceURL))
        }
        // Every path ends here, failed and cancelled runs too: dynamic credentials stop working with the run.
        await resolver.revokeLeases()
        try? await vaultClient?.shutdown()
        try? await services?.shutdown()
        return result
    }

    private func run(resolver: SecretResolver, policy: EgressPolicy, secretPolicy: SecretPolicy) async -> JobResult {
        let source = Self.credentialFree(job.sourceURL)
        let decision = policy.checkSource(job.sourceURL)
        guard decision.allowed else {
            logger.error("job.egress_denied", metadata: ["source": "\(source)", "reason": "\(decision.reason)"])
            return JobResult(outcome: .denied, error: decision.reason, policy: decision.reason, source: source)
        }
        logger.info("job.started", metadata: ["source": "\(source)", "attempt": "\(envelope.attempt)"])
        do {
            let filters = try ExtractionFilters(
                includeDatabases: job.filters.includeDatabases, excludeDatabases: job.filters.excludeDatabases,
                includeSchemas: job.filters.includeSchemas, excludeSchemas: job.filters.excludeSchemas,
                includeTables: job.filters.includeTables, excludeTables: job.filters.excludeTables,
                excludeKinds: job.filters.excludeKinds,
                excludeFields: Array(Set(job.filters.excludeFields + envelope.excludeFields)))
            let resolvedSecrets = try await resolveSecrets(
                policy: policy, secretPolicy: secretPolicy, resolver: resolver)
            let resolved = try SourceLocation.resolve(
                job.sourceURL, username: resolvedSecrets.username, password: resolvedSecrets.password,
                environment: environment,
                snowflake: try resolvedSecrets.snowflakeCredentials(),
                tableau: try resolvedSecrets.tableauCredentials(),
                queryTag: "outpost connection=\(job.connectionName) run=\(envelope.runId)")
            let connector = try SourceTransportPolicy(
                unverifiedSources: envelope.unverifiedSources,
                cleartextPasswordSources: envelope.cleartextPasswordSources
            ).applied(to: resolved.connector, url: job.sourceURL)
            let extraction = Extraction(
                connector: Self.checkingOpenedFile(envelope.proxy?.applied(to: connector) ?? connector, policy: policy),
                scope: ExtractionScope(connection: job.connectionName, filters: filters),
                folder: ExtractionFolder(path: envelope.outputDirectory, sealingKey: sealingKey))
            let manifest = try await Self.keepingLeases(of: resolver) {
                try await extraction.run(progress: ExtractionProgress(), logger: logger)
            }
            let records = manifest.files.reduce(0) { $0 + $1.records }
            let incomplete = manifest.completeness.filter { !$0.complete }
            for entry in incomplete {
                logger.warning(
                    "job.incomplete",
                    metadata: ["scope": "\(entry.qualifiedName)", "reason": "\(entry.reason ?? "not read")"])
            }
            logger.info(
                "job.extracted",
                metadata: ["records": "\(records)", "files": "\(manifest.files.count)", "status": "\(manifest.status)"])
            return JobResult(
                outcome: manifest.status == .complete ? .succeeded : .partial, policy: decision.reason,
                records: records, source: source)
        } catch let denial as LocalPolicyDenied {
            logger.error("job.egress_denied", metadata: ["source": "\(source)", "reason": "\(denial.reason)"])
            return JobResult(outcome: .denied, error: denial.reason, policy: denial.reason, source: source)
        } catch {
            let message = secrets.redact("\(error)")
            logger.error("job.failed", metadata: ["error": "\(message)"])
            return JobResult(outcome: .failed, error: message, policy: decision.reason, source: source)
        }
    }

    /// A file source checked again against the policy once it is open, by the path of the file actually opened:
    /// the check before the job names a path, and the path could be re-pointed before the open.
    static func checkingOpenedFile(_ connector: any Connector, policy: EgressPolicy) -> any Connector {
        guard var sqlite = connector as? SQLiteConnector else { return connector }
        sqlite.openedFileCheck = { openedPath in
            let decision = policy.checkOpenedFile(scheme: "sqlite", path: openedPath)
            guard decision.allowed else {
                throw LocalPolicyDenied(reason: "the file opened for this source is \(openedPath): " + decision.reason)
            }
        }
        return sqlite
    }

    /// The local policy refused what the job asked for: the file a source opened, a secret, a transport.
    struct LocalPolicyDenied: Error {
        var reason: String
    }

    /// The secrets a job's source uses, by role.
    struct ResolvedSecrets {
        /// The roles a job may name: `username` and `password` (PostgreSQL; a username overrides the source URL's
        /// user, as dynamic database credentials bring their own); `privateKey`, `privateKeyPassphrase`, `token`
        /// (Snowflake); `patName`, `patSecret` (Tableau).
        static let roles = [
            "username", "password", "privateKey", "privateKeyPassphrase", "token", "patName", "patSecret",
        ]

        var username: String?
        var password: String?
        var privateKey: String?
        var privateKeyPassphrase: String?
        var token: String?
        var patName: String?
        var patSecret: String?

        /// - Throws: `AgentError` `.job` for a role this agent does not know, before anything is resolved for it.
        static func checkRole(_ role: String) throws {
            guard roles.contains(role) else {
                throw AgentError(
                    .job,
                    "the job names a secret for role '\(role)'; this agent knows "
                        + roles.map { "'\($0)'" }.joined(separator: ", "))
            }
        }

        /// What to mask for a secret: the value, and for a private key each line of its PEM body too, in case a
        /// library ever prints a key line by line.
        static func maskedForms(role: String, value: String) -> [String] {
            // A token's name and a user name are not secrets: they stay readable in messages about them.
            if role == "patName" || role == "username" { return [] }
            guard role == "privateKey" else { return [value] }
            return [value]
                + value.split(whereSeparator: \.isNewline).filter { $0.count >= 16 && !$0.hasPrefix("-----") }.map(
                    String.init)
        }

        /// Sets the secret of `role`.
        /// - Throws: `AgentError` `.job` for a role this agent does not know.
        mutating func set(_ role: String, _ value: String) throws {
            try Self.checkRole(role)
            switch role {
            case "username": username = value
            case "password": password = value
            case "privateKey": privateKey = value
            case "privateKeyPassphrase": privateKeyPassphrase = value
            case "patName": patName = value
            case "patSecret": patSecret = value
            default: token = value
            }
        }

        /// The Tableau personal access token the roles make up, if any.
        func tableauCredentials() throws -> TableauCredentials? {
            switch (patName, patSecret) {
            case (let name?, let secret?): return TableauCredentials(patName: name, patSecret: secret)
            case (nil, nil): return nil
            default: throw AgentError(.job, "a Tableau token needs both a patName and a patSecret secret")
            }
        }

        /// The Snowflake credentials the roles make up, if any.
        func snowflakeCredentials() throws -> SnowflakeCredentials? {
            if let privateKey {
                guard token == nil else {
                    throw AgentError(.job, "the job names both a privateKey and a token secret; name one of them")
                }
                return .keyPair(privateKeyPEM: privateKey, passphrase: privateKeyPassphrase)
            }
            if privateKeyPassphrase != nil {
                throw AgentError(.job, "the job names a privateKeyPassphrase secret but no privateKey secret")
            }
            return token.map { .token($0) }
        }
    }

    /// Resolves every secret reference of the job; each value is masked in every line the job prints from then on.
    ///
    /// One resolver serves the whole job, so a username and a password picked from one Vault dynamic credential
    /// come from one read, and one lease.
    ///
    /// Every reference is checked against the local secret policy before any is resolved.
    private func resolveSecrets(
        policy: EgressPolicy, secretPolicy: SecretPolicy, resolver: SecretResolver
    ) async throws -> ResolvedSecrets {
        var checked: [(role: String, reference: SecretReference, read: SecretReference)] = []
        for (role, text) in job.secrets.sorted(by: { $0.key < $1.key }) {
            try ResolvedSecrets.checkRole(role)
            let reference = try SecretReference(parsing: text)
            let (decision, read) = secretPolicy.check(reference)
            guard decision.allowed else { throw LocalPolicyDenied(reason: decision.reason) }
            checked.append((role, reference, read))
        }
        var result = ResolvedSecrets()
        for (role, reference, read) in checked {
            try checkStore(of: read, policy: policy)
            let value = try await resolver.resolve(read)
            for form in ResolvedSecrets.maskedForms(role: role, value: value) { secrets.add(form) }
            logger.info("job.secret_resolved", metadata: ["role": "\(role)", "reference": "\(reference)"])
            try result.set(role, value)
        }
        return result
    }

    /// The remote secret store a reference names must be a host the local policy allows.
    private func checkStore(of reference: SecretReference, policy: EgressPolicy) throws {
        let host: String
        let port: Int
        switch reference.store {
        case .awsSecretsManager:
            let aws = AWSEnvironment(environment)
            let region = aws.region ?? "us-east-1"
            let endpoint = aws.endpoint(
                serviceEnvironmentName: "SECRETS_MANAGER", host: "secretsmanager.\(region).amazonaws.com",
                region: region)
            let components = URLComponents(string: endpoint)
            host = components?.plainHost ?? endpoint
            port = components?.port ?? (components?.scheme == "http" ? 80 : 443)
        case .vault:
            guard let vault = envelope.vault else {
                throw AgentError(
                    .job, "the job names \(reference), but this agent has no Vault server (secretStores.vault)")
            }
            host = VaultEndpoint.host(vault.address)
            port = VaultEndpoint.port(vault.address)
        case .env, .file, .command, .kubernetes, .gcpSecretManager, .azureKeyVault:
            // Google's and Azure's providers check each URL they request (the secret service, the token endpoint,
            // the metadata server or managed identity endpoint).
            // The Kubernetes API server is checked by its provider once its address is known (a kubeconfig's).
            return
        }
        let decision = policy.checkHost(host: host, port: port)
        guard decision.allowed else { throw AgentError(.policyDenied, decision.reason) }
    }

    /// The job's secret stores: environment, files (never the agent's own), AWS Secrets Manager, commands and
    /// Kubernetes Secrets, and Vault when the agent has one (its AppRole credentials read from the other stores).
    private func resolver(
        services: HTTPClient?, vaultClient: HTTPClient?, policy: EgressPolicy, secretPolicy: SecretPolicy
    ) throws -> SecretResolver {
        let commands = envelope.secretCommands.mapValues {
            CommandSecretProvider.Command(
                executable: $0.path, arguments: $0.arguments, timeout: .milliseconds($0.timeoutMilliseconds))
        }
        let proxy = envelope.proxy
        let client: @Sendable (String) -> HTTPClient = { host in
            guard let services, proxy?.proxy(for: host) != nil else { return .shared }
            return services
        }
        var providers: [any SecretProvider] = [
            EnvironmentSecretProvider(),
            FileSecretProvider(openedFileCheck: { try secretPolicy.checkOpenedFile(device: $0, inode: $1) }),
            AWSSecretsManagerSecretProvider(clientForHost: client, environment: AWSEnvironment(environment)),
            try CommandSecretProvider(commands: commands),
            KubernetesSecretProvider(
                access: envelope.kubernetes,
                serverCheck: { try Self.require(policy.checkURL($0)) }),
        ]
        let keys = SecretResolver(providers: providers + [FileSecretProvider()])
        providers.append(
            GoogleSecretManagerSecretProvider(
                settings: envelope.google ?? GoogleSecretManagerSettings(), clientForHost: client,
                credentials: { try await keys.resolve($0) },
                hostCheck: { try Self.require(policy.checkURL($0)) }, environment: environment))
        providers.append(
            AzureKeyVaultSecretProvider(
                settings: envelope.azure ?? AzureKeyVaultSettings(), clientForHost: client,
                credentials: { try await keys.resolve($0) },
                hostCheck: { try Self.require(policy.checkURL($0)) }, environment: environment))
        guard let vault = envelope.vault else { return SecretResolver(providers: providers) }
        // The agent's own Vault login credentials (AppRole's role and secret id) are read by the same stores, but
        // from the agent's configuration, not a connection: the refusal of the agent's own files is not for them.
        let credentials = SecretResolver(providers: providers + [FileSecretProvider()])
        providers.append(
            VaultSecretProvider(
                configuration: vault, client: vaultClient ?? client(VaultEndpoint.host(vault.address)),
                credentials: { try await credentials.resolve($0) }, readsOncePerLocator: true))
        return SecretResolver(providers: providers)
    }

    /// Throws the policy's refusal.
    static func require(_ decision: PolicyDecision) throws {
        guard decision.allowed else { throw AgentError(.policyDenied, decision.reason) }
    }

    /// Runs `work` while the resolver keeps the leases of the job's dynamic secrets alive.
    static func keepingLeases<Value>(
        of resolver: SecretResolver, _ work: () async throws -> Value
    ) async throws -> Value {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await resolver.maintainLeases() }
            defer { group.cancelAll() }
            return try await work()
        }
    }

    func writeResult(_ result: JobResult) throws {
        let bytes = Array(try JSONEncoder().encode(result))
        let writer = try SealedFileWriter(
            creating: envelope.outputDirectory + "/" + JobResult.fileName, key: sealingKey)
        try writer.write(bytes)
        try writer.finish()
    }

    /// The URL without user info or query, for logs and the audit ledger.
    static func credentialFree(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.plainHost != nil else {
            return url.hasPrefix("sqlite:") ? url : "(unparseable source URL)"
        }
        components.user = nil
        components.password = nil
        components.query = nil
        return components.string ?? "(unparseable source URL)"
    }
}
