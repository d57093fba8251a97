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
        let now = clock.now
        var expiresAt: Timestamp?
        if let text = body.expiresAt {
            guard let parsed = Timestamp(rfc3339: text) else {
                throw APIError.invalidRequest("expiresAt must be an RFC 3339 time", field: "expiresAt")
            }
            guard parsed > now else { throw APIError.invalidRequest("expiresAt is in the past", field: "expiresAt") }
            expiresAt = parsed
        }
        let minted = try await mint(
            name: body.name, role: body.role, expiresAt: expiresAt, tenantId: identity.tenantId, now: now,
            logger: context.logger)
        return try JSONResponse<KeyCreatedResponse>.make(
            KeyCreatedResponse(key: minted.text, apiKey: KeySummary(minted.key)), status: .created)
    }

    /// Mints and stores a key (the API's and the web UI's one way to make one): its text is returned once and
    /// kept nowhere, only its hash is stored.
    func mint(
        name: String, role: APIKeyRole, expiresAt: Timestamp?, tenantId: String, now: Timestamp, logger: Logger
    ) async throws -> MintedAPIKey {
        try ConnectionValidation.checkText(name, field: "name", maximum: 200)
        if let expiresAt, expiresAt <= now {
            throw APIError.invalidRequest("expiresAt is in the past", field: "expiresAt")
        }
        let minted = APIKey.mint(tenantId: tenantId, name: name, role: role, expiresAt: expiresAt, now: now)
        try await store.createKey(minted.key)
        logger.info("key.created", metadata: ["key.id": .string(minted.key.id), "key.role": .string(role.rawValue)])
        return minted
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
