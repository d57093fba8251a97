internal import Foundation
internal import ObjectStore
internal import Secrets
internal import Yams

extension AgentConfiguration {
    /// Reads and validates `file`, applying `OUTPOST_…` overrides from `environment`.
    ///
    /// - Throws: `AgentError` with `.invalidConfiguration` and a `file:line:column: what to fix` message for an
    ///   unreadable file, invalid YAML, an unknown key, a wrong type, or a missing required value.
    public static func load(file: String, environment: [String: String]) throws -> AgentConfiguration {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw AgentError(
                .invalidConfiguration, "cannot read the configuration file \(file): it does not exist or is unreadable")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw AgentError(.invalidConfiguration, "\(file) is not UTF-8 text")
        }
        var configuration = try parse(text, file: file, environment: environment)
        configuration.configurationFile = file
        return configuration
    }

    /// Parses configuration text; `file` is used in error messages only.
    public static func parse(
        _ text: String, file: String, environment: [String: String]
    ) throws
        -> AgentConfiguration
    {
        let root: Node?
        do {
            // The basic resolver tags every plain scalar as a string: values are typed by the reader below, and
            // Yams' default resolver would compile its tag patterns with NSRegularExpression, which loads ICU's
            // regex engine and Unicode data into a process that never needs them again.
            root = try Yams.compose(yaml: text, .basic)
        } catch let error as YamlError {
            throw AgentError(.invalidConfiguration, "\(file): not valid YAML: \(Self.describe(error))")
        } catch {
            throw AgentError(.invalidConfiguration, "\(file): not valid YAML")
        }
        if let root, root.null == nil, root.mapping == nil {
            throw AgentError(.invalidConfiguration, "\(file): the configuration must be a mapping of sections")
        }
        var reader = ConfigurationReader(
            file: file, path: "", mapping: root?.mapping, mark: root?.mark, environment: environment)
        return try read(&reader, environment: environment)
    }

    private static func read(
        _ root: inout ConfigurationReader, environment: [String: String]
    ) throws
        -> AgentConfiguration
    {
        var section = try root.section("controlPlane")
        let url = try section.requiredString("url", example: "https://outpost.example.com")
        try validateControlPlaneURL(url, reader: section)
        let keyText = try section.requiredString("apiKey", example: "file:/var/run/secrets/outpost/api-key")
        let apiKey = try reference(keyText, key: "controlPlane.apiKey", reader: section)
        var controlPlane = ControlPlane(url: url, apiKey: apiKey)
        if let value = try section.duration("keyRefreshInterval", in: .seconds(10)...(.seconds(86_400))) {
            controlPlane.keyRefreshInterval = value
        }
        if let value = try section.duration("keyRetryInterval", in: .milliseconds(100)...(.seconds(3_600))) {
            controlPlane.keyRetryInterval = value
        }
        if let value = try section.duration("requestTimeout", in: .seconds(1)...(.seconds(600))) {
            controlPlane.requestTimeout = value
        }
        try section.finish()

        var agent = try root.section("agent")
        let hostName = ProcessInfo.processInfo.hostName
        var configuration = AgentConfiguration(
            controlPlane: controlPlane, name: try agent.string("name") ?? hostName,
            dataDirectory: try agent.string("dataDir") ?? "/var/lib/outpost")
        if let pools = try agent.strings("pools") {
            guard !pools.isEmpty else { throw agent.error("'agent.pools' must name at least one pool", at: nil) }
            configuration.pools = pools
        }
        if let value = try agent.integer("concurrency", in: 1...64) { configuration.concurrency = Int(value) }
        if let value = try agent.duration("heartbeatInterval", in: .seconds(1)...(.seconds(300))) {
            configuration.heartbeatInterval = value
        }
        if let value = try agent.duration("drainTimeout", in: .zero...(.seconds(86_400))) {
            configuration.drainTimeout = value
        }
        if let value = try agent.duration("fenceMargin", in: .milliseconds(100)...(.seconds(600))) {
            configuration.fenceMargin = value
        }
        try agent.finish()

        var network = try root.section("network")
        configuration.network.caBundle = try readableFile(try network.string("caBundle"), "network.caBundle", network)
        configuration.network.clientCertificate = try readableFile(
            try network.string("clientCertificate"), "network.clientCertificate", network)
        configuration.network.clientKey = try readableFile(
            try network.string("clientKey"), "network.clientKey", network)
        if (configuration.network.clientCertificate == nil) != (configuration.network.clientKey == nil) {
            throw network.error("'network.clientCertificate' and 'network.clientKey' go together: give both", at: nil)
        }
        configuration.network.proxy = try network.string("proxy")
        configuration.network.noProxy = try network.strings("noProxy")
        try network.finish()

        var policy = try root.section("policy")
        configuration.policy.allowedSources = try policy.strings("allowedSources") ?? []
        configuration.policy.allowedHosts = try policy.strings("allowedHosts") ?? []
        configuration.policy.excludeFields = try policy.strings("excludeFields") ?? []
        configuration.policy.allowedSecrets = try policy.strings("allowedSecrets") ?? []
        configuration.policy.unverifiedSources = try policy.strings("unverifiedSources") ?? []
        configuration.policy.cleartextPasswordSources = try policy.strings("cleartextPasswordSources") ?? []
        // Every rule is checked now, so `--check` and the agent's start refuse a rule like "*" instead of the first
        // job failing on it.
        do {
            _ = try EgressPolicy(
                allowedHosts: configuration.policy.allowedHosts, allowedSources: configuration.policy.allowedSources)
            _ = try SecretPolicy(allowedSecrets: configuration.policy.allowedSecrets, protected: .init())
            _ = try EgressPolicy(allowedHosts: [], allowedSources: configuration.policy.unverifiedSources)
            _ = try EgressPolicy(allowedHosts: [], allowedSources: configuration.policy.cleartextPasswordSources)
        } catch let error as EgressPolicyError {
            throw policy.error("\(error.description)", at: nil)
        }
        try policy.finish()

        var spool = try root.section("spool")
        if let value = try spool.byteCount("cap", in: (1024 * 1024)...Int64.max) {
            configuration.spool.capBytes = value
        }
        if let text = try spool.string("key") {
            configuration.spool.key = try reference(text, key: "spool.key", reader: spool)
        }
        try spool.finish()

        var jobs = try root.section("jobs")
        configuration.jobs.executable = try jobs.string("executable")
        configuration.jobs.passEnvironment = try jobs.strings("passEnvironment") ?? []
        if let value = try jobs.byteCount("addressSpace", in: (256 * 1024 * 1024)...Int64.max) {
            configuration.jobs.addressSpaceBytes = value
        }
        if let value = try jobs.integer("cpuSeconds", in: 1...Int64(Int32.max)) {
            configuration.jobs.cpuSeconds = value
        }
        if let value = try jobs.integer("openFiles", in: 64...1_048_576) { configuration.jobs.openFiles = value }
        if let value = try jobs.byteCount("fileSize", in: (1024 * 1024)...Int64.max) {
            configuration.jobs.fileSizeBytes = value
        }
        if let value = try jobs.duration("killGrace", in: .zero...(.seconds(600))) {
            configuration.jobs.killGrace = value
        }
        if let value = try jobs.boolean("bubblewrap") { configuration.jobs.bubblewrap = value }
        if let text = try jobs.string("executor") {
            guard let executor = Executor(rawValue: text) else {
                throw jobs.error("'jobs.executor' must be local or argo, not '\(text)'", at: nil)
            }
            configuration.jobs.executor = executor
        }
        // Read only when used: a kept `argo` section does not stop a switch back to the local executor.
        var argo = try jobs.section("argo")
        if configuration.jobs.executor == .argo {
            configuration.jobs.argo = try readArgo(&argo)
            try argo.finish()
        }
        try jobs.finish()

        var stores = try root.section("secretStores")
        for (name, var command) in try stores.namedSections("commands") {
            let path = try command.requiredString("path", example: "/usr/local/bin/vault-read")
            guard path.hasPrefix("/") else {
                throw command.error("'\(command.path).path' must be an absolute path, not '\(path)'", at: command.mark)
            }
            let arguments = try command.strings("args") ?? []
            let timeout = try command.duration("timeout", in: .milliseconds(100)...(.seconds(300))) ?? .seconds(30)
            try command.finish()
            configuration.secretStores.commands[name] = .init(path: path, arguments: arguments, timeout: timeout)
        }
        var kubernetes = try stores.section("kubernetes")
        configuration.secretStores.kubernetes.kubeconfig = try readableFile(
            try kubernetes.string("kubeconfig"), "secretStores.kubernetes.kubeconfig", kubernetes)
        try kubernetes.finish()
        var vault = try stores.section("vault")
        configuration.secretStores.vault = try readVault(&vault)
        try vault.finish()
        var google = try stores.section("google")
        configuration.secretStores.google = try readGoogle(&google)
        try google.finish()
        var azure = try stores.section("azure")
        configuration.secretStores.azure = try readAzure(&azure)
        try azure.finish()
        try stores.finish()

        var relay = try root.section("relay")
        var relayAzure = try relay.section("azure")
        for (account, var settings) in try relayAzure.namedSections("accounts") {
            guard AzureBlobClient.isValidAccountName(account) else {
                throw settings.error(
                    "'\(settings.path)': '\(account)' is not a storage account name (3–24 lower-case letters and "
                        + "digits)", at: settings.mark)
            }
            let text = try settings.requiredString("accountKey", example: "vault:secret/data/outpost/relay#key")
            configuration.relay.azureAccountKeys[account] = try reference(
                text, key: "\(settings.path).accountKey", reader: settings)
            try settings.finish()
        }
        try relayAzure.finish()
        try relay.finish()

        var observability = try root.section("observability")
        configuration.observability.listen = try observability.string("listen")
        if let text = try observability.string("logFormat") {
            guard let format = LogFormat(rawValue: text) else {
                throw observability.error("'observability.logFormat' must be text or json, not '\(text)'", at: nil)
            }
            configuration.observability.logFormat = format
        }
        if let text = try observability.string("logLevel") {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(text) else {
                throw observability.error(
                    "'observability.logLevel' must be one of \(levels.joined(separator: ", ")), not '\(text)'",
                    at: nil)
            }
            configuration.observability.logLevel = text
        }
        try observability.finish()
        try root.finish()
        return configuration
    }

    /// `secretStores.vault`: nil when the section is absent.
    /// `secretStores.google`: a service account key by reference (else the metadata server), the metadata server's
    /// host, Secret Manager's endpoint.
    private static func readGoogle(_ google: inout ConfigurationReader) throws -> GoogleSecretManagerSettings? {
        var settings = GoogleSecretManagerSettings()
        var given = false
        if let text = try google.string("credentials") {
            let key = try reference(text, key: "secretStores.google.credentials", reader: google)
            guard key.store != .gcpSecretManager else {
                throw google.error(
                    "'secretStores.google.credentials' must come from another store than gcp-sm: (\(key))",
                    at: google.mark)
            }
            settings.credentials = key
            given = true
        }
        if let host = try google.string("metadataHost") {
            guard !host.isEmpty, !host.contains("/"), !host.contains("@") else {
                throw google.error("'secretStores.google.metadataHost' is HOST[:PORT], not '\(host)'", at: google.mark)
            }
            settings.metadataHost = host
            given = true
        }
        if let endpoint = try google.string("secretManagerEndpoint") {
            guard let components = URLComponents(string: endpoint), let host = components.plainHost, !host.isEmpty,
                components.scheme == "https"
                    || (components.scheme == "http" && ["127.0.0.1", "::1", "localhost"].contains(host.lowercased())),
                components.query == nil, components.user == nil, components.path.isEmpty
            else {
                throw google.error(
                    "'secretStores.google.secretManagerEndpoint' must be https://HOST[:PORT] (http:// for loopback "
                        + "only), not '\(endpoint)'", at: google.mark)
            }
            settings.endpoint = endpoint
            given = true
        }
        return given ? settings : nil
    }

    /// `secretStores.azure`: an app registration (tenant and client id) with a client secret or certificate by
    /// reference, or nothing (the identity the Azure variables describe); Entra ID's authority, IMDS, a CA bundle.
    private static func readAzure(_ azure: inout ConfigurationReader) throws -> AzureKeyVaultSettings? {
        var settings = AzureKeyVaultSettings()
        settings.tenantId = try azure.string("tenantId")
        settings.clientId = try azure.string("clientId")
        for (name, path) in [
            ("clientSecret", \AzureKeyVaultSettings.clientSecret), ("clientCertificate", \.clientCertificate),
        ] {
            guard let text = try azure.string(name) else { continue }
            let key = try reference(text, key: "secretStores.azure.\(name)", reader: azure)
            guard key.store != .azureKeyVault else {
                throw azure.error(
                    "'secretStores.azure.\(name)' must come from another store than azure-kv: (\(key))", at: azure.mark)
            }
            settings[keyPath: path] = key
        }
        if settings.clientSecret != nil && settings.clientCertificate != nil {
            throw azure.error("'secretStores.azure' takes clientSecret or clientCertificate, not both", at: azure.mark)
        }
        if (settings.clientSecret != nil || settings.clientCertificate != nil)
            && (settings.tenantId?.isEmpty ?? true || settings.clientId?.isEmpty ?? true)
        {
            throw azure.error(
                "'secretStores.azure' needs tenantId and clientId with a client secret or certificate", at: azure.mark)
        }
        for (name, path) in [("authorityHost", \AzureKeyVaultSettings.authorityHost), ("imdsEndpoint", \.imdsEndpoint)]
        {
            guard let url = try azure.string(name) else { continue }
            guard let components = URLComponents(string: url), let host = components.plainHost, !host.isEmpty,
                components.scheme == "https"
                    || (components.scheme == "http"
                        && (name == "imdsEndpoint" || ["127.0.0.1", "::1", "localhost"].contains(host.lowercased()))),
                components.query == nil, components.user == nil
            else {
                throw azure.error(
                    "'secretStores.azure.\(name)' must be https://HOST[:PORT] (http:// for loopback or IMDS), not '\(url)'",
                    at: azure.mark)
            }
            settings[keyPath: path] = url
        }
        settings.caBundle = try readableFile(try azure.string("caBundle"), "secretStores.azure.caBundle", azure)
        // Absent (in the file and the environment): nil, the identity the Azure variables describe.
        return azure.mapping == nil && settings == AzureKeyVaultSettings() ? nil : settings
    }

    private static func readVault(_ vault: inout ConfigurationReader) throws -> VaultConfiguration? {
        guard vault.mapping != nil || vault.environment[vault.environmentName("address")] != nil else { return nil }
        let address = try vault.requiredString("address", example: "https://vault.example.com:8200")
        guard let components = URLComponents(string: address), let scheme = components.scheme?.lowercased(),
            let host = components.plainHost, !host.isEmpty, components.user == nil, components.password == nil,
            components.query == nil, components.path.isEmpty || components.path == "/"
        else {
            throw vault.error(
                "'secretStores.vault.address' must be the server's base URL, https://HOST[:PORT], not '\(address)'",
                at: vault.mark)
        }
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(host.lowercased())
        guard scheme == "https" || (scheme == "http" && loopback) else {
            throw vault.error(
                "'secretStores.vault.address' must use https:// (plain http:// is allowed for loopback only)",
                at: vault.mark)
        }
        let namespace = try vault.string("namespace")
        let caBundle = try readableFile(try vault.string("caBundle"), "secretStores.vault.caBundle", vault)
        var auth = try vault.section("auth")
        let method = try auth.requiredString("method", example: "kubernetes")
        let authentication: VaultConfiguration.Authentication
        switch method {
        case "token":
            let file = try auth.requiredString("tokenFile", example: "/var/run/secrets/vault/token")
            guard file.hasPrefix("/") else {
                throw auth.error("'secretStores.vault.auth.tokenFile' must be an absolute path", at: auth.mark)
            }
            authentication = .tokenFile(path: file)
        case "approle":
            let roleId = try reference(
                try auth.requiredString("roleId", example: "file:/var/run/secrets/vault/role-id"),
                key: "secretStores.vault.auth.roleId", reader: auth)
            let secretId = try reference(
                try auth.requiredString("secretId", example: "file:/var/run/secrets/vault/secret-id"),
                key: "secretStores.vault.auth.secretId", reader: auth)
            for value in [roleId, secretId] where value.store == .vault {
                throw auth.error(
                    "the AppRole's roleId and secretId must come from another store than vault: (\(value))",
                    at: auth.mark)
            }
            authentication = .appRole(
                mount: try auth.string("mount") ?? VaultConfiguration.defaultAppRoleMount, roleId: roleId,
                secretId: secretId)
        case "kubernetes":
            let role = try auth.requiredString("role", example: "outpost-agent")
            let jwtFile = try auth.string("jwtFile") ?? VaultConfiguration.defaultServiceAccountTokenFile
            guard jwtFile.hasPrefix("/") else {
                throw auth.error("'secretStores.vault.auth.jwtFile' must be an absolute path", at: auth.mark)
            }
            authentication = .kubernetes(
                mount: try auth.string("mount") ?? VaultConfiguration.defaultKubernetesMount, role: role,
                jwtFile: jwtFile)
        default:
            throw auth.error(
                "'secretStores.vault.auth.method' must be token, approle or kubernetes, not '\(method)'", at: auth.mark)
        }
        try auth.finish()
        return VaultConfiguration(
            address: address, namespace: namespace, caBundle: caBundle, authentication: authentication)
    }

    private static func readArgo(_ argo: inout ConfigurationReader) throws -> Argo {
        let namespace = try argo.string("namespace") ?? "default"
        try dnsLabel(namespace, "jobs.argo.namespace", argo)
        let image = try argo.requiredString("image", example: "registry.example.com/outpost:1.0")
        let claim = try argo.requiredString("sharedVolumeClaim", example: "outpost-data")
        try dnsLabel(claim, "jobs.argo.sharedVolumeClaim", argo, subdomain: true)
        var settings = Argo(namespace: namespace, image: image, sharedVolumeClaim: claim)
        if let path = try argo.string("executable") {
            guard path.hasPrefix("/") else {
                throw argo.error("'jobs.argo.executable' must be an absolute path, not '\(path)'", at: argo.mark)
            }
            settings.executable = path
        }
        if let account = try argo.string("serviceAccount") {
            try dnsLabel(account, "jobs.argo.serviceAccount", argo, subdomain: true)
            settings.serviceAccount = account
        }
        settings.kubeconfig = try readableFile(try argo.string("kubeconfig"), "jobs.argo.kubeconfig", argo)
        var resources = try argo.section("resources")
        for name in ["requests", "limits"] {
            var section = try resources.section(name)
            var values = Argo.Resources()
            values.cpu = try quantity(try section.string("cpu"), "jobs.argo.resources.\(name).cpu", section)
            values.memory = try quantity(try section.string("memory"), "jobs.argo.resources.\(name).memory", section)
            values.ephemeralStorage = try quantity(
                try section.string("ephemeralStorage"), "jobs.argo.resources.\(name).ephemeralStorage", section)
            try section.finish()
            if name == "requests" { settings.requests = values } else { settings.limits = values }
        }
        try resources.finish()
        settings.activeDeadline = try argo.duration("activeDeadline", in: .seconds(1)...(.seconds(7 * 86_400)))
        if let value = try argo.duration("ttlAfterFinished", in: .zero...(.seconds(30 * 86_400))) {
            settings.ttlAfterFinished = value
        }
        settings.fsGroup = try argo.integer("fsGroup", in: 0...Int64(Int32.max))
        let labels = try argo.section("podLabels")
        for pair in labels.mapping ?? [:] {
            guard case .scalar(let key) = pair.key, case .scalar(let value) = pair.value else {
                throw labels.error("'jobs.argo.podLabels' maps label names to single values", at: pair.key.mark)
            }
            let name = key.string
            guard isLabelName(name), !name.hasPrefix("outpost."), !name.hasPrefix("app.kubernetes.io/") else {
                throw labels.error(
                    "'jobs.argo.podLabels': '\(name)' is not a Kubernetes label name the agent leaves to you "
                        + "([prefix/]name; outpost.* and app.kubernetes.io/* are the agent's own)", at: pair.key.mark)
            }
            guard isLabelValue(value.string) else {
                throw labels.error(
                    "'jobs.argo.podLabels.\(name)': '\(value.string)' is not a label value (at most 63 letters, "
                        + "digits, '-', '_' and '.'; quote \"true\")", at: pair.value.mark)
            }
            settings.podLabels[name] = value.string
        }
        return settings
    }

    /// A label value: empty, or up to 63 letters, digits, '-', '_' and '.' beginning and ending alphanumeric.
    private static func isLabelValue(_ value: String) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        let alphanumeric = { (character: Character?) in character.map { $0.isLetter || $0.isNumber } ?? false }
        return value.isEmpty
            || (value.count <= 63 && value.allSatisfy { allowed.contains($0) } && alphanumeric(value.first)
                && alphanumeric(value.last))
    }

    /// A label name: an optional DNS-subdomain prefix and '/', then a value-shaped name of 1–63 characters.
    private static func isLabelName(_ key: String) -> Bool {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.last, !name.isEmpty, isLabelValue(String(name)) else { return false }
        guard parts.count == 2 else { return true }
        let prefix = parts[0]
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-.")
        return !prefix.isEmpty && prefix.count <= 253 && prefix.allSatisfy { allowed.contains($0) }
            && prefix.first != "-" && prefix.first != "." && prefix.last != "-" && prefix.last != "."
    }

    /// Kubernetes names: a DNS-1123 label (namespaces) or subdomain (claims, service accounts).
    private static func dnsLabel(
        _ name: String, _ key: String, _ reader: ConfigurationReader, subdomain: Bool = false
    ) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-" + (subdomain ? "." : ""))
        let alphanumeric = { (character: Character?) in character.map { $0.isLetter || $0.isNumber } ?? false }
        guard name.count <= (subdomain ? 253 : 63), name.allSatisfy({ allowed.contains($0) }),
            alphanumeric(name.first), alphanumeric(name.last)
        else {
            throw reader.error(
                "'\(key)' must be a Kubernetes name (lower-case letters, digits and '-'), not '\(name)'",
                at: reader.mark)
        }
    }

    /// A Kubernetes quantity: digits with an optional fraction and one suffix (`500m`, `2`, `1.5Gi`, `4G`).
    private static func quantity(
        _ text: String?, _ key: String, _ reader: ConfigurationReader
    ) throws
        -> String?
    {
        guard let text else { return nil }
        let suffixes = ["", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
        let digits = text.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let suffix = String(text.dropFirst(digits.count))
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard !digits.isEmpty, parts.count <= 2, parts.allSatisfy({ !$0.isEmpty }), suffixes.contains(suffix) else {
            throw reader.error(
                "'\(key)' must be a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi, not '\(text)'", at: reader.mark)
        }
        return text
    }

    private static func validateControlPlaneURL(_ url: String, reader: ConfigurationReader) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.plainHost, !host.isEmpty
        else {
            throw reader.error("'controlPlane.url' must be an https:// URL, not '\(url)'", at: reader.mark)
        }
        guard components.user == nil, components.password == nil else {
            throw reader.error("'controlPlane.url' must not carry credentials; use controlPlane.apiKey", at: nil)
        }
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(host.lowercased())
        guard scheme == "https" || (scheme == "http" && loopback) else {
            throw reader.error(
                "'controlPlane.url' must use https:// (plain http:// is allowed for loopback only), not '\(url)'",
                at: reader.mark)
        }
    }

    /// Parses a secret reference; the text itself is never echoed when it is not one (it may be a pasted key).
    private static func reference(
        _ text: String, key: String, reader: ConfigurationReader
    ) throws
        -> SecretReference
    {
        do {
            return try SecretReference(parsing: text)
        } catch {
            // At the value's own line, not its section's.
            let local = String(key.split(separator: ".").last ?? "")
            throw reader.error(
                "'\(key)' must be a secret reference such as file:/var/run/secrets/outpost/api-key, env:NAME, "
                    + "aws-sm:SECRET-ID[#field], command:NAME, k8s:NAMESPACE/NAME#KEY, vault:PATH#field, gcp-sm:projects/P/secrets/S or azure-kv:VAULT/NAME — never the secret itself (\(error))",
                at: reader.mark(of: local) ?? reader.mark)
        }
    }

    private static func readableFile(
        _ path: String?, _ key: String, _ reader: ConfigurationReader
    ) throws
        -> String?
    {
        guard let path else { return nil }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw reader.error("'\(key)' names \(path), which does not exist or is unreadable", at: reader.mark)
        }
        return path
    }

    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)" + (context.map { " \($0.text)" } ?? "")
        default:
            return "\(error)"
        }
    }
}
