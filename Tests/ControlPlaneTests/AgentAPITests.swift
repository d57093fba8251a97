import ControlPlane
import ControlPlaneStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Metadata
import NIOCore
import OutpostProtocol
import Testing

@Suite("Agent API v1")
struct AgentAPITests {
    // MARK: Claim

    @Test func claimHandsOutAQueuedRunWithItsJobSpecAndRecordsTheAgent() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let runId = try await client.queueRun(fixture)
            let response = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest())
            #expect(response.status == .ok)
            let run = try response.decode(ClaimResponse.self).run
            #expect(run.runId == runId)
            #expect(run.leaseId == 1)
            #expect(run.attempt == 1)
            #expect(run.leaseTTLSeconds == 60)
            #expect(run.job.connectionName == "sales")
            #expect(run.job.sourceURL == "postgres://reader@db.internal:5432/sales")
            #expect(run.job.secrets == ["password": "env:SALES_PASSWORD"])
            #expect(run.job.filters.includeSchemas == ["public"])
            #expect(run.job.delivery.mode == .direct)
            #expect(run.limits == fixture.configuration.runLimits)

            let stored = try #require(try await fixture.store.run(tenantId: fixture.tenantA.tenant.id, id: runId))
            #expect(stored.status == .leased)
            #expect(stored.leaseAgentId == "agent-1")
            let agent = try #require(try await fixture.store.agent(tenantId: fixture.tenantA.tenant.id, id: "agent-1"))
            #expect(agent.name == "agent one")
            #expect(agent.lastSeenAt == fixture.clock.now)
        }
    }

    @Test func claimAnswersNoContentWhenNothingIsQueued() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let response = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest())
            #expect(response.status == .noContent)
            #expect(response.body.readableBytes == 0)
        }
    }

    @Test func repeatedEmptyClaimsRewriteTheAgentOnlyWhenItChangedOrItsLastSeenTimeIsSecondsOld() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let tenant = fixture.tenantA.tenant.id
        try await fixture.application().test(.router) { client in
            func claim(freeSlots: Int = 1) async throws -> AgentRecord {
                let response = try await client.send(
                    .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent,
                    json: claimRequest(freeSlots: freeSlots))
                #expect(response.status == .noContent)
                return try #require(try await fixture.store.agent(tenantId: tenant, id: "agent-1"))
            }
            let first = fixture.clock.now
            #expect(try await claim().lastSeenAt == first)
            // Within the resolution (5 s with the 30 s heartbeat interval) the row is left alone.
            fixture.clock.advance(seconds: 4)
            #expect(try await claim().lastSeenAt == first)
            // A change is written at once.
            let changed = try await claim(freeSlots: 2)
            #expect(changed.freeSlots == 2)
            #expect(changed.lastSeenAt == fixture.clock.now)
            // Past the resolution the last-seen time moves again.
            fixture.clock.advance(seconds: 5)
            #expect(try await claim(freeSlots: 2).lastSeenAt == fixture.clock.now)
        }
    }

    @Test func claimOfAnotherTenantNeverSeesTheRun() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            _ = try await client.queueRun(fixture)
            let response = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantB.agent, json: claimRequest())
            #expect(response.status == .noContent)
        }
    }

    @Test func claimWithNoFreeSlotsOrWhileDrainingGetsNothing() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            _ = try await client.queueRun(fixture)
            let full = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest(freeSlots: 0))
            #expect(full.status == .noContent)
            let drain = try await client.send(.post, "/v1/admin/agents/agent-1/drain", key: fixture.tenantA.admin)
            #expect(drain.status == .noContent)
            let draining = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest())
            #expect(draining.status == .noContent)
        }
    }

    @Test func claimFromAnAgentOlderThanTheMinimumIsRefusedAfterTheDeadline() async throws {
        let fixture = try await ControlPlaneFixture.make {
            $0.minimumAgentVersion = "0.2.0"
            $0.minimumAgentVersionDeadline = Timestamp(milliseconds: 1_735_689_600_000).adding(seconds: 3600)
        }
        try await fixture.application().test(.router) { client in
            _ = try await client.queueRun(fixture)
            let beforeDeadline = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest())
            #expect(beforeDeadline.status == .ok)
            fixture.clock.advance(seconds: 3601)
            let afterDeadline = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest())
            #expect(afterDeadline.status == .forbidden)
            #expect(afterDeadline.problem?.error == "unsupported_version")
        }
    }

    // MARK: Start

    @Test func startMovesALeasedRunToRunning() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.claimedRun(fixture)
            let response = try await client.send(
                .post, AgentProtocol.Path.start(run: assignment.runId), key: fixture.tenantA.agent,
                json: StartRequest(leaseId: assignment.leaseId, agentId: "agent-1"))
            #expect(response.status == .ok)
            let lease = try response.decode(LeaseResponse.self)
            #expect(lease == LeaseResponse(leaseId: assignment.leaseId, leaseTTLSeconds: 60))
            let run = try #require(
                try await fixture.store.run(tenantId: fixture.tenantA.tenant.id, id: assignment.runId))
            #expect(run.status == .running)
            #expect(run.startedAt == fixture.clock.now)
        }
    }

    @Test func startWithAStaleLeaseIsAConflict() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.claimedRun(fixture)
            for leaseId in [assignment.leaseId - 1, assignment.leaseId + 1] {
                let response = try await client.send(
                    .post, AgentProtocol.Path.start(run: assignment.runId), key: fixture.tenantA.agent,
                    json: StartRequest(leaseId: leaseId, agentId: "agent-1"))
                #expect(response.status == .conflict)
                #expect(response.problem?.error == "stale_lease")
            }
            let otherAgent = try await client.send(
                .post, AgentProtocol.Path.start(run: assignment.runId), key: fixture.tenantA.agent,
                json: StartRequest(leaseId: assignment.leaseId, agentId: "agent-2"))
            #expect(otherAgent.status == .conflict)
        }
    }

    @Test func startAfterTheLeaseExpiredIsAConflict() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.claimedRun(fixture)
            fixture.clock.advance(seconds: assignment.leaseTTLSeconds + 1)
            let response = try await client.send(
                .post, AgentProtocol.Path.start(run: assignment.runId), key: fixture.tenantA.agent,
                json: StartRequest(leaseId: assignment.leaseId, agentId: "agent-1"))
            #expect(response.status == .conflict)
            #expect(response.problem?.error == "stale_lease")
        }
    }

    // MARK: Lease renewal

    @Test func renewalExtendsTheLease() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            fixture.clock.advance(seconds: 45)
            let response = try await client.send(
                .post, AgentProtocol.Path.lease(run: assignment.runId), key: fixture.tenantA.agent,
                json: LeaseRenewalRequest(leaseId: assignment.leaseId))
            #expect(response.status == .ok)
            #expect(try response.decode(LeaseResponse.self).cancel == false)
            let run = try #require(
                try await fixture.store.run(tenantId: fixture.tenantA.tenant.id, id: assignment.runId))
            #expect(run.leaseExpiresAt == fixture.clock.now.adding(seconds: 60))
            // Past the original expiry, the renewed lease still holds.
            fixture.clock.advance(seconds: 30)
            let again = try await client.send(
                .post, AgentProtocol.Path.lease(run: assignment.runId), key: fixture.tenantA.agent,
                json: LeaseRenewalRequest(leaseId: assignment.leaseId))
            #expect(again.status == .ok)
        }
    }

    @Test func renewalWithAStaleOrExpiredLeaseIsAConflict() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let stale = try await client.send(
                .post, AgentProtocol.Path.lease(run: assignment.runId), key: fixture.tenantA.agent,
                json: LeaseRenewalRequest(leaseId: assignment.leaseId + 1))
            #expect(stale.status == .conflict)
            #expect(stale.problem?.error == "stale_lease")
            // Past the TTL and the grace, until which a running run's lease is still accepted.
            fixture.clock.advance(seconds: 61 + fixture.configuration.leaseGraceSeconds)
            let expired = try await client.send(
                .post, AgentProtocol.Path.lease(run: assignment.runId), key: fixture.tenantA.agent,
                json: LeaseRenewalRequest(leaseId: assignment.leaseId))
            #expect(expired.status == .conflict)
            #expect(expired.problem?.error == "stale_lease")
        }
    }

    @Test func cancellationReachesTheAgentInTheNextRenewal() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let cancel = try await client.send(
                .post, "/v1/admin/runs/\(assignment.runId)/cancel", key: fixture.tenantA.admin,
                json: CancelRequest(reason: "maintenance window"))
            #expect(cancel.status == .ok)
            #expect(try cancel.decode(RunResponse.self).cancelRequested)

            let renewal = try await client.send(
                .post, AgentProtocol.Path.lease(run: assignment.runId), key: fixture.tenantA.agent,
                json: LeaseRenewalRequest(leaseId: assignment.leaseId))
            let lease = try renewal.decode(LeaseResponse.self)
            #expect(lease.cancel)
            #expect(lease.cancelReason == "maintenance window")

            let complete = try await client.send(
                .post, AgentProtocol.Path.complete(run: assignment.runId), key: fixture.tenantA.agent,
                json: completeRequest(leaseId: assignment.leaseId, status: .cancelled))
            #expect(complete.status == .ok)
            let run = try await client.send(.get, "/v1/admin/runs/\(assignment.runId)", key: fixture.tenantA.admin)
                .decode(RunResponse.self)
            #expect(run.status == .cancelled)
        }
    }

    @Test func anExpiredLeaseIsRequeuedAndClaimedWithAHigherLeaseId() async throws {
        let fixture = try await ControlPlaneFixture.make { $0.leaseExpiryInterval = .milliseconds(20) }
        try await fixture.application().test(.router) { client in
            let first = try await client.startedRun(fixture)
            fixture.clock.advance(seconds: 60 + 30 + 1)
            // The background expiry runs every 20 ms; a held claim is woken when it re-queues the run.
            let response = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent,
                json: claimRequest(agentId: "agent-2", waitSeconds: 5))
            let second = try response.decode(ClaimResponse.self).run
            #expect(second.runId == first.runId)
            #expect(second.leaseId > first.leaseId)
            #expect(second.attempt == 2)
            // The first agent's lease is dead for good.
            let renewal = try await client.send(
                .post, AgentProtocol.Path.lease(run: first.runId), key: fixture.tenantA.agent,
                json: LeaseRenewalRequest(leaseId: first.leaseId))
            #expect(renewal.status == .conflict)
        }
    }

    // MARK: Heartbeat

    @Test func heartbeatRecordsTheAgentAndAnswersWhatItShouldKnow() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let expiring = try await fixture.mintKey(role: .agent, expiresAt: fixture.clock.now.adding(seconds: 86_400))
        try await fixture.application().test(.router) { client in
            var heartbeat = HeartbeatRequest(
                agentId: "agent-1", agentName: "agent one", version: "0.1.0", state: .busy,
                runningLeases: [.init(runId: "run_x", leaseId: 3)], freeSlots: 2)
            heartbeat.cpuPercent = 12.5
            heartbeat.memoryBytes = 1_000_000
            heartbeat.diskFreeBytes = 5_000_000
            heartbeat.spoolBacklogBytes = 42
            heartbeat.lastError = "source unreachable"
            let response = try await client.send(
                .post, AgentProtocol.Path.heartbeat, key: expiring.text, json: heartbeat)
            #expect(response.status == .ok)
            let answer = try response.decode(HeartbeatResponse.self)
            #expect(answer.drain == false)
            #expect(answer.minimumAgentVersion == "0.1.0")
            #expect(answer.versionDeadline == nil)
            #expect(answer.keyExpiresAt == "2025-01-02T00:00:00.000Z")
            #expect(answer.serverTime == "2025-01-01T00:00:00.000Z")

            let agent = try #require(try await fixture.store.agent(tenantId: fixture.tenantA.tenant.id, id: "agent-1"))
            #expect(agent.state == "busy")
            #expect(agent.runningLeases == 1)
            #expect(agent.freeSlots == 2)
            #expect(agent.cpuPercent == 12.5)
            #expect(agent.memoryBytes == 1_000_000)
            #expect(agent.diskFreeBytes == 5_000_000)
            #expect(agent.spoolBacklogBytes == 42)
            #expect(agent.lastError == "source unreachable")

            _ = try await client.send(.post, "/v1/admin/agents/agent-1/drain", key: fixture.tenantA.admin)
            let drained = try await client.send(
                .post, AgentProtocol.Path.heartbeat, key: fixture.tenantA.agent, json: heartbeat
            ).decode(HeartbeatResponse.self)
            #expect(drained.drain)
            #expect(drained.keyExpiresAt == nil)
        }
    }

    @Test func heartbeatWarnsAnOutdatedAgentOfTheDeadline() async throws {
        let fixture = try await ControlPlaneFixture.make {
            $0.minimumAgentVersion = "1.2.0"
            $0.minimumAgentVersionDeadline = Timestamp(rfc3339: "2025-02-01T00:00:00Z")
        }
        try await fixture.application().test(.router) { client in
            let heartbeat = HeartbeatRequest(
                agentId: "agent-1", agentName: "old", version: "1.1.9", state: .idle, runningLeases: [], freeSlots: 1)
            let answer = try await client.send(
                .post, AgentProtocol.Path.heartbeat, key: fixture.tenantA.agent, json: heartbeat
            ).decode(HeartbeatResponse.self)
            #expect(answer.minimumAgentVersion == "1.2.0")
            #expect(answer.versionDeadline == "2025-02-01T00:00:00.000Z")
        }
    }

    // MARK: Logs

    @Test func logChunksAppendAtTheirOffsetAndAResendIsIdempotent() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let path = AgentProtocol.Path.logs(run: assignment.runId)
            let headers: HTTPFields = [
                HTTPField.Name(AgentProtocol.leaseHeader)!: String(assignment.leaseId), .contentEncoding: "gzip",
            ]
            let first = try Gzip.compress(Array("connecting to db.internal\n".utf8))
            let accepted = try await client.send(
                .put, path + "?offset=0", key: fixture.tenantA.agent, bytes: first, headers: headers)
            #expect(accepted.status == .ok)
            #expect(try accepted.decode(LogChunkResponse.self).nextOffset == 26)

            let resent = try await client.send(
                .put, path + "?offset=0", key: fixture.tenantA.agent, bytes: first, headers: headers)
            #expect(try resent.decode(LogChunkResponse.self).nextOffset == 26)

            let second = try Gzip.compress(Array("read 12 schemas — done\n".utf8))
            let appended = try await client.send(
                .put, path + "?offset=26", key: fixture.tenantA.agent, bytes: second, headers: headers)
            let next = try appended.decode(LogChunkResponse.self).nextOffset
            #expect(next == 26 + Int64("read 12 schemas — done\n".utf8.count))

            let gap = try await client.send(
                .put, path + "?offset=999", key: fixture.tenantA.agent, bytes: second, headers: headers)
            #expect(gap.status == .conflict)
            #expect(gap.problem?.error == "offset_mismatch")
            #expect(gap.problem?.expectedOffset == next)

            let different = try Gzip.compress(Array("something else entirely!!\n".utf8))
            let overwrite = try await client.send(
                .put, path + "?offset=0", key: fixture.tenantA.agent, bytes: different, headers: headers)
            #expect(overwrite.status == .conflict)
            #expect(overwrite.problem?.expectedOffset == next)

            let log = try await client.send(
                .get, "/v1/admin/runs/\(assignment.runId)/logs", key: fixture.tenantA.admin
            ).decode(RunLogResponse.self)
            #expect(log.text == "connecting to db.internal\nread 12 schemas — done\n")
            #expect(log.totalBytes == next)
            #expect(log.nextOffset == next)
            #expect(log.finished == false)
        }
    }

    @Test func aReLeasedAttemptKeepsItsWholeLogAfterTheFirstAttemptsAndItsDigestMatchesTheAgents() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let first = try await client.startedRun(fixture)
            let path = AgentProtocol.Path.logs(run: first.runId)
            func ship(_ text: String, at offset: Int64, lease: Int64) async throws -> TestResponse {
                try await client.send(
                    .put, path + "?offset=\(offset)", key: fixture.tenantA.agent, bytes: Array(text.utf8),
                    headers: [HTTPField.Name(AgentProtocol.leaseHeader)!: String(lease)])
            }
            let one = "attempt one: extracting\n"
            #expect(try await ship(one, at: 0, lease: first.leaseId).status == .ok)

            // The first agent goes silent; its lease expires and the run is claimed and started again.
            fixture.clock.advance(
                seconds: fixture.configuration.leaseTTLSeconds + fixture.configuration.leaseGraceSeconds + 1)
            #expect(
                try await fixture.store.expireLeases(
                    now: fixture.clock.now, graceSeconds: fixture.configuration.leaseGraceSeconds) == 1)
            let second = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest()
            ).decode(ClaimResponse.self).run
            let started = try await client.send(
                .post, AgentProtocol.Path.start(run: second.runId), key: fixture.tenantA.agent,
                json: StartRequest(leaseId: second.leaseId, agentId: "agent-1"))
            #expect(started.status == .ok)
            #expect(second.runId == first.runId)
            #expect(second.attempt == 2)

            // The second attempt's log starts at its own offset 0, and is stored after the first's, whole.
            let two = "attempt two: extracting\nattempt two: done\n"
            let shipped = try await ship(two, at: 0, lease: second.leaseId)
            #expect(try shipped.decode(LogChunkResponse.self).nextOffset == Int64(two.utf8.count))
            let gap = try await ship("late\n", at: 999, lease: second.leaseId)
            #expect(gap.problem?.expectedOffset == Int64(two.utf8.count))
            // The first attempt's lease can no longer log.
            #expect(try await ship("zombie\n", at: Int64(one.utf8.count), lease: first.leaseId).status == .conflict)

            let digest = SHA256Hex.of(Array(two.utf8))
            let completed = try await client.send(
                .post, AgentProtocol.Path.complete(run: second.runId), key: fixture.tenantA.agent,
                json: CompleteRequest(
                    leaseId: second.leaseId, status: .failed, error: "stop here",
                    logs: .init(bytes: Int64(two.utf8.count), sha256: digest, droppedBytes: 0)))
            #expect(completed.status == .ok)
            let run = try await client.send(.get, "/v1/admin/runs/\(first.runId)", key: fixture.tenantA.admin)
                .decode(RunResponse.self)
            #expect(run.logAttemptOffset == Int64(one.utf8.count))
            #expect(run.logBytes == Int64((one + two).utf8.count))
            #expect(run.logTotalBytes == run.logBytes)
            #expect(run.logSHA256 == digest)
            let log = try await client.send(
                .get, "/v1/admin/runs/\(first.runId)/logs", key: fixture.tenantA.admin
            ).decode(RunLogResponse.self)
            #expect(log.text == one + two)
            #expect(SHA256Hex.of(Array(log.text.utf8.dropFirst(one.utf8.count))) == run.logSHA256)
        }
    }

    @Test func logChunksMayBeSentUncompressed() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let response = try await client.send(
                .put, AgentProtocol.Path.logs(run: assignment.runId) + "?offset=0", key: fixture.tenantA.agent,
                bytes: Array("plain\n".utf8),
                headers: [HTTPField.Name(AgentProtocol.leaseHeader)!: String(assignment.leaseId)])
            #expect(try response.decode(LogChunkResponse.self).nextOffset == 6)
        }
    }

    @Test func logChunksNeedAValidLeaseOffsetAndEncoding() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let path = AgentProtocol.Path.logs(run: assignment.runId)
            let lease = HTTPField.Name(AgentProtocol.leaseHeader)!
            let body = try Gzip.compress(Array("x\n".utf8))

            let stale = try await client.send(
                .put, path + "?offset=0", key: fixture.tenantA.agent, bytes: body,
                headers: [lease: String(assignment.leaseId + 1), .contentEncoding: "gzip"])
            #expect(stale.status == .conflict)
            #expect(stale.problem?.error == "stale_lease")

            let noLease = try await client.send(
                .put, path + "?offset=0", key: fixture.tenantA.agent, bytes: body, headers: [.contentEncoding: "gzip"])
            #expect(noLease.status == .badRequest)
            #expect(noLease.problem?.field == AgentProtocol.leaseHeader)

            let noOffset = try await client.send(
                .put, path, key: fixture.tenantA.agent, bytes: body,
                headers: [lease: String(assignment.leaseId), .contentEncoding: "gzip"])
            #expect(noOffset.status == .badRequest)
            #expect(noOffset.problem?.field == "offset")

            let notGzip = try await client.send(
                .put, path + "?offset=0", key: fixture.tenantA.agent, bytes: Array("plain".utf8),
                headers: [lease: String(assignment.leaseId), .contentEncoding: "gzip"])
            #expect(notGzip.status == .badRequest)

            let brotli = try await client.send(
                .put, path + "?offset=0", key: fixture.tenantA.agent, bytes: body,
                headers: [lease: String(assignment.leaseId), .contentEncoding: "br"])
            #expect(brotli.status == .badRequest)
            #expect(brotli.problem?.field == "Content-Encoding")

            // Past the TTL and the grace, until which a running run's lease is still accepted.
            fixture.clock.advance(seconds: 61 + fixture.configuration.leaseGraceSeconds)
            let expired = try await client.send(
                .put, path + "?offset=0", key: fixture.tenantA.agent, bytes: body,
                headers: [lease: String(assignment.leaseId), .contentEncoding: "gzip"])
            #expect(expired.status == .conflict)
        }
    }

    @Test func logChunksAreBoundedCompressedAndDecompressed() async throws {
        let fixture = try await ControlPlaneFixture.make { $0.maximumDecompressedLogChunkBytes = 64 * 1024 }
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let path = AgentProtocol.Path.logs(run: assignment.runId) + "?offset=0"
            let headers: HTTPFields = [
                HTTPField.Name(AgentProtocol.leaseHeader)!: String(assignment.leaseId), .contentEncoding: "gzip",
            ]
            // A small body that inflates past the bound (a "zip bomb").
            let bomb = try Gzip.compress([UInt8](repeating: 0x61, count: 1024 * 1024), level: 9)
            #expect(bomb.count < 64 * 1024)
            let inflated = try await client.send(.put, path, key: fixture.tenantA.agent, bytes: bomb, headers: headers)
            #expect(inflated.status == .contentTooLarge)

            let huge = [UInt8](repeating: 0x61, count: AgentProtocol.maximumLogChunkBytes + 1)
            let oversized = try await client.send(
                .put, path, key: fixture.tenantA.agent, bytes: huge,
                headers: [HTTPField.Name(AgentProtocol.leaseHeader)!: String(assignment.leaseId)])
            #expect(oversized.status == .contentTooLarge)
            #expect(oversized.problem?.error == "payload_too_large")
        }
    }

    // MARK: Complete

    /// A failed run delivered nothing, so its outcome is final at once (succeeded and partial runs go through
    /// ingestion: `DirectIngestionTests`).
    @Test func completeRecordsTheOutcomeAndEndsTheLease() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            fixture.clock.advance(seconds: 10)
            let request = completeRequest(leaseId: assignment.leaseId, status: .failed)
            let response = try await client.send(
                .post, AgentProtocol.Path.complete(run: assignment.runId), key: fixture.tenantA.agent, json: request)
            #expect(response.status == .ok)
            #expect(try response.decode(CompleteResponse.self) == CompleteResponse(ingestion: "none"))
            let run = try #require(
                try await fixture.store.run(tenantId: fixture.tenantA.tenant.id, id: assignment.runId))
            #expect(run.status == .failed)
            #expect(run.finishedAt == fixture.clock.now)

            // A retry of the same completion is answered the same way.
            let retry = try await client.send(
                .post, AgentProtocol.Path.complete(run: assignment.runId), key: fixture.tenantA.agent, json: request)
            #expect(retry.status == .ok)
            // A different outcome, or any further lease use, is stale.
            let different = try await client.send(
                .post, AgentProtocol.Path.complete(run: assignment.runId), key: fixture.tenantA.agent,
                json: completeRequest(leaseId: assignment.leaseId, status: .cancelled))
            #expect(different.status == .conflict)
            let renewal = try await client.send(
                .post, AgentProtocol.Path.lease(run: assignment.runId), key: fixture.tenantA.agent,
                json: LeaseRenewalRequest(leaseId: assignment.leaseId))
            #expect(renewal.status == .conflict)
        }
    }

    @Test func aFailedRunKeepsTheAgentsReason() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            var request = completeRequest(leaseId: assignment.leaseId, status: .failed)
            request.error = "permission denied for schema finance"
            _ = try await client.send(
                .post, AgentProtocol.Path.complete(run: assignment.runId), key: fixture.tenantA.agent, json: request)
            let run = try await client.send(.get, "/v1/admin/runs/\(assignment.runId)", key: fixture.tenantA.admin)
                .decode(RunResponse.self)
            #expect(run.status == .failed)
            #expect(run.error == "permission denied for schema finance")
        }
    }

    @Test func completeWithAStaleOrExpiredLeaseIsAConflict() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let stale = try await client.send(
                .post, AgentProtocol.Path.complete(run: assignment.runId), key: fixture.tenantA.agent,
                json: completeRequest(leaseId: assignment.leaseId + 1))
            #expect(stale.status == .conflict)
            #expect(stale.problem?.error == "stale_lease")
            // Past the TTL and the grace, until which a running run's lease is still accepted.
            fixture.clock.advance(seconds: 61 + fixture.configuration.leaseGraceSeconds)
            let expired = try await client.send(
                .post, AgentProtocol.Path.complete(run: assignment.runId), key: fixture.tenantA.agent,
                json: completeRequest(leaseId: assignment.leaseId))
            #expect(expired.status == .conflict)
        }
    }

    // MARK: Tenant isolation

    @Test(arguments: RunEndpoint.allCases)
    func aKeyOfAnotherTenantGetsNotFoundForARunAndNeverItsData(endpoint: RunEndpoint) async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let response = try await endpoint.send(
                client, runId: assignment.runId, leaseId: assignment.leaseId, key: fixture.tenantB.agent)
            #expect(response.status == .notFound)
            #expect(response.problem?.error == "not_found")
            #expect(!response.text.contains("sales"))
            #expect(!response.text.contains("leaseTTLSeconds"))
            // The run is untouched.
            let run = try #require(
                try await fixture.store.run(tenantId: fixture.tenantA.tenant.id, id: assignment.runId))
            #expect(run.status == .running)
            #expect(run.logBytes == 0)
        }
    }
}

