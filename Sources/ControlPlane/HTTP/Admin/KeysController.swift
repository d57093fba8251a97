import ControlPlaneStorage
import Hummingbird
import Logging
import OutpostProtocol

/// `/v1/admin/keys`: create (the key text is shown once), list (never hashes), revoke (effective at once,
/// because every request looks its key up).
struct KeysController<Store: ControlPlaneStore>: Sendable {
    let store: Store
    let clock: WallClock

    func addRoutes(to group: RouterGroup<ControlPlaneRequestContext>) {
        group.post(use: create)
        group.get(use: list)
        group.delete("{id}", use: revoke)
    }

    @Sendable func create(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(KeyCreateRequest.self)
        let identity = try context.requireIdentity()
        try ConnectionValidation.checkText(body.name, field: "name", maximum: 200)
        let now = clock.now
        var expiresAt: Timestamp?
        if let text = body.expiresAt {
            guard let parsed = Timestamp(rfc3339: text) else {
                throw APIError.invalidRequest("expiresAt must be an RFC 3339 time", field: "expiresAt")
            }
            guard parsed > now else { throw APIError.invalidRequest("expiresAt is in the past", field: "expiresAt") }
            expiresAt = parsed
        }
        let minted = APIKey.mint(
            tenantId: identity.tenantId, name: body.name, role: body.role, expiresAt: expiresAt, now: now)
        try await store.createKey(minted.key)
        context.logger.info(
            "key.created",
            metadata: ["key.id": .string(minted.key.id), "key.role": .string(body.role.rawValue)])
        return try JSONResponse<KeyCreatedResponse>.make(
            KeyCreatedResponse(key: minted.text, apiKey: KeySummary(minted.key)), status: .created)
    }

    @Sendable func list(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let keys = try await store.keys(tenantId: identity.tenantId)
        return try JSONResponse<KeyList>.make(KeyList(keys: keys.map(KeySummary.init)), status: .ok)
    }

    @Sendable func revoke(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let id = try context.parameters.require("id")
        guard try await store.revokeKey(tenantId: identity.tenantId, id: id, at: clock.now) else {
            throw APIError.notFound("no key \(id)")
        }
        context.logger.info("key.revoked", metadata: ["key.id": .string(id)])
        return Response(status: .noContent)
    }
}
