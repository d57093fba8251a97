import HTTPTypes
public import Hummingbird

/// Headers every response carries: `Cache-Control: no-store` unless the route set its own (API answers carry keys,
/// tenant data and signed URLs that no cache should keep), and, when clients reach the server over HTTPS,
/// `Strict-Transport-Security`, so a browser never falls back to plain HTTP for it.
public struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    let strictTransportSecurity: Bool

    /// - Parameter strictTransportSecurity: whether the server is reached over HTTPS (TLS on the listener, or an
    ///   `https://` public address in front of it).
    public init(strictTransportSecurity: Bool) {
        self.strictTransportSecurity = strictTransportSecurity
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response = try await next(request, context)
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        if strictTransportSecurity { response.headers[.strictTransportSecurity] = "max-age=31536000" }
        return response
    }
}

extension HTTPField.Name {
    static var strictTransportSecurity: Self { Self("Strict-Transport-Security")! }
}
