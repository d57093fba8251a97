import ControlPlane
import ControlPlaneStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import OutpostProtocol
import Testing

@Suite("Admin API")
struct AdminAPITests {
    // MARK: Keys

    @Test func aCreatedKeyIsShownOnceWorksAndListsWithoutSecrets() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let response = try await client.send(
                .post, "/v1/admin/keys", key: fixture.tenantA.admin,
                json: KeyCreateRequest(name: "prod agents", role: .agent, expiresAt: "2026-01-01T00:00:00Z"))
            #expect(response.status == .created)
            let created = try response.decode(KeyCreatedResponse.self)
            #expect(created.key.hasPrefix("opk_"))
            #expect(created.key.count == 47)
            #expect(created.apiKey.prefix == String(created.key.prefix(12)))
            #expect(created.apiKey.role == .agent)
            #expect(created.apiKey.expiresAt == "2026-01-01T00:00:00.000Z")

            let works = try await client.send(
                .post, AgentProtocol.Path.claim, key: created.key, json: claimRequest())
            #expect(works.status == .noContent)

            let list = try await client.send(.get, "/v1/admin/keys", key: fixture.tenantA.admin)
            let keys = try list.decode(KeyList.self).keys
            #expect(keys.contains { $0.id == created.apiKey.id && $0.name == "prod agents" })
            #expect(!list.text.contains(created.key))
            #expect(!list.text.contains(APIKey.hash(of: created.key)))
            #expect(!list.text.contains("hash"))
            // Another tenant's list does not show the key.
            let other = try await client.send(.get, "/v1/admin/keys", key: fixture.tenantB.admin)
            #expect(try other.decode(KeyList.self).keys.allSatisfy { $0.id != created.apiKey.id })
        }
    }

    @Test func aRevokedKeyStopsWorkingImmediately() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let created = try await client.send(
                .post, "/v1/admin/keys", key: fixture.tenantA.admin,
                json: KeyCreateRequest(name: "temporary admin", role: .admin)
            ).decode(KeyCreatedResponse.self)
            #expect(try await client.send(.get, "/v1/admin/keys", key: created.key).status == .ok)

            let revoked = try await client.send(
                .delete, "/v1/admin/keys/\(created.apiKey.id)", key: fixture.tenantA.admin)
            #expect(revoked.status == .noContent)
            let after = try await client.send(.get, "/v1/admin/keys", key: created.key)
            #expect(after.status == .unauthorized)

            let listed = try await client.send(.get, "/v1/admin/keys", key: fixture.tenantA.admin)
                .decode(KeyList.self).keys.first { $0.id == created.apiKey.id }
            #expect(listed?.revokedAt == fixture.clock.now.rfc3339)
        }
    }

    @Test func revokingAnotherTenantsOrAnUnknownKeyIsNotFound() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let keysOfA = try await fixture.store.keys(tenantId: fixture.tenantA.tenant.id)
            let response = try await client.send(
                .delete, "/v1/admin/keys/\(keysOfA[0].id)", key: fixture.tenantB.admin)
            #expect(response.status == .notFound)
            #expect(
                try await client.send(.delete, "/v1/admin/keys/key_nope", key: fixture.tenantA.admin).status
                    == .notFound)
            #expect(try await client.send(.get, "/v1/admin/keys", key: fixture.tenantA.agent).status == .forbidden)
        }
    }

    @Test func keyCreationValidatesItsFields() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let past = try await client.send(
                .post, "/v1/admin/keys", key: fixture.tenantA.admin,
                json: KeyCreateRequest(name: "x", role: .agent, expiresAt: "2020-01-01T00:00:00Z"))
            #expect(past.problem?.field == "expiresAt")
            let garbage = try await client.send(
                .post, "/v1/admin/keys", key: fixture.tenantA.admin,
                json: KeyCreateRequest(name: "x", role: .agent, expiresAt: "tomorrow"))
            #expect(garbage.problem?.field == "expiresAt")
            let role = try await client.send(
                .post, "/v1/admin/keys", key: fixture.tenantA.admin, text: #"{"name": "x", "role": "root"}"#)
            #expect(role.problem?.field == "role")
        }
    }

    // MARK: Connections

    @Test func connectionsCanBeCreatedReadReplacedAndDeleted() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let admin = fixture.tenantA.admin
            let created = try await client.send(.post, "/v1/admin/connections", key: admin, json: sampleConnection())
            #expect(created.status == .created)
            let connection = try created.decode(ConnectionResponse.self)
            #expect(connection.pool == "default")
            #expect(connection.delivery == Delivery(mode: .direct))
            #expect(connection.filters.includeSchemas == ["public"])

            let shown = try await client.send(.get, "/v1/admin/connections/\(connection.id)", key: admin)
            #expect(try shown.decode(ConnectionResponse.self) == connection)
            let listed = try await client.send(.get, "/v1/admin/connections", key: admin)
            #expect(try listed.decode(ConnectionList.self).connections.map(\.id) == [connection.id])

            var replacement = sampleConnection(name: "sales-eu")
            replacement.delivery = DeliverySettings(
                mode: .relay, relay: RelaySettings(bucket: "acme-meta", prefix: "outpost/", region: "eu-west-1"))
            replacement.schedule = "0 3 * * *"
            let replaced = try await client.send(
                .put, "/v1/admin/connections/\(connection.id)", key: admin, json: replacement)
            let updated = try replaced.decode(ConnectionResponse.self)
            #expect(updated.id == connection.id)
            #expect(updated.name == "sales-eu")
            #expect(updated.delivery.relay?.serverSideEncryption == "AES256")
            #expect(updated.schedule == "0 3 * * *")

            let otherTenant = try await client.send(
                .get, "/v1/admin/connections/\(connection.id)", key: fixture.tenantB.admin)
            #expect(otherTenant.status == .notFound)

            let deleted = try await client.send(.delete, "/v1/admin/connections/\(connection.id)", key: admin)
            #expect(deleted.status == .noContent)
            let gone = try await client.send(.get, "/v1/admin/connections/\(connection.id)", key: admin)
            #expect(gone.status == .notFound)
        }
    }

    @Test func aDuplicateConnectionNameIsAConflict() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            _ = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: sampleConnection())
            let duplicate = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: sampleConnection())
            #expect(duplicate.status == .conflict)
            #expect(duplicate.problem?.field == "name")
            // Names are per tenant.
            let elsewhere = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantB.admin, json: sampleConnection())
            #expect(elsewhere.status == .created)
        }
    }

    @Test(
        arguments: [
            ("postgres://reader:s3cret@db:5432/sales", "sourceURL"),
            ("postgresql://reader:@db/sales", "sourceURL"),
            ("postgres://reader@db/sales?password=s3cret", "sourceURL"),
            ("postgres://reader@db/sales?sslmode=require&PassWord=x", "sourceURL"),
            ("postgres://reader@db/sales?pass%77ord=x", "sourceURL"),
        ])
    func aConnectionWhoseURLCarriesAPasswordIsRefused(url: String, field: String) async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            var request = sampleConnection()
            request.sourceURL = url
            let response = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: request)
            #expect(response.status == .badRequest)
            #expect(response.problem?.field == field)
            #expect(!response.text.contains("s3cret"))
            #expect(try await fixture.store.connections(tenantId: fixture.tenantA.tenant.id).isEmpty)
        }
    }

    @Test func snowflakeConnectionsTakeKeyOrTokenReferencesAndAURLWithoutCredentials() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            var request = ConnectionRequest(
                name: "warehouse", sourceKind: "snowflake",
                sourceURL: "snowflake://OUTPOST_SVC@myorg-myacct/SALES?warehouse=OUTPOST_WH&role=OUTPOST_RO",
                secrets: ["privateKey": "aws-sm:prod/sf#key", "privateKeyPassphrase": "env:SF_KEY_PASSPHRASE"])
            let created = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: request)
            #expect(created.status == .created, "\(created.text)")
            let refusals: [(String, [String: String], String)] = [
                ("snowflake://svc:s3cret@myorg-myacct?warehouse=WH", ["token": "env:T"], "sourceURL"),
                ("snowflake://svc@myorg-myacct?token=s3cret", ["token": "env:T"], "sourceURL"),
                ("snowflake://svc@myorg-myacct?private_key_file_pwd=s3cret", ["token": "env:T"], "sourceURL"),
                ("snowflake://svc@myorg-myacct?endpoint=http://evil.example", ["token": "env:T"], "sourceURL"),
                ("postgres://svc@db/x", ["token": "env:T"], "sourceURL"),
                ("snowflake://svc@myorg-myacct", ["password": "env:P"], "secrets.password"),
                ("snowflake://svc@myorg-myacct", ["privateKey": "s3cret"], "secrets.privateKey"),
            ]
            for (url, secrets, field) in refusals {
                request.name = "refused"
                request.sourceURL = url
                request.secrets = secrets
                let response = try await client.send(
                    .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: request)
                #expect(response.status == .badRequest, "\(url)")
                #expect(response.problem?.field == field, "\(url)")
                #expect(!response.text.contains("s3cret"))
            }
        }
    }

    @Test func secretsMustBeReferencesNeverValues() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            var request = sampleConnection()
            request.secrets = ["password": "hunter2"]
            let literal = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: request)
            #expect(literal.status == .badRequest)
            #expect(literal.problem?.field == "secrets.password")
            #expect(!literal.text.contains("hunter2"))

            request.secrets = [
                "password": "aws-sm:prod/pg#password", "sslkey": "file:/etc/outpost/key.pem",
                "token": "command:vault",
                "user": "env:PGUSER",
            ]
            let references = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: request)
            #expect(references.status == .created)
        }
    }

    @Test func cloudStorageRelaySettingsAreCheckedByField() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            func request(_ relay: RelaySettings, name: String = "sales") -> ConnectionRequest {
                var request = sampleConnection()
                request.name = name
                request.delivery = DeliverySettings(mode: .relay, relay: relay)
                return request
            }
            let refused: [(RelaySettings, String)] = [
                (RelaySettings(kind: .gcs, bucket: "relay", region: "europe-west1"), "delivery.relay.region"),
                (
                    RelaySettings(kind: .gcs, bucket: "relay", serverSideEncryption: "AES256"),
                    "delivery.relay.serverSideEncryption"
                ),
                (RelaySettings(kind: .gcs, bucket: "Relay_Bucket!"), "delivery.relay.bucket"),
                (
                    RelaySettings(kind: .gcs, bucket: "relay", endpoint: "http://storage.internal"),
                    "delivery.relay.endpoint"
                ),
                (
                    RelaySettings(kind: .gcs, bucket: "relay", kmsKeyName: "projects/p/keys/k"),
                    "delivery.relay.kmsKeyName"
                ),
                (RelaySettings(bucket: "relay"), "delivery.relay.region"),
                (
                    RelaySettings(
                        bucket: "relay", region: "us-east-1",
                        kmsKeyName: "projects/p/locations/l/keyRings/r/cryptoKeys/k"), "delivery.relay.kmsKeyName"
                ),
                (RelaySettings(kind: .azureBlob, bucket: "relay"), "delivery.relay.account"),
                (RelaySettings(kind: .azureBlob, bucket: "relay", account: "Outpost_Relay"), "delivery.relay.account"),
                (RelaySettings(kind: .azureBlob, bucket: "Relay--x", account: "outpostrelay"), "delivery.relay.bucket"),
                (
                    RelaySettings(kind: .azureBlob, bucket: "relay", account: "outpostrelay", region: "westeurope"),
                    "delivery.relay.region"
                ),
                (RelaySettings(kind: .gcs, bucket: "relay", account: "outpostrelay"), "delivery.relay.account"),
                (RelaySettings(kind: .gcs, bucket: "relay", encryptionScope: "cmk"), "delivery.relay.encryptionScope"),
                (
                    RelaySettings(kind: .azureBlob, bucket: "relay", account: "outpostrelay", encryptionScope: "-x!"),
                    "delivery.relay.encryptionScope"
                ),
            ]
            for (relay, field) in refused {
                let response = try await client.send(
                    .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: request(relay))
                #expect(response.status == .badRequest, "\(relay)")
                #expect(response.problem?.field == field, "\(relay): \(response.text)")
            }
            let key = "projects/acme/locations/europe/keyRings/outpost/cryptoKeys/relay"
            let created = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin,
                json: request(RelaySettings(kind: .gcs, bucket: "acme-relay", prefix: "outpost", kmsKeyName: key)))
            #expect(created.status == .created, "\(created.text)")
            let connection = try created.decode(ConnectionResponse.self)
            #expect(connection.delivery.relay?.kind == .gcs)
            #expect(connection.delivery.relay?.kmsKeyName == key)
            #expect(connection.delivery.relay?.region == nil)
            let azure = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin,
                json: request(
                    RelaySettings(
                        kind: .azureBlob, bucket: "customer-relay", account: "acmerelay", encryptionScope: "outpost-cmk"
                    ),
                    name: "azure"))
            #expect(azure.status == .created, "\(azure.text)")
            let relay = try azure.decode(ConnectionResponse.self).delivery.relay
            #expect(relay?.account == "acmerelay")
            #expect(relay?.encryptionScope == "outpost-cmk")
        }
    }

    @Test func aRelayEndpointWithCredentialsAndOtherBadSettingsAreRefusedByField() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let cases: [(ConnectionRequest, String)] = [
                (
                    {
                        var request = sampleConnection()
                        request.delivery = DeliverySettings(
                            mode: .relay,
                            relay: RelaySettings(bucket: "b", region: "r", endpoint: "https://AKIA:secret@s3.local"))
                        return request
                    }(), "delivery.relay.endpoint"
                ),
                (
                    {
                        var request = sampleConnection()
                        request.delivery = DeliverySettings(mode: .relay)
                        return request
                    }(), "delivery.relay"
                ),
                (
                    {
                        var request = sampleConnection()
                        request.sourceKind = "oracle"
                        return request
                    }(), "sourceKind"
                ),
                (
                    {
                        var request = sampleConnection()
                        request.schedule = "every day"
                        return request
                    }(), "schedule"
                ),
                (
                    {
                        var request = sampleConnection()
                        request.pool = "eu west"
                        return request
                    }(), "pool"
                ),
            ]
            for (request, field) in cases {
                let response = try await client.send(
                    .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: request)
                #expect(response.status == .badRequest, "\(field)")
                #expect(response.problem?.field == field)
            }
            let unknown = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin,
                text: #"{"name": "x", "sourceKind": "sqlite", "sourceURL": "sqlite:/x.db", "password": "p"}"#)
            #expect(unknown.problem?.field == "password")
        }
    }

    @Test func aConnectionWithARunInProgressCannotBeDeleted() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let run = try #require(
                try await fixture.store.run(tenantId: fixture.tenantA.tenant.id, id: assignment.runId))
            let response = try await client.send(
                .delete, "/v1/admin/connections/\(run.connectionId)", key: fixture.tenantA.admin)
            #expect(response.status == .conflict)
        }
    }

    // MARK: Runs

    @Test func runNowQueuesARunThatIsListedAndCanBeCancelled() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let runId = try await client.queueRun(fixture)
            let run = try await client.send(.get, "/v1/admin/runs/\(runId)", key: fixture.tenantA.admin)
                .decode(RunResponse.self)
            #expect(run.status == .queued)
            #expect(run.maxAttempts == 3)
            #expect(run.createdAt == "2025-01-01T00:00:00.000Z")

            let list = try await client.send(.get, "/v1/admin/runs?limit=10", key: fixture.tenantA.admin)
                .decode(RunList.self)
            #expect(list.runs.map(\.id) == [runId])
            let byConnection = try await client.send(
                .get, "/v1/admin/runs?connectionId=\(run.connectionId)", key: fixture.tenantA.admin
            ).decode(RunList.self)
            #expect(byConnection.runs.count == 1)
            #expect(
                try await client.send(.get, "/v1/admin/runs", key: fixture.tenantB.admin).decode(RunList.self).runs
                    .isEmpty)
            #expect(
                try await client.send(.get, "/v1/admin/runs/\(runId)", key: fixture.tenantB.admin).status == .notFound)
            #expect(
                try await client.send(.get, "/v1/admin/runs?limit=0", key: fixture.tenantA.admin).status == .badRequest)

            let cancelled = try await client.send(.post, "/v1/admin/runs/\(runId)/cancel", key: fixture.tenantA.admin)
            #expect(cancelled.status == .ok)
            #expect(try cancelled.decode(RunResponse.self).status == .cancelled)
            let again = try await client.send(.post, "/v1/admin/runs/\(runId)/cancel", key: fixture.tenantA.admin)
            #expect(again.status == .conflict)
            // A cancelled run is never claimed.
            let claim = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest())
            #expect(claim.status == .noContent)
        }
    }

    @Test func runLogsArePagedWithoutSplittingCharacters() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let text = "héllo wörld\n"
            _ = try await client.send(
                .put, AgentProtocol.Path.logs(run: assignment.runId) + "?offset=0", key: fixture.tenantA.agent,
                bytes: Array(text.utf8),
                headers: [HTTPField.Name(AgentProtocol.leaseHeader)!: String(assignment.leaseId)])
            // "h" + the first byte of "é": the slice stops before the split character.
            let first = try await client.send(
                .get, "/v1/admin/runs/\(assignment.runId)/logs?from=0&limit=2", key: fixture.tenantA.admin
            ).decode(RunLogResponse.self)
            #expect(first.text == "h")
            #expect(first.nextOffset == 1)
            let rest = try await client.send(
                .get, "/v1/admin/runs/\(assignment.runId)/logs?from=1", key: fixture.tenantA.admin
            ).decode(RunLogResponse.self)
            #expect(rest.text == "éllo wörld\n")
            #expect(rest.nextOffset == Int64(text.utf8.count))
            let end = try await client.send(
                .get, "/v1/admin/runs/\(assignment.runId)/logs?from=\(text.utf8.count)", key: fixture.tenantA.admin
            ).decode(RunLogResponse.self)
            #expect(end.text.isEmpty)
        }
    }

    // MARK: Agents

    @Test func agentsShowAsActiveStaleOrOfflineBySilence() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            for agentId in ["old", "quiet", "fresh"] {
                _ = try await client.send(
                    .post, AgentProtocol.Path.heartbeat, key: fixture.tenantA.agent,
                    json: HeartbeatRequest(
                        agentId: agentId, agentName: agentId, version: "0.1.0", state: .idle, runningLeases: [],
                        freeSlots: 1))
                fixture.clock.advance(seconds: agentId == "old" ? 540 : 61)
            }
            let agents = try await client.send(.get, "/v1/admin/agents", key: fixture.tenantA.admin)
                .decode(AgentList.self).agents
            let status = Dictionary(uniqueKeysWithValues: agents.map { ($0.id, $0.status) })
            #expect(status == ["old": .offline, "quiet": .stale, "fresh": .stale])
            fixture.clock.advance(seconds: -61)
            let later = try await client.send(.get, "/v1/admin/agents", key: fixture.tenantA.admin)
                .decode(AgentList.self).agents
            #expect(later.first { $0.id == "fresh" }?.status == .active)
            #expect(
                try await client.send(.get, "/v1/admin/agents", key: fixture.tenantB.admin).decode(AgentList.self)
                    .agents.isEmpty)
        }
    }
}
