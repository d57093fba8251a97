import Agent
import Foundation
import OutpostTesting
import Secrets
import Testing

/// The agent configurations shipped in deploy/ are read by the agent's own loader, so they cannot drift from it;
/// what each deployment relies on (paths, listener, drain) is checked against the parsed values.
@Suite("Deployment sample configurations")
struct DeploymentSamplesTests {
    static func load(_ relativePath: String) throws -> AgentConfiguration {
        try AgentConfiguration.load(file: BuildProducts.repositoryRoot + "/" + relativePath, environment: [:])
    }

    @Test("the Kubernetes ConfigMap's agent.yaml: secrets from the mounted Secrets, listener inside the pod")
    func kubernetes() throws {
        let configuration = try Self.load("deploy/kubernetes/base/agent.yaml")
        #expect(configuration.controlPlane.apiKey.description == "file:/var/run/secrets/outpost/api-key")
        #expect(configuration.spool.key?.description == "file:/var/run/secrets/outpost-spool/spool-key")
        #expect(configuration.dataDirectory == "/var/lib/outpost")
        #expect(configuration.observability.listen == "0.0.0.0:9464")
        #expect(configuration.jobs.bubblewrap == false)
        // deployment.yaml's terminationGracePeriodSeconds (360) must exceed these.
        #expect(configuration.drainTimeout + configuration.jobs.killGrace < .seconds(360))
    }

    @Test("the systemd agent.yaml: secrets from systemd credentials, listener on loopback")
    func systemd() throws {
        let configuration = try Self.load("deploy/systemd/agent.yaml")
        #expect(
            configuration.controlPlane.apiKey.description
                == "file:/run/credentials/outpost-agent.service/api-key")
        #expect(configuration.spool.key?.description == "file:/run/credentials/outpost-agent.service/spool-key")
        #expect(configuration.dataDirectory == "/var/lib/outpost")
        #expect(configuration.observability.listen == "127.0.0.1:9464")
        // outpost-agent.service's TimeoutStopSec (6 min) must exceed these.
        #expect(configuration.drainTimeout + configuration.jobs.killGrace < .seconds(360))
    }
}
