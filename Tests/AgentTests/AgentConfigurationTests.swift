import Agent
import Foundation
import OutpostTesting
import Secrets
import Testing

@Suite("Agent configuration")
struct AgentConfigurationTests {
    let minimal = """
        controlPlane:
          url: https://outpost.example.com
          apiKey: file:/var/run/secrets/outpost/api-key
        """

    func parse(_ text: String, environment: [String: String] = [:]) throws -> AgentConfiguration {
        try AgentConfiguration.parse(text, file: "agent.yaml", environment: environment)
    }

    func failure(_ text: String, environment: [String: String] = [:]) -> String {
        do {
            _ = try parse(text, environment: environment)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func aMinimalFileTakesTheDefaults() throws {
        let configuration = try parse(minimal)
        #expect(configuration.controlPlane.url == "https://outpost.example.com")
        #expect(configuration.controlPlane.apiKey.description == "file:/var/run/secrets/outpost/api-key")
        #expect(configuration.concurrency == 2)
        #expect(configuration.pools == ["default"])
        #expect(configuration.heartbeatInterval == .seconds(30))
        #expect(configuration.dataDirectory == "/var/lib/outpost")
    }

    @Test func everySectionIsRead() throws {
        let configuration = try parse(
            minimal + """

                agent:
                  name: edge-1
                  dataDir: /srv/outpost
                  pools: [finance, default]
                  concurrency: 4
                  heartbeatInterval: 15s
                  drainTimeout: 10m
                policy:
                  allowedSources: ["postgres://*.corp.internal:5432/*"]
                  allowedHosts: [s3.eu-west-1.amazonaws.com]
                  excludeFields: [comments]
                spool:
                  cap: 2GiB
                jobs:
                  passEnvironment: [PG_PASSWORD]
                  addressSpace: 2GiB
                  cpuSeconds: 600
                  killGrace: 5s
                secretStores:
                  commands:
                    vault:
                      path: /usr/local/bin/vault-read
                      args: [kv, get]
                      timeout: 5s
                observability:
                  listen: 127.0.0.1:9464
                  logFormat: json
                """)
        #expect(configuration.name == "edge-1")
        #expect(configuration.pools == ["finance", "default"])
        #expect(configuration.concurrency == 4)
        #expect(configuration.heartbeatInterval == .seconds(15))
        #expect(configuration.drainTimeout == .seconds(600))
        #expect(configuration.policy.allowedSources == ["postgres://*.corp.internal:5432/*"])
        #expect(configuration.spool.capBytes == 2 * 1024 * 1024 * 1024)
        #expect(configuration.jobs.cpuSeconds == 600)
        #expect(configuration.secretStores.commands["vault"]?.arguments == ["kv", "get"])
        #expect(configuration.observability.logFormat == .json)
    }

    @Test func environmentVariablesOverrideTheFile() throws {
        let configuration = try parse(
            minimal,
            environment: [
                "OUTPOST_CONTROL_PLANE_URL": "https://other.example.com", "OUTPOST_AGENT_CONCURRENCY": "7",
                "OUTPOST_POLICY_ALLOWED_SOURCES": "sqlite:/data/*, postgres://db:5432/*",
            ])
        #expect(configuration.controlPlane.url == "https://other.example.com")
        #expect(configuration.concurrency == 7)
        #expect(configuration.policy.allowedSources == ["sqlite:/data/*", "postgres://db:5432/*"])
    }

    @Test func anUnknownKeyIsReportedWithItsLineAndTheKeyMeant() {
        let message = failure(minimal + "\nagent:\n  concurency: 3\n")
        #expect(message.contains("agent.yaml:5:3"), "\(message)")
        #expect(message.contains("unknown key 'agent.concurency'"))
        #expect(message.contains("did you mean 'agent.concurrency'"))
    }

    @Test func aWrongTypeIsReportedWithItsLine() {
        let message = failure(minimal + "\nagent:\n  concurrency: many\n")
        #expect(message.contains("agent.yaml:5:16"), "\(message)")
        #expect(message.contains("must be a whole number"))
        #expect(failure(minimal + "\nagent:\n  pools: finance\n").contains("must be a list"))
        #expect(failure(minimal + "\nagent:\n  heartbeatInterval: soon\n").contains("duration"))
    }

    @Test func aMissingRequiredValueSaysWhatToWrite() {
        let message = failure("controlPlane:\n  url: https://outpost.example.com\n")
        #expect(message.contains("'controlPlane.apiKey' is required"), "\(message)")
        #expect(message.contains("OUTPOST_CONTROL_PLANE_API_KEY"))
    }

    @Test func aLiteralKeyIsRefusedWithoutBeingEchoed() {
        let canary = "op_live_CANARY_4f9a8b7c6d5e"
        let message = failure("controlPlane:\n  url: https://outpost.example.com\n  apiKey: \(canary)\n")
        #expect(message.contains("must be a secret reference"), "\(message)")
        #expect(!message.contains(canary))
        // At the key's own line.
        #expect(message.contains("agent.yaml:3:"), "\(message)")
    }

    @Test func plainHTTPIsAllowedForLoopbackOnly() {
        #expect(failure("controlPlane:\n  url: http://cp.example.com\n  apiKey: env:K\n").contains("https://"))
        #expect(failure("controlPlane:\n  url: http://127.0.0.1:8080\n  apiKey: env:K\n") == "no error")
    }

    @Test func nullsQuotedScalarsAndNumbersReadAsWritten() throws {
        let configuration = try parse(
            minimal + """

                agent:
                  name: "null"
                  dataDir: ~
                  concurrency: "4"
                  pools: [yes, "on", 1]
                policy:
                  allowedSources: null
                """)
        #expect(configuration.name == "null")
        #expect(configuration.dataDirectory == "/var/lib/outpost")
        #expect(configuration.concurrency == 4)
        #expect(configuration.pools == ["yes", "on", "1"])
        #expect(configuration.policy.allowedSources.isEmpty)
        #expect(failure(minimal + "\nagent:\n  name: a\n  name: b\n").contains("not valid YAML"))
    }

    @Test func anInvalidPolicyRuleIsRefusedWhenTheConfigurationLoadsNotAtTheFirstJob() {
        for rules in [#"allowedSources: ["*"]"#, #"allowedSources: ["postgres://"]"#, #"allowedHosts: ["http://x"]"#] {
            let message = failure(minimal + "\npolicy:\n  \(rules)\n")
            #expect(message.contains("invalid egress policy rule"), "\(rules): \(message)")
        }
        #expect(failure(minimal + "\npolicy:\n  allowedSources: [\"postgres://db:5432/*\"]\n") == "no error")
    }

    @Test func theObservabilityListenerKnowsWhetherItIsLoopbackOnly() {
        for host in ["127.0.0.1", "127.8.9.1", "localhost", "::1", "[::1]"] {
            #expect(HealthServerConfiguration(host: host).isLoopback, "\(host)")
        }
        for host in ["0.0.0.0", "::", "10.0.0.4", "agent.example.com"] {
            #expect(!HealthServerConfiguration(host: host).isLoopback, "\(host)")
        }
    }

    @Test func theKubernetesSecretStoreTakesAReadableKubeconfigAndNoOtherKey() throws {
        let directory = try TemporaryDirectory()
        let kubeconfig = directory.path + "/kubeconfig"
        try Data("apiVersion: v1\n".utf8).write(to: URL(fileURLWithPath: kubeconfig))
        #expect(try parse(minimal).secretStores.kubernetes.kubeconfig == nil)
        let configured = try parse(minimal + "\nsecretStores:\n  kubernetes:\n    kubeconfig: \(kubeconfig)\n")
        #expect(configured.secretStores.kubernetes.kubeconfig == kubeconfig)
        #expect(
            failure(minimal + "\nsecretStores:\n  kubernetes:\n    kubeconfig: /nonexistent/kubeconfig\n").contains(
                "'secretStores.kubernetes.kubeconfig' names /nonexistent/kubeconfig, which does not exist"))
        #expect(
            failure(minimal + "\nsecretStores:\n  kubernetes:\n    namespace: db\n").contains(
                "unknown key 'secretStores.kubernetes.namespace'"))
    }

