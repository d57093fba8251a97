internal import Foundation
internal import GoogleCloud
public import Secrets

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Which secret references a job may resolve for its connection: the agent's local policy (`policy.allowedSecrets`),
/// which the control plane cannot widen, and the agent's own secrets, which no policy hands out.
///
/// **Patterns** are `STORE:GLOB` over the reference's locator (its `#field` is not part of the match):
/// `env:PG_*`, `file:/run/secrets/outpost/*`, `aws-sm:prod/outpost/**`, `vault:secret/data/outpost/*`. In a glob
/// `*` matches within one `/`-separated segment and `**` across segments. A `file:` reference is matched by its
/// absolute path with symbolic links resolved, so `file:/run/secrets/outpost/../../../etc/x` is `/etc/x`. With no
/// patterns no connection secret can be read: a new agent reads only what its configuration names.
///
/// **The agent's own secrets** — its API key, its spool key, its data directory and its configuration file — are
/// refused whatever the patterns say: by reference, by resolved path (a symbolic link to them is the file
/// itself), by file identity (a hard link is too), and for `env:` by variable name.
public struct SecretPolicy: Sendable {
    /// What belongs to the agent itself and is never a connection's secret.
    public struct Protected: Codable, Sendable, Equatable {
        /// References the agent reads for itself (`file:/…/api-key`, `aws-sm:agent-key`), without `#field`.
        public var references: [String]
        /// Files and directories whose contents are the agent's: the data directory, the configuration file and
        /// the key files.
        public var paths: [String]
        /// Environment variables holding the agent's own secrets.
        public var environmentNames: [String]

        public init(references: [String] = [], paths: [String] = [], environmentNames: [String] = []) {
            self.references = references
            self.paths = paths
            self.environmentNames = environmentNames
        }

        /// What an agent with this configuration must never hand to a job: its API key, spool key, data dir and
        /// configuration file, its client certificate's key, its Vault login (token file, AppRole credentials,
        /// the JWT it logs in with), its kubeconfigs, the pod's service account token and its relay account keys.
        ///
        /// With the agent's `environment`, also its cloud identities for bucket relay: the files
        /// `GOOGLE_APPLICATION_CREDENTIALS` (and the token file it federates) and `AWS_WEB_IDENTITY_TOKEN_FILE` name,
        /// and `AWS_SECRET_ACCESS_KEY` and
        /// `AWS_SESSION_TOKEN`.
        public init(configuration: AgentConfiguration, environment: [String: String] = [:]) {
            var owned = [configuration.controlPlane.apiKey]
            if let spoolKey = configuration.spool.key { owned.append(spoolKey) }
            if let googleKey = configuration.secretStores.google?.credentials { owned.append(googleKey) }
            owned += configuration.secretStores.azure?.ownedReferences ?? []
            owned += configuration.relay.azureAccountKeys.values
            var files = [configuration.dataDirectory, KubernetesClient.serviceAccountDirectory + "/token"]
            files += [
                configuration.configurationFile, configuration.network.clientKey,
                configuration.secretStores.kubernetes.kubeconfig, configuration.jobs.argo?.kubeconfig,
            ].compactMap { $0 }
            switch configuration.secretStores.vault?.authentication {
            case .tokenFile(let path): files.append(path)
            case .appRole(_, let roleId, let secretId): owned += [roleId, secretId]
            case .kubernetes(_, _, let jwtFile): files.append(jwtFile)
            case nil: break
            }
            files += ["GOOGLE_APPLICATION_CREDENTIALS", "AWS_WEB_IDENTITY_TOKEN_FILE", "AZURE_FEDERATED_TOKEN_FILE"]
                .compactMap {
                    environment[$0].flatMap { $0.isEmpty ? nil : $0 }
                }
            // A workload identity federation configuration names the token file it federates.
            if let path = environment["GOOGLE_APPLICATION_CREDENTIALS"],
                let data = FileManager.default.contents(atPath: path),
                case .externalAccount(let account)? = try? GoogleAccessTokens.Identity.credentialsFile(
                    json: Array(data)),
                case .file(let tokenFile, _) = account.source
            {
                files.append(tokenFile)
            }
            references = owned.map { "\($0.store.rawValue):\($0.locator)" }
            paths = files + owned.filter { $0.store == .file }.map(\.locator)
            environmentNames =
                owned.filter { $0.store == .env }.map(\.locator) + [
                    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "IDENTITY_HEADER", "AZURE_CLIENT_SECRET",
                ]
        }
    }

