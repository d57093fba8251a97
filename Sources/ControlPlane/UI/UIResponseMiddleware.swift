public import ControlPlaneStorage
import HTTPTypes
public import Hummingbird
import Logging
import OutpostProtocol

/// The outermost middleware of the web UI: security headers on every response, and errors as HTML pages instead
/// of the API's JSON problems.
///
/// The Content-Security-Policy allows scripts, styles and fetches from this origin only: no inline script or style
/// can run even if markup were injected, no other site may frame a page (`frame-ancestors 'none'`), and forms may
/// only post back here.
public struct UIResponseMiddleware: RouterMiddleware {
    public typealias Context = UIRequestContext

    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = Self.errorPage(for: error, request: request, context: context)
        }
        Self.addSecurityHeaders(to: &response.headers)
        return response
    }

    /// The headers every UI response carries.
    static func addSecurityHeaders(to headers: inout HTTPFields) {
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-store" }
    }

    /// An HTML page for the error, with the status and headers (`Retry-After`) the API would have answered.
    static func errorPage(for error: any Error, request: Request, context: Context) -> Response {
        let apiError = ProblemMiddleware<Context>.apiError(for: error)
        if apiError.status.code >= 500 {
            context.logger.error(
                "ui.request_failed",
                metadata: [
                    "http.path": .string(request.uri.path),
                    "error.type": .string(String(describing: type(of: error))),
                    "error.description": .string(String(describing: error)),
                ])
        }
        let page = UIViews.errorPage(status: apiError.status, message: apiError.problem.message)
        var response = UIViews.response(page, status: apiError.status)
        for field in apiError.headers { response.headers.append(field) }
        return response
    }
}

/// Lets a route through only with a live session cookie, and every state-changing request only with the session's
/// CSRF token and a same-origin `Origin`/`Referer`.
///
/// A missing or ended session sends a GET to the sign-in page and answers anything else 401, so a stale form never
/// silently loses its data to a redirect. POST bodies must be url-encoded forms; they are parsed here once, after
/// the checks, and handed to the route in the context.
public struct UISessionMiddleware<Store: SessionRepository>: RouterMiddleware {
    public typealias Context = UIRequestContext
    let store: Store
    let cookies: UICookies
    let clock: WallClock

    init(store: Store, cookies: UICookies, clock: WallClock) {
        self.store = store
        self.cookies = cookies
        self.clock = clock
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        guard let token = cookies.value(cookies.session, in: request),
            let session = try await store.session(hash: UIToken.hash(token), now: clock.now)
        else {
            if request.method == .get || request.method == .head {
                var response = Response(status: .seeOther, headers: [.location: "/ui/sign-in"])
                response.headers.append(
                    HTTPField(name: .setCookie, value: cookies.header(name: cookies.session, value: "", maxAge: 0)))
                return response
            }
            throw APIError.unauthorized("your session has ended; sign in again")
        }
        context.session = session
        context.logger[metadataKey: "tenant.id"] = .string(session.tenantId)
        context.logger[metadataKey: "key.id"] = .string(session.keyId)
        if request.method != .get && request.method != .head {
            var request = request
            context.form = try await Self.form(of: &request)
            try Self.checkForgery(request, form: context.form, expected: session.csrfToken)
            return try await next(request, context)
        }
        return try await next(request, context)
    }

    /// The url-encoded body of a form POST, bounded by `FormFields.maximumBytes`.
    static func form(of request: inout Request) async throws -> FormFields {
        let type = request.headers[.contentType]?.split(separator: ";").first.map { String($0).trimmingWhitespace }
        guard type?.lowercased() == "application/x-www-form-urlencoded" else {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "UI forms are sent as application/x-www-form-urlencoded")
        }
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: FormFields.maximumBytes)
        } catch {
            throw APIError.payloadTooLarge(limit: FormFields.maximumBytes)
        }
        return FormFields(parsing: body.readableBytesView)
    }

    /// Refuses a request from another origin or without the expected token (403).
    static func checkForgery(_ request: Request, form: FormFields, expected: String) throws {
        guard UIOrigin.isSameOrigin(request) else {
            throw APIError.forbidden("this form was sent from another site; reload the page and try again")
        }
        guard let sent = form["csrf"], UIToken.equal(sent, expected) else {
            throw APIError.forbidden("the form's security token is missing or stale; reload the page and try again")
        }
    }
}