    @Test func theAzureSecretStoreTakesAnAppByReferenceOrNothingAndRefusesHalfAConfiguration() throws {
        #expect(try parse(minimal).secretStores.azure == nil)
        let app = try parse(
            minimal
                + "\nsecretStores:\n  azure:\n    tenantId: t\n    clientId: c\n    clientSecret: env:AKV_SECRET\n"
                + "    authorityHost: https://login.microsoftonline.us\n")
        #expect(app.secretStores.azure?.clientSecret?.description == "env:AKV_SECRET")
        #expect(app.secretStores.azure?.authorityHost == "https://login.microsoftonline.us")
        // The app's secret is the agent's own: no connection may name it.
        #expect(SecretPolicy.Protected(configuration: app).references.contains("env:AKV_SECRET"))
        // The environment alone configures it too.
        let fromEnvironment = try AgentConfiguration.parse(
            minimal, file: "agent.yaml", environment: ["OUTPOST_SECRET_STORES_AZURE_TENANT_ID": "t"])
        #expect(fromEnvironment.secretStores.azure?.tenantId == "t")
        let imds = try parse(minimal + "\nsecretStores:\n  azure:\n    imdsEndpoint: http://169.254.169.254\n")
        #expect(imds.secretStores.azure?.imdsEndpoint == "http://169.254.169.254")
        for (yaml, message) in [
            ("    clientSecret: env:S\n", "needs tenantId and clientId"),
            (
                "    tenantId: t\n    clientId: c\n    clientSecret: env:S\n    clientCertificate: file:/tmp/c.pem\n",
                "not both"
            ),
            ("    tenantId: t\n    clientId: c\n    clientSecret: azure-kv:v/s\n", "another store than azure-kv:"),
            ("    authorityHost: http://login.example.com\n", "'secretStores.azure.authorityHost' must be https://"),
            ("    clientSecret: hunter2\n", "secretStores.azure.clientSecret"),
            ("    vault: v\n", "unknown key 'secretStores.azure.vault'"),
        ] {
            let error = failure(minimal + "\nsecretStores:\n  azure:\n" + yaml)
            #expect(error.contains(message), "\(yaml): \(error)")
            #expect(!error.contains("hunter2"), "\(error)")
        }
    }