extension AgentAPITests {
    @Test(arguments: RunEndpoint.allCases)
    func aLeaseIsBoundToTheAgentThatClaimedItAndAnotherAgentOfTheTenantIsRefused(
        endpoint: RunEndpoint
    )
        async throws
    {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let response = try await endpoint.send(
                client, runId: assignment.runId, leaseId: assignment.leaseId, key: fixture.tenantA.agent,
                agent: "agent-2")
            #expect(response.status == .conflict, "\(response.text)")
            #expect(response.problem?.error == "stale_lease")
            // The run is untouched and still the claiming agent's.
            let run = try #require(
                try await fixture.store.run(tenantId: fixture.tenantA.tenant.id, id: assignment.runId))
            #expect(run.status == .running)
            #expect(run.leaseAgentId == "agent-1")
            #expect(run.logBytes == 0)
            #expect(run.logSHA256 == nil)
            // Without the header at all, a run call is a bad request.
            if endpoint != .start {
                let bare = try await client.executeRequest(
                    uri: endpoint == .logs
                        ? AgentProtocol.Path.logs(run: assignment.runId) + "?offset=0"
                        : "/v1/runs/\(assignment.runId)/\(endpoint.rawValue)",
                    method: endpoint == .logs ? .put : .post,
                    headers: [
                        .authorization: "Bearer \(fixture.tenantA.agent)", .contentType: "application/json",
                        HTTPField.Name(AgentProtocol.leaseHeader)!: String(assignment.leaseId),
                    ],
                    body: ByteBuffer(string: "{\"leaseId\":\(assignment.leaseId)}"))
                #expect(bare.status == .badRequest, "\(String(buffer: bare.body))")
            }
        }
    }
}

