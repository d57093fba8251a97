import HTTPTypes
public import Hummingbird

/// Answers 405 `method_not_allowed` with an `Allow` header when the path is one the API serves but the method is
/// not, instead of the router's 404 (which would tell a client its URL is wrong when only its method is).
///
/// The table is the OpenAPI document's `paths`: the document is checked against the live routes by the tests, so
/// it lists every operation the API serves. Paths the document does not know (the web UI's) pass through.
public struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Templates by segment count: `runs/{id}/start` → `["v1", "runs", nil, "start"]` (nil matches one segment).
    let templates: [Int: [(segments: [String?], methods: [HTTPRequest.Method])]]

    public init() {
        templates = Self.table(from: OpenAPIDocument.yaml)
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
        guard let candidates = templates[segments.count] else { return try await next(request, context) }
        for template in candidates
        where zip(template.segments, segments).allSatisfy({ $0.0 == nil || $0.0! == $0.1 }) {
            guard !template.methods.contains(request.method) else { break }
            var error = APIError(
                .methodNotAllowed, "method_not_allowed",
                "\(request.method.rawValue) is not allowed here; use \(template.methods.map(\.rawValue).joined(separator: ", "))"
            )
            error.headers[.allow] = template.methods.map(\.rawValue).joined(separator: ", ")
            throw error
        }
        return try await next(request, context)
    }

    /// The operations under `paths:` of the document: paths at two spaces of indentation, methods at four.
    static func table(from document: String) -> [Int: [(segments: [String?], methods: [HTTPRequest.Method])]] {
        var operations: [(path: String, methods: [HTTPRequest.Method])] = []
        var inPaths = false
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" {
                inPaths = true
                continue
            }
            guard inPaths else { continue }
            if !line.isEmpty && !line.hasPrefix(" ") { break }
            if line.hasPrefix("  /") && !line.hasPrefix("   ") && line.hasSuffix(":") {
                operations.append((String(line.dropFirst(2).dropLast()), []))
            } else if line.hasPrefix("    ") && !line.hasPrefix("     ") && line.hasSuffix(":"), !operations.isEmpty,
                let method = HTTPRequest.Method(String(line.dropFirst(4).dropLast()).uppercased()),
                ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"].contains(method.rawValue)
            {
                operations[operations.count - 1].methods.append(method)
            }
        }
        var table: [Int: [(segments: [String?], methods: [HTTPRequest.Method])]] = [:]
        for operation in operations where !operation.methods.isEmpty {
            let segments: [String?] = operation.path.split(separator: "/").map {
                $0.hasPrefix("{") ? nil : String($0)
            }
            table[segments.count, default: []].append((segments, operation.methods))
        }
        return table
    }
}
