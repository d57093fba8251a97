public import ControlPlaneStorage
public import Hummingbird
import NIOCore
public import OutpostProtocol

/// The request context of every control-plane route: Hummingbird's core storage, the client's address (for
/// rate limiting) and, once `AuthenticationMiddleware` ran, the caller's identity.
public struct ControlPlaneRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's IP address: the peer's, or the one a trusted proxy forwarded (`ClientAddressMiddleware`); nil
    /// for in-process test requests.
    public var clientAddress: String?
    /// Set by `AuthenticationMiddleware`; nil on unauthenticated routes.
    public var identity: Identity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress
        identity = nil
    }

    /// Bodies are size-checked per route; this bounds Hummingbird's own decoding helpers.
    public var maxUploadSize: Int { AgentProtocol.maximumBodyBytes }

    /// The authenticated caller; a route behind `AuthenticationMiddleware` always has one.
    public func requireIdentity() throws -> Identity {
        guard let identity else { throw APIError.unauthorized("authentication required") }
        return identity
    }
}

/// Who is calling: derived only from the API key, never from the request body or path.
public struct Identity: Sendable, Equatable {
    public var tenantId: String
    public var keyId: String
    public var role: APIKey.Role
    public var keyExpiresAt: Timestamp?

    public init(tenantId: String, keyId: String, role: APIKey.Role, keyExpiresAt: Timestamp?) {
        self.tenantId = tenantId
        self.keyId = keyId
        self.role = role
        self.keyExpiresAt = keyExpiresAt
    }
}