extension AgentAPITests {
    @Test func aRunningRunsLeaseIsAcceptedUpToTheGracePastItsTTLUntilWhichItIsNotRequeued() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            func renew() async throws -> TestResponse {
                try await RunEndpoint.lease.send(
                    client, runId: assignment.runId, leaseId: assignment.leaseId, key: fixture.tenantA.agent)
            }
            let ttl = fixture.configuration.leaseTTLSeconds
            let grace = fixture.configuration.leaseGraceSeconds
            // Cut off for longer than the TTL (a network outage): the run is still this agent's, so it goes on.
            fixture.clock.advance(seconds: ttl + grace / 2)
            #expect(try await renew().status == .ok)
            // Silent for longer than TTL + grace: the run is the queue's again.
            fixture.clock.advance(seconds: ttl + grace + 1)
            #expect(try await renew().status == .conflict)
        }
    }

    @Test func theControlPlaneKeepsTheLongestAuditHeadAndRecordsALedgerThatShrank() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            func beat(_ sequence: Int64, _ hash: Character) async throws -> HeartbeatResponse {
                var request = HeartbeatRequest(
                    agentId: "agent-1", agentName: "one", version: "0.1.0", state: .idle, runningLeases: [],
                    freeSlots: 1)
                request.auditHead = AuditHead(sequence: sequence, hash: String(repeating: hash, count: 64))
                return try await client.send(
                    .post, AgentProtocol.Path.heartbeat, key: fixture.tenantA.agent, json: request
                ).decode(HeartbeatResponse.self)
            }
            #expect(try await beat(3, "a").auditHead == AuditHead(sequence: 3, hash: String(repeating: "a", count: 64)))
            #expect(try await beat(5, "b").auditHead?.sequence == 5)
            #expect(
                try await fixture.store.agent(tenantId: fixture.tenantA.tenant.id, id: "agent-1")?.auditProblem == nil)
            // Two entries cut off: the control plane keeps what it saw and records the problem.
            let shrunk = try await beat(3, "a")
            #expect(shrunk.auditHead?.sequence == 5)
            let agents = try await client.send(.get, "/v1/admin/agents", key: fixture.tenantA.admin)
                .decode(AgentList.self).agents
            let problem = try #require(agents.first?.auditProblem)
            #expect(problem.contains("3 entries") && problem.contains("5") && problem.contains("removed"), "\(problem)")
            #expect(agents.first?.auditHead?.sequence == 5)
            // A malformed head is refused.
            var bad = HeartbeatRequest(
                agentId: "agent-1", agentName: "one", version: "0.1.0", state: .idle, runningLeases: [], freeSlots: 1)
            bad.auditHead = AuditHead(sequence: -1, hash: "x")
            let refused = try await client.send(
                .post, AgentProtocol.Path.heartbeat, key: fixture.tenantA.agent, json: bad)
            #expect(refused.status == .badRequest)
        }
    }
}

