import ControlPlane
import Foundation
import HTTPTypes
import HummingbirdTesting
import OutpostProtocol
import Testing

@Suite("Connection schedules over the admin API")
struct ConnectionScheduleTests {
    static func scheduled(_ schedule: String?, name: String = "sales") -> ConnectionRequest {
        var request = sampleConnection(name: name)
        request.schedule = schedule
        return request
    }

    @Test("a schedule shows its next run; an unchanged schedule keeps it, a new one recomputes, none removes it")
    func nextRunAtFollowsTheSchedule() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let created = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: Self.scheduled("*/15 * * * *"))
            #expect(created.status == .created)
            let connection = try created.decode(ConnectionResponse.self)
            #expect(connection.nextRunAt == "2025-01-01T00:15:00.000Z")
            #expect(created.text.contains(#""nextRunAt":"2025-01-01T00:15:00.000Z""#))

            fixture.clock.advance(seconds: 20 * 60)
            let path = "/v1/admin/connections/\(connection.id)"
            let unchanged = try await client.send(
                .put, path, key: fixture.tenantA.admin, json: Self.scheduled("*/15 * * * *")
            ).decode(ConnectionResponse.self)
            #expect(unchanged.nextRunAt == "2025-01-01T00:15:00.000Z")

            let changed = try await client.send(
                .put, path, key: fixture.tenantA.admin, json: Self.scheduled("@daily")
            ).decode(ConnectionResponse.self)
            #expect(changed.schedule == "@daily")
            #expect(changed.nextRunAt == "2025-01-02T00:00:00.000Z")
            let shown = try await client.send(.get, path, key: fixture.tenantA.admin).decode(ConnectionResponse.self)
            #expect(shown.nextRunAt == "2025-01-02T00:00:00.000Z")

            let removed = try await client.send(.put, path, key: fixture.tenantA.admin, json: Self.scheduled(nil))
            #expect(try removed.decode(ConnectionResponse.self).nextRunAt == nil)
            #expect(!removed.text.contains("nextRunAt"))
        }
    }

    @Test(
        "an invalid schedule is refused with 400 naming the field and the problem",
        arguments: [
            ("0 0 30 2 *", "can never fire"), ("61 * * * *", "out of range for the minute"),
            ("@reboot", "unknown schedule macro"), ("* * * *", "five fields"),
        ])
    func invalidSchedules(schedule: String, problem: String) async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let response = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: Self.scheduled(schedule))
            #expect(response.status == .badRequest)
            #expect(response.problem?.field == "schedule")
            #expect(response.problem?.message.contains(problem) == true, "\(response.text)")
        }
    }

    @Test("the running server queues a scheduled connection's run when its slot comes")
    func serverQueuesScheduledRuns() async throws {
        let fixture = try await ControlPlaneFixture.make { $0.schedulerInterval = .milliseconds(20) }
        try await fixture.application().test(.live) { client in
            let connection = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: Self.scheduled("@hourly")
            ).decode(ConnectionResponse.self)
            try await Task.sleep(for: .milliseconds(150))
            let before = try await client.send(.get, "/v1/admin/runs", key: fixture.tenantA.admin)
            #expect(try before.decode(RunList.self).runs.isEmpty)

            fixture.clock.advance(seconds: 3600)
            let deadline = ContinuousClock.now.advanced(by: .seconds(10))
            var runs: [RunResponse] = []
            while runs.isEmpty && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                runs = try await client.send(.get, "/v1/admin/runs", key: fixture.tenantA.admin)
                    .decode(RunList.self).runs
            }
            #expect(runs.map(\.connectionId) == [connection.id])
            #expect(runs.first?.status == .queued)
            let shown = try await client.send(
                .get, "/v1/admin/connections/\(connection.id)", key: fixture.tenantA.admin
            ).decode(ConnectionResponse.self)
            #expect(shown.nextRunAt == "2025-01-01T02:00:00.000Z")
            // Tenant B sees none of it.
            let other = try await client.send(.get, "/v1/admin/runs", key: fixture.tenantB.admin)
            #expect(try other.decode(RunList.self).runs.isEmpty)
        }
    }
}
