import ControlPlaneStorage
import HTTPTypes
public import Hummingbird
import Logging
import OutpostProtocol

/// The outermost middleware: every error becomes a `ProblemResponse` JSON body with the right status.
///
/// Unknown errors are logged with the request id and answered with a generic 500, so stack traces, SQL and
/// other internals never reach a client.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let apiError = Self.apiError(for: error)
            if apiError.problem.error == APIError.internalError.problem.error
                || apiError.problem.error == "unavailable"
            {
                // Something an operator must look at; the client only sees the generic problem.
                context.logger.error(
                    "request.failed",
                    metadata: [
                        "http.path": .string(request.uri.path),
                        "error.type": .string(String(describing: type(of: error))),
                        "error.description": .string(String(describing: error)),
                    ])
            } else {
                context.logger.debug(
                    "request.refused",
                    metadata: ["http.path": .string(request.uri.path), "problem.code": .string(apiError.problem.error)])
            }
            return try JSONResponse<ProblemResponse>.make(
                apiError.problem, status: apiError.status, headers: apiError.headers)
        }
    }

    /// Maps any error to the problem the client sees.
    static func apiError(for error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as StorageError:
            switch error.code {
            case .conflict, .superseded: return .conflict(error.message)
            case .offsetMismatch(let expected): return .offsetMismatch(expected: expected)
            case .notFound: return .notFound(error.message)
            case .unavailable: return .unavailable("the database is unavailable; retry later")
            }
        case let error as any HTTPResponseError:
            switch error.status {
            case .notFound: return .notFound("no such endpoint")
            case .methodNotAllowed: return APIError(.methodNotAllowed, "method_not_allowed", "method not allowed")
            case .contentTooLarge: return .payloadTooLarge(limit: AgentProtocol.maximumBodyBytes)
            case .unauthorized: return .unauthorized("authentication required")
            case .forbidden: return .forbidden("not allowed")
            case .badRequest: return .invalidRequest("the request is malformed")
            default:
                if error.status.code < 500 {
                    return APIError(error.status, "invalid_request", error.status.reasonPhrase)
                }
                return .internalError
            }
        case is CancellationError:
            return .unavailable("the server is shutting down; retry later")
        default:
            return .internalError
        }
    }
}
