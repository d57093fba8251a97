internal import AsyncHTTPClient
internal import Logging
internal import NIOCore
internal import NIOHTTP1
internal import SourceURLs
internal import Synchronization

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// A personal access token: its name and its secret. The secret is never logged, written or shown.
public struct TableauCredentials: Sendable, CustomStringConvertible {
    public var patName: String
    public var patSecret: String

    public init(patName: String, patSecret: String) {
        self.patName = patName
        self.patSecret = patSecret
    }

    public var description: String { "personal access token '\(patName)'" }
}

/// How the client retries and how much it reads; injected so tests run without real sleeps.
struct TableauClientConfiguration: Sendable {
    var retry = SourceRetryPolicy()
    var sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    /// The largest answer read into memory; a Metadata API page is far smaller at the page sizes used.
    var maxBodyBytes = 64 * 1024 * 1024
    var requestTimeout: TimeAmount = .seconds(120)
}

/// Counters for the run log.
struct TableauUsage: Sendable, Equatable {
    var restRequests = 0
    var graphQLRequests = 0
    var signIns = 0
    var retries = 0
}

/// One GraphQL error or warning as the Metadata API reports it, beside or instead of `data`.
struct TableauGraphQLError: Decodable, Sendable, CustomStringConvertible {
    struct Extensions: Decodable, Sendable {
        var code: String?
        var severity: String?
    }

    var message: String
    var path: [PathElement]?
    var extensions: Extensions?

    /// An element of an error's `path`: a field name or a list index.
    enum PathElement: Decodable, Sendable, Equatable {
        case field(String)
        case index(Int)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let index = try? container.decode(Int.self) {
                self = .index(index)
            } else {
                self = .field(try container.decode(String.self))
            }
        }
    }

    /// A warning that leaves the data beside it whole (`MAX_PAGE_SIZE_EXCEEDED`: a shorter page, paging goes on).
    /// Other warnings say content was hidden (`PERMISSIONS_MODE_SWITCHED`, a node obfuscated for lack of
    /// permission): what they concern is incomplete.
    var isHarmless: Bool {
        extensions?.severity?.uppercased() == "WARNING" && extensions?.code == "MAX_PAGE_SIZE_EXCEEDED"
    }

    var isNodeLimit: Bool { extensions?.code == "NODE_LIMIT_EXCEEDED" }

    var description: String {
        (extensions?.code.map { "\($0): " } ?? "") + String(message.prefix(500))
    }
}

/// Thrown when a Metadata API query selected more nodes than the server allows; the caller asks for less.
struct TableauNodeLimitExceeded: Error {
    let message: String
}

/// A signed-in session with one Tableau site: the REST API (sign-in, sign-out, the site, its projects) and the
/// Metadata API (GraphQL).
///
/// Signs in with the personal access token, sends `X-Tableau-Auth` with every request, and on 401 signs in again
/// once and repeats the request (a session expires; a PAT allows one session at a time, so another sign-in with the
/// same token ends this one). 429, 5xx and dropped connections are retried with exponential backoff and full
/// jitter, honouring `Retry-After`, a bounded number of times. Answers are read whole (pages are small) up to
/// `maxBodyBytes`.
final class TableauClient: Sendable {
    let source: TableauSource
    private let credentials: TableauCredentials
    private let http: HTTPClient
    private let configuration: TableauClientConfiguration
    private let logger: Logger
    private let session = Mutex<Session?>(nil)
    private let counters = Mutex(TableauUsage())

    struct Session: Sendable {
        var token: String
        var siteID: String
    }

    init(
        source: TableauSource, credentials: TableauCredentials, http: HTTPClient,
        configuration: TableauClientConfiguration, logger: Logger
    ) {
        self.source = source
        self.credentials = credentials
        self.http = http
        self.configuration = configuration
        self.logger = logger
    }

    static func makeHTTPClient(source: TableauSource, proxy: HTTPClient.Configuration.Proxy?) throws -> HTTPClient {
        try SourceHTTP.makeClient(rootCertificatePath: source.rootCertificatePath, proxy: proxy)
    }

    var usage: TableauUsage { counters.withLock { $0 } }

    /// Which token the session uses, for messages (never its secret).
    var credentialsDescription: String { credentials.description }

    private var restBase: String { source.endpoint.baseURL + "/api/\(source.apiVersion)" }

    // MARK: Sessions

