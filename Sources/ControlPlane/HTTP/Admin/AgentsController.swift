import ControlPlaneStorage
import Hummingbird
import OutpostProtocol

/// `/v1/admin/agents`: the tenant's agents with their health, and drain requests.
struct AgentsController<Store: ControlPlaneStore>: Sendable {
    let store: Store
    let configuration: ServerConfiguration
    let clock: WallClock

    func addRoutes(to group: RouterGroup<ControlPlaneRequestContext>) {
        group.get(use: list)
        group.post("{id}/drain", use: drain)
    }

    @Sendable func list(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let now = clock.now
        let agents = try await store.agents(tenantId: identity.tenantId)
        let list = AgentList(agents: agents.map { AgentResponse($0, status: status(of: $0, now: now)) })
        return try JSONResponse<AgentList>.make(list, status: .ok)
    }

    /// Asks the agent to stop claiming and exit once its jobs finish; delivered on its next heartbeat.
    @Sendable func drain(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let id = try context.parameters.require("id")
        guard try await store.requestDrain(tenantId: identity.tenantId, id: id) else {
            throw APIError.notFound("no agent \(id)")
        }
        return Response(status: .noContent)
    }

    /// Active within two heartbeat intervals, offline after `agentOfflineSeconds`, stale in between.
    func status(of agent: AgentRecord, now: Timestamp) -> AgentResponse.Status {
        let silence = now.milliseconds - agent.lastSeenAt.milliseconds
        if silence <= Int64(configuration.heartbeatIntervalSeconds) * 2 * 1000 { return .active }
        if silence < Int64(configuration.agentOfflineSeconds) * 1000 { return .stale }
        return .offline
    }
}
