public import ControlPlaneStorage
import HTTPTypes
public import Hummingbird
public import Logging
public import OutpostProtocol
import Synchronization

/// Turns an `Authorization: Bearer <key>` header into an `Identity`.
///
/// The key is looked up by its SHA-256 on every request (no cache), so revocation takes effect at once. Failed
/// attempts are counted per client address (the one a trusted proxy forwarded, see `ClientAddressMiddleware`); an
/// address over the limit gets 429 for every key that does not verify, but a key that verifies is never refused
/// for its address: behind a shared proxy address, or with an attacker on the same network, valid agents and
/// admins keep working. A malformed key from a limited address is refused without a lookup.
public final class Authenticator<Store: TenantRepository>: Sendable {
    let store: Store
    let clock: WallClock
    let touchIntervalSeconds: Int
    private let limiter: Mutex<AuthenticationFailureLimiter>

    public init(store: Store, clock: WallClock, failureLimit: Int, touchIntervalSeconds: Int) {
        self.store = store
        self.clock = clock
        self.touchIntervalSeconds = touchIntervalSeconds
        self.limiter = Mutex(AuthenticationFailureLimiter(limit: failureLimit))
    }

    /// The caller's identity, or a 401/403/429 `APIError`.
    public func authenticate(
        _ request: Request, clientAddress: String?, role: APIKey.Role, logger: Logger
    ) async throws -> Identity {
        try await authenticate(clientAddress: clientAddress, role: role, logger: logger) {
            try await validKey(request)
        }
    }

    /// The identity for a key presented as text (the web UI's sign-in form); a failure counts against the same
    /// per-address limit as a failed `Authorization` header.
    public func authenticate(
        keyText: String, clientAddress: String?, role: APIKey.Role, logger: Logger
    ) async throws -> Identity {
        try await authenticate(clientAddress: clientAddress, role: role, logger: logger) {
            try await validKey(text: Substring(keyText))
        }
    }

    private func authenticate(
        clientAddress: String?, role: APIKey.Role, logger: Logger, presentedKey: () async throws -> APIKey
    ) async throws -> Identity {
        let address = clientAddress ?? "local"
        let key: APIKey
        do {
            key = try await presentedKey()
        } catch let error as APIError {
            let wait = limiter.withLock { limiter in
                let wait = limiter.retryAfter(address: address, now: .now)
                limiter.recordFailure(address: address, now: .now)
                return wait
            }
            logger.debug("auth.failed", metadata: ["client.address": .string(address)])
            if let wait {
                let seconds = max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
                throw APIError.rateLimited(retryAfterSeconds: seconds)
            }
            throw error
        }
        guard key.role == role else {
            throw APIError.forbidden("this endpoint needs a key with the \(role.rawValue) role")
        }
        let now = clock.now
        if key.lastUsedAt.map({ now.milliseconds - $0.milliseconds >= Int64(touchIntervalSeconds) * 1000 }) ?? true {
            do {
                try await store.touchKey(id: key.id, at: now)
            } catch {
                // Bookkeeping only: never refuse a request because last-used could not be written.
                logger.warning("auth.touch_failed", metadata: ["key.id": .string(key.id)])
            }
        }
        return Identity(tenantId: key.tenantId, keyId: key.id, role: key.role, keyExpiresAt: key.expiresAt)
    }

    private func validKey(_ request: Request) async throws -> APIKey {
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized("missing Authorization header; send 'Authorization: Bearer <key>'")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw APIError.unauthorized("the Authorization header must be 'Bearer <key>'")
        }
        return try await validKey(text: parts[1].trimmingSpaces)
    }

    private func validKey(text: Substring) async throws -> APIKey {
        guard APIKey.isWellFormed(text) else { throw APIError.unauthorized("the API key is not valid") }
        guard let key = try await store.key(hash: APIKey.hash(of: String(text))) else {
            throw APIError.unauthorized("the API key is not valid")
        }
        let now = clock.now
        // Revoked, expired and unknown keys get one answer: it tells a holder of a stolen key nothing about it.
        if key.revokedAt != nil { throw APIError.unauthorized("the API key is not valid") }
        if let expiry = key.expiresAt, now >= expiry { throw APIError.unauthorized("the API key is not valid") }
        return key
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var result = self
        while result.last == " " || result.last == "\t" { result = result.dropLast() }
        while result.first == " " || result.first == "\t" { result = result.dropFirst() }
        return result
    }
}

/// Requires a valid key of `role` on every route of the group it is added to, and puts the caller's identity
/// into the context.
public struct AuthenticationMiddleware<Store: TenantRepository>: RouterMiddleware {
    public typealias Context = ControlPlaneRequestContext
    let authenticator: Authenticator<Store>
    let role: APIKey.Role

    public init(authenticator: Authenticator<Store>, role: APIKey.Role) {
        self.authenticator = authenticator
        self.role = role
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let identity = try await authenticator.authenticate(
            request, clientAddress: context.clientAddress, role: role, logger: context.logger)
        context.identity = identity
        context.logger[metadataKey: "tenant.id"] = .string(identity.tenantId)
        context.logger[metadataKey: "key.id"] = .string(identity.keyId)
        return try await next(request, context)
    }
}