    /// Signs in to the site with the personal access token.
    ///
    /// - Throws: `ConnectorError` `.authenticationFailed` naming the token (never its secret) and what to check.
    func signIn() async throws {
        struct Body: Encodable {
            struct Credentials: Encodable {
                struct Site: Encodable { var contentUrl: String }
                var personalAccessTokenName: String
                var personalAccessTokenSecret: String
                var site: Site
            }
            var credentials: Credentials
        }
        struct Answer: Decodable {
            struct Credentials: Decodable {
                struct Site: Decodable { var id: String }
                var token: String
                var site: Site
            }
            var credentials: Credentials
        }
        let body = try JSONEncoder().encode(
            Body(
                credentials: .init(
                    personalAccessTokenName: credentials.patName, personalAccessTokenSecret: credentials.patSecret,
                    site: .init(contentUrl: source.site))))
        counters.withLock { $0.signIns += 1 }
        let (status, bytes) = try await exchange(
            .POST, url: restBase + "/auth/signin", body: Array(body), token: nil, what: "sign-in")
        guard status == 200 else {
            let failure = Self.restFailure(bytes)
            let site = source.site.isEmpty ? "the default site" : "site '\(source.site)'"
            throw ConnectorError(
                status == 401 || status == 403 ? .authenticationFailed : .queryFailed,
                "Tableau at \(source.location) refused \(credentials) for \(site) (HTTP \(status)\(failure)); check "
                    + "that the token is current (a token unused for 15 days expires on Tableau Server), that it "
                    + "belongs to this site, and the site's content URL")
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(bytes)) else {
            throw ConnectorError(
                .queryFailed, "Tableau's sign-in answer at \(source.location) has no credentials token")
        }
        session.withLock {
            $0 = Session(
                token: answer.credentials.token, siteID: answer.credentials.site.id)
        }
        logger.debug("tableau.signin", metadata: ["tableau.site": "\(source.site)"])
    }

    /// Signs out, ending the session (best effort: a failure is logged, never thrown). Runs even when the
    /// extraction was cancelled (the agent stopping the job), so the token's one session is not left open.
    func signOut() async {
        guard let token = session.withLock({ $0?.token }) else { return }
        await Task.detached { await self.signOut(token: token) }.value
        session.withLock { $0 = nil }
    }