    /// The patterns as configured.
    public let allowedSecrets: [String]
    public let protected: Protected
    private let rules: [(text: String, store: SecretReference.Store, glob: [UInt8])]
    private let protectedPaths: [String]

    /// - Throws: `EgressPolicyError` naming the first pattern that cannot be understood.
    public init(allowedSecrets: [String], protected: Protected) throws {
        self.allowedSecrets = allowedSecrets
        self.protected = protected
        rules = try allowedSecrets.map { text in
            guard let colon = text.firstIndex(of: ":"),
                let store = SecretReference.Store(rawValue: String(text[..<colon]))
            else {
                let known = SecretReference.Store.allCases.map(\.rawValue).joined(separator: ", ")
                throw EgressPolicyError(rule: text, "write STORE:PATTERN with STORE one of \(known), e.g. env:PG_*")
            }
            let glob = Array(text[text.index(after: colon)...].utf8)
            guard !glob.isEmpty, !glob.contains(UInt8(ascii: "#")) else {
                throw EgressPolicyError(rule: text, "the pattern after '\(store.rawValue):' is empty or holds '#'")
            }
            do {
                try RuleSyntax.checkGlob(glob)
            } catch let problem as HostProblem {
                throw EgressPolicyError(rule: text, problem.text)
            }
            if store == .file && glob.first != UInt8(ascii: "/") {
                throw EgressPolicyError(rule: text, "a file: pattern needs an absolute path")
            }
            return (text, store, glob)
        }
        protectedPaths = protected.paths.map { SourceTarget.resolvedPath($0) }
    }

    /// Whether a job may resolve `reference`; for `file:` also the path to read (symbolic links resolved), so the
    /// file read is the file checked.
    public func check(_ reference: SecretReference) -> (decision: PolicyDecision, reference: SecretReference) {
        var checked = reference
        if reference.store == .file {
            checked = SecretReference(
                store: .file, locator: SourceTarget.resolvedPath(reference.locator), field: reference.field)
        }
        if let reason = ownedReason(checked, asWritten: reference) {
            return (.deny("\(reference) \(reason): no connection may read it, whatever the policy says"), checked)
        }
        let locator = Array(checked.locator.utf8)
        for rule in rules where rule.store == checked.store && Glob.matches(rule.glob[...], locator[...]) {
            return (.allow(rule: rule.text, subject: "secret \(reference)"), checked)
        }
        let subject = checked == reference ? "\(reference)" : "\(reference) (\(checked.locator))"
        guard !rules.isEmpty else {
            return (
                .deny(
                    "the agent's local policy refuses secret \(subject): policy.allowedSecrets in the agent's "
                        + "configuration names no secret a connection may read (e.g. \"env:PG_*\", "
                        + "\"vault:secret/data/outpost/*\")"),
                checked
            )
        }
        return (
            .deny(
                "the agent's local policy refuses secret \(subject): it matches none of policy.allowedSecrets "
                    + allowedSecrets.map { "'\($0)'" }.joined(separator: ", ")),
            checked
        )
    }

    /// Refuses a secret file that turned out, once open, to be one of the agent's own files (a hard link).
    public func checkOpenedFile(device: UInt64, inode: UInt64) throws {
        for path in protectedPaths {
            var status = stat()
            guard stat(path, &status) == 0, status.st_mode & mode_t(S_IFMT) != mode_t(S_IFDIR) else { continue }
            if UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode {
                throw SecretError(
                    .unreadable, "the secret file opened is the agent's own \(path): no connection may read it")
            }
        }
    }

    private func ownedReason(_ reference: SecretReference, asWritten: SecretReference) -> String? {
        switch reference.store {
        case .env:
            if protected.environmentNames.contains(reference.locator) {
                return "holds the agent's own credential"
            }
        case .file:
            let path = reference.locator
            for owned in protectedPaths
            where path == owned || path.hasPrefix(owned.hasSuffix("/") ? owned : owned + "/") {
                return path == owned ? "is the agent's own \(owned)" : "is inside the agent's own \(owned)"
            }
        default:
            break
        }
        let text = "\(asWritten.store.rawValue):\(asWritten.locator)"
        return protected.references.contains(text) ? "is the agent's own credential" : nil
    }
}