    @Test func relayAccountKeysAreReferencesOfNamedStorageAccountsAndTheAgentsOwn() throws {
        #expect(try parse(minimal).relay.azureAccountKeys.isEmpty)
        let keyed = try parse(
            minimal + "\nrelay:\n  azure:\n    accounts:\n      acmerelay:\n        accountKey: vault:kv/relay#key\n")
        #expect(keyed.relay.azureAccountKeys["acmerelay"]?.description == "vault:kv/relay#key")
        // The whole secret the key is a field of is the agent's own.
        #expect(SecretPolicy.Protected(configuration: keyed).references.contains("vault:kv/relay"))
        for (yaml, message) in [
            ("    accounts:\n      Acme_Relay:\n        accountKey: env:K\n", "is not a storage account name"),
            (
                "    accounts:\n      acmerelay:\n        accountKey: c2VjcmV0\n",
                "accountKey' must be a secret reference"
            ),
            ("    accounts:\n      acmerelay: {}\n", "accountKey' is required"),
            ("    accounts:\n      acmerelay:\n        accountKey: env:K\n        sas: x\n", "unknown key"),
            ("    account: acmerelay\n", "unknown key 'relay.azure.account'"),
        ] {
            let error = failure(minimal + "\nrelay:\n  azure:\n" + yaml)
            #expect(error.contains(message), "\(yaml): \(error)")
            #expect(!error.contains("c2VjcmV0"), "\(error)")
        }
    }

    @Test func invalidYAMLAndUnreadableFilesGetClearErrors() {
        #expect(failure("controlPlane: [unclosed").contains("not valid YAML"))
        #expect(failure("- a\n- b\n").contains("must be a mapping"))
        do {
            _ = try AgentConfiguration.load(file: "/nonexistent/agent.yaml", environment: [:])
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("cannot read the configuration file /nonexistent/agent.yaml"))
        }
    }
}

@Suite("Backoff")
struct BackoffTests {
    @Test func waitsAreFullJitterUnderAnExponentialCeilingAndTheCap() {
        var backoff = Backoff(base: .seconds(1), cap: .seconds(60))
        var generator = SystemRandomNumberGenerator()
        for attempt in 0..<12 {
            let wait = backoff.next(using: &generator)
            let ceiling = min(Duration.seconds(60), .seconds(1 << attempt))
            #expect(wait >= .zero && wait <= ceiling)
        }
    }

    @Test func retryAfterWinsButNeverBeyondTheCap() {
        var backoff = Backoff(base: .seconds(1), cap: .seconds(60))
        #expect(backoff.next(retryAfter: .seconds(7)) == .seconds(7))
        #expect(backoff.next(retryAfter: .seconds(600)) == .seconds(60))
    }
}
