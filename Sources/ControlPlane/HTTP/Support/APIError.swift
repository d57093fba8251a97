public import HTTPTypes
public import OutpostProtocol

/// A refusal the HTTP layer sends as a `ProblemResponse`: a stable code, a message safe to show, and for
/// invalid input the field at fault.
///
/// Handlers throw it; `ProblemMiddleware` turns it (and every other error) into the JSON body, so no handler
/// ever writes an error response by hand and no internal detail can leak.
public struct APIError: Error, CustomStringConvertible, Sendable {
    public var status: HTTPResponse.Status
    public var problem: ProblemResponse
    /// Extra headers, e.g. `Retry-After` on 429.
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.problem = ProblemResponse(error: code, message: message, field: field)
        self.headers = [:]
    }

    public var description: String { "\(status.code) \(problem.error): \(problem.message)" }

    /// 400: a body, parameter or header that is malformed, of the wrong type or not allowed.
    public static func invalidRequest(_ message: String, field: String? = nil) -> APIError {
        APIError(.badRequest, "invalid_request", message, field: field)
    }

    public static func unauthorized(_ message: String) -> APIError {
        var error = APIError(.unauthorized, "unauthorized", message)
        error.headers[.wwwAuthenticate] = "Bearer"
        return error
    }

    public static func forbidden(_ message: String) -> APIError {
        APIError(.forbidden, "forbidden", message)
    }

    public static func notFound(_ message: String) -> APIError {
        APIError(.notFound, "not_found", message)
    }

    public static func conflict(_ message: String, field: String? = nil) -> APIError {
        APIError(.conflict, "conflict", message, field: field)
    }

    /// 409: the lease id is not the run's current one, the lease expired, or the run is finished. The agent drops
    /// the job.
    public static func staleLease(runId: String) -> APIError {
        APIError(
            .conflict, "stale_lease",
            "the lease on run \(runId) is no longer valid (expired, superseded or the run finished); stop the job")
    }

    public static func offsetMismatch(expected: Int64) -> APIError {
        var error = APIError(
            .conflict, "offset_mismatch", "the log chunk does not start at the stored length; resend from \(expected)")
        error.problem.expectedOffset = expected
        return error
    }

    public static func payloadTooLarge(limit: Int) -> APIError {
        APIError(.contentTooLarge, "payload_too_large", "the request body exceeds \(limit) bytes")
    }

    public static func rateLimited(retryAfterSeconds: Int) -> APIError {
        var error = APIError(
            .tooManyRequests, "rate_limited", "too many failed authentications from this address; retry later")
        error.headers[.retryAfter] = String(retryAfterSeconds)
        return error
    }

    public static func notImplemented(_ message: String) -> APIError {
        APIError(.notImplemented, "not_implemented", message)
    }

    public static let internalError = APIError(
        .internalServerError, "internal", "the server failed to handle the request; it has been logged")

    public static func unavailable(_ message: String) -> APIError {
        APIError(.serviceUnavailable, "unavailable", message)
    }
}