    private func signOut(token: String) async {
        do {
            let (status, _) = try await exchange(
                .POST, url: restBase + "/auth/signout", body: [], token: token, what: "sign-out")
            if status >= 300 { logger.debug("tableau.signout.refused", metadata: ["http.status": "\(status)"]) }
        } catch {
            logger.debug("tableau.signout.failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: REST

    /// GETs a path under the signed-in site (`/projects?pageSize=…`), decoded from JSON.
    func rest<Answer: Decodable>(_ type: Answer.Type, sitePath: String, what: String) async throws -> Answer {
        let bytes = try await authorized(what: what) { token, siteID in
            counters.withLock { $0.restRequests += 1 }
            return try await self.exchange(
                .GET, url: self.restBase + "/sites/\(siteID)" + sitePath, body: nil, token: token, what: what)
        }
        do {
            return try JSONDecoder().decode(Answer.self, from: Data(bytes))
        } catch {
            throw ConnectorError(
                .queryFailed, "Tableau's answer for \(what) is not what the REST API documents: \(error)")
        }
    }

    // MARK: Metadata API

    /// An answer of the Metadata API: `data` (possibly partial) and the errors and warnings beside it.
    struct GraphQLAnswer<Payload: Decodable>: Decodable {
        var data: Payload?
        var errors: [TableauGraphQLError]?
    }

    /// Runs one Metadata API query.
    ///
    /// - Throws: `TableauNodeLimitExceeded` when the query selected too many nodes; `ConnectorError` `.queryFailed`
    ///   when the answer has errors and no data, `.permissionDenied` when the Metadata API is not enabled.
    func graphQL<Payload: Decodable>(
        _ type: Payload.Type, query: String, variables: [String: GraphQLVariable], what: String
    ) async throws -> GraphQLAnswer<Payload> {
        let body = Array(try JSONEncoder().encode(GraphQLRequest(query: query, variables: variables)))
        let url = source.endpoint.baseURL + "/api/metadata/graphql"
        let bytes = try await authorized(what: what) { token, _ in
            counters.withLock { $0.graphQLRequests += 1 }
            let (status, bytes) = try await self.exchange(.POST, url: url, body: body, token: token, what: what)
            if status == 404 {
                throw ConnectorError(
                    .permissionDenied,
                    "the Tableau Metadata API is not available at \(self.source.location) (HTTP 404): on Tableau "
                        + "Server an administrator enables it with 'tsm maintenance metadata-services enable'")
            }
            return (status, bytes)
        }
        let answer: GraphQLAnswer<Payload>
        do {
            answer = try JSONDecoder().decode(GraphQLAnswer<Payload>.self, from: Data(bytes))
        } catch {
            throw ConnectorError(
                .queryFailed, "the Metadata API's answer for \(what) is not what the query asked for: \(error)")
        }
        let errors = answer.errors ?? []
        if let limit = errors.first(where: \.isNodeLimit) {
            throw TableauNodeLimitExceeded(message: limit.message)
        }
        if answer.data == nil {
            let summary = errors.prefix(3).map(\.description).joined(separator: "; ")
            throw ConnectorError(
                .queryFailed, "the Metadata API answered \(what) with errors and no data: \(summary)")
        }
        return answer
    }

    // MARK: Exchanges

    /// Runs `send` with the session's token; on 401 signs in again once and repeats it.
    private func authorized(
        what: String, _ send: (String, String) async throws -> (Int, [UInt8])
    ) async throws -> [UInt8] {
        if session.withLock({ $0 == nil }) { try await signIn() }
        var signedInAgain = false
        while true {
            guard let current = session.withLock({ $0 }) else { try await signIn(); continue }
            let (status, bytes) = try await send(current.token, current.siteID)
            switch status {
            case 200..<300:
                return bytes
            case 401 where !signedInAgain:
                signedInAgain = true
                logger.info(
                    "tableau.session.expired",
                    metadata: ["tableau.request": "\(what)", "tableau.detail": "signing in again once"])
                session.withLock { $0 = nil }
                try await signIn()
            case 401, 403:
                throw ConnectorError(
                    status == 401 ? .authenticationFailed : .permissionDenied,
                    "Tableau refused \(what) (HTTP \(status)\(Self.restFailure(bytes)))"
                        + (status == 401
                            ? " even after signing in again: was the same token used elsewhere meanwhile? A personal "
                                + "access token allows one session at a time"
                            : ""))
            default:
                throw ConnectorError(
                    .queryFailed, "Tableau answered \(what) with HTTP \(status)\(Self.restFailure(bytes))")
            }
        }
    }

    private struct Retryable: Error {
        let reason: String
        let retryAfter: Int?
    }

    /// One HTTP exchange with retries on 429, 5xx and transport failures; returns any other status with its body.
    private func exchange(
        _ method: HTTPMethod, url: String, body: [UInt8]?, token: String?, what: String
    ) async throws -> (Int, [UInt8]) {
        var attempt = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            do {
                var request = HTTPClientRequest(url: url)
                request.method = method
                request.headers.add(name: "Accept", value: "application/json")
                request.headers.add(name: "User-Agent", value: "outpost")
                if let token { request.headers.add(name: "X-Tableau-Auth", value: token) }
                if let body {
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(bytes: body))
                }
                let response = try await http.execute(request, timeout: configuration.requestTimeout)
                let status = Int(response.status.code)
                if status == 429 || (500...599).contains(status) {
                    let retryAfter = response.headers.first(name: "Retry-After").flatMap(Int.init)
                    _ = try? await response.body.collect(upTo: 1024 * 1024)
                    throw Retryable(reason: "HTTP \(status)", retryAfter: retryAfter)
                }
                let collected: ByteBuffer
                do {
                    collected = try await response.body.collect(upTo: configuration.maxBodyBytes)
                } catch is NIOTooManyBytesError {
                    throw ConnectorError(
                        .queryFailed,
                        "Tableau's answer for \(what) is larger than \(configuration.maxBodyBytes / 1024 / 1024) MB: "
                            + "lower page_size in the source URL")
                }
                return (status, Array(collected.readableBytesView))
            } catch let error as Retryable {
                try await backoff(attempt: attempt, reason: error.reason, retryAfter: error.retryAfter, what: what)
            } catch {
                if let reason = SourceHTTP.transientReason(error) {
                    try await backoff(attempt: attempt, reason: reason, retryAfter: nil, what: what)
                } else {
                    throw SourceHTTP.finalError(error, location: source.location) ?? error
                }
            }
        }
    }

    private func backoff(attempt: Int, reason: String, retryAfter: Int?, what: String) async throws {
        guard let pause = configuration.retry.pause(after: attempt, retryAfterSeconds: retryAfter) else {
            throw ConnectorError(
                .unreachable, "Tableau at \(source.location) kept failing \(what) (\(reason)) after \(attempt) attempts"
            )
        }
        counters.withLock { $0.retries += 1 }
        logger.debug(
            "tableau.request.retry",
            metadata: [
                "tableau.request": "\(what)", "http.reason": "\(reason)", "retry.attempt": "\(attempt)",
                "retry.pause": "\(pause)",
            ])
        try await configuration.sleep(pause)
    }

    /// ` (code 401002: Signin Error, …)` from a REST error body, or empty; never echoes more than a line.
    private static func restFailure(_ bytes: [UInt8]) -> String {
        struct Body: Decodable {
            struct Failure: Decodable {
                var code: String?
                var summary: String?
                var detail: String?
            }
            var error: Failure
        }
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(bytes)) else { return "" }
        let text = [body.error.code.map { "code \($0)" }, body.error.summary, body.error.detail]
            .compactMap { $0 }.joined(separator: ": ")
        return text.isEmpty ? "" : ", " + String(text.prefix(300))
    }
}

/// The body of a Metadata API request.
private struct GraphQLRequest: Encodable {
    var query: String
    var variables: [String: GraphQLVariable]
}

/// A GraphQL variable's value: the few shapes the connector's queries use.
enum GraphQLVariable: Encodable, Sendable {
    case int(Int)
    case string(String?)

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .int(let value): try container.encode(value)
        case .string(let value?): try container.encode(value)
        case .string(nil): try container.encodeNil()
        }
    }
}