/// The run-scoped agent endpoints, for parameterised tests.
enum RunEndpoint: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case start, lease, logs, uploads, complete

    var testDescription: String { rawValue }

    /// Calls the endpoint as the agent `agent`.
    func send(
        _ client: some TestClientProtocol, runId: String, leaseId: Int64, key: String, agent: String = "agent-1"
    ) async throws
        -> TestResponse
    {
        let agentHeader: HTTPFields = [HTTPField.Name(AgentProtocol.agentHeader)!: agent]
        switch self {
        case .start:
            return try await client.send(
                .post, AgentProtocol.Path.start(run: runId), key: key,
                json: StartRequest(leaseId: leaseId, agentId: agent), headers: agentHeader)
        case .lease:
            return try await client.send(
                .post, AgentProtocol.Path.lease(run: runId), key: key, json: LeaseRenewalRequest(leaseId: leaseId),
                headers: agentHeader)
        case .logs:
            var headers = agentHeader
            headers[HTTPField.Name(AgentProtocol.leaseHeader)!] = String(leaseId)
            return try await client.send(
                .put, AgentProtocol.Path.logs(run: runId) + "?offset=0", key: key, bytes: Array("x\n".utf8),
                headers: headers)
        case .uploads:
            return try await client.send(
                .post, AgentProtocol.Path.uploads(run: runId), key: key,
                json: UploadGrantRequest(
                    leaseId: leaseId,
                    files: [.init(path: "manifest.json", bytes: 2, sha256: String(repeating: "0", count: 64))]),
                headers: agentHeader)
        case .complete:
            return try await client.send(
                .post, AgentProtocol.Path.complete(run: runId), key: key, json: completeRequest(leaseId: leaseId),
                headers: agentHeader)
        }
    }
}
