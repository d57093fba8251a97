import HTTPTypes
public import Hummingbird

/// Replaces the request context's client address with the one a trusted proxy forwarded in `X-Forwarded-For`;
/// without trusted proxies (the default) it changes nothing.
public struct ClientAddressMiddleware: RouterMiddleware {
    public typealias Context = ControlPlaneRequestContext
    let trustedProxies: TrustedProxies

    public init(trustedProxies: TrustedProxies) {
        self.trustedProxies = trustedProxies
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard !trustedProxies.isEmpty else { return try await next(request, context) }
        var context = context
        context.clientAddress = trustedProxies.clientAddress(
            peer: context.clientAddress, forwardedFor: request.headers[values: .xForwardedFor])
        return try await next(request, context)
    }
}

extension HTTPField.Name {
    static var xForwardedFor: Self { Self("X-Forwarded-For")! }
}
