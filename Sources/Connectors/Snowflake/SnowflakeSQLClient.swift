internal import AsyncHTTPClient
internal import Logging
internal import Metadata
internal import NIOCore
internal import NIOHTTP1
internal import SourceURLs
internal import Synchronization

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// One statement for the SQL API, with the context it runs in (the API has no session: `USE` does not work).
struct SnowflakeStatement: Sendable {
    var sql: String
    /// What the statement reads, for logs and errors (`tables of SALES`).
    var label: String
    var database: String?
    var schema: String?
    /// Whether the statement runs on the warehouse (SELECTs) rather than in cloud services (SHOW): its time is
    /// reported as warehouse time.
    var usesWarehouse: Bool
}

/// The column names of a result, from `resultSetMetaData.rowType`.
struct SnowflakeColumns: Sendable {
    let names: [String]
    private let positions: [String: Int]

    init(names: [String]) {
        self.names = names
        var positions: [String: Int] = [:]
        for (index, name) in names.enumerated() where positions[name.lowercased()] == nil {
            positions[name.lowercased()] = index
        }
        self.positions = positions
    }

    /// The position of a column, matched case-insensitively (SHOW output names are lower case).
    func index(_ name: String) -> Int? { positions[name.lowercased()] }
}

/// A Snowflake failure as the SQL API reports it; the `underlying` error of the `ConnectorError` it becomes.
struct SnowflakeFailure: Error, Sendable, CustomStringConvertible {
    /// Snowflake's error code (`002003`, `090030`, …).
    let code: String
    let sqlState: String?
    let message: String
    let httpStatus: Int

    var description: String { "Snowflake error \(code)\(sqlState.map { " (SQLSTATE \($0))" } ?? ""): \(message)" }

    /// "does not exist or not authorized", "insufficient privileges": the role cannot see or use the object.
    var isNotAuthorized: Bool {
        ["002003", "002043", "003001", "003540", "090105"].contains(code)
            || message.lowercased().contains("not authorized")
            || message.lowercased().contains("insufficient privileges")
    }

    /// "Information schema query returned too much data. Please repeat query with more selective predicates."
    var isTooMuchData: Bool { code == "090030" || message.lowercased().contains("returned too much data") }
}

/// How the client retries and paces itself; injected so tests run without real sleeps.
struct SnowflakeClientConfiguration: Sendable {
    /// Retries of each HTTP request (submit, poll, partition) on 429, 5xx and dropped connections.
    var retry = SourceRetryPolicy()
    /// First and longest pause between polls of a running statement. Pauses grow by half each time, so a statement
    /// that ends between two polls is noticed after at most a third of its running time more (a GET is cheap; the
    /// reader idling is not).
    var pollInitial: Duration = .milliseconds(50)
    var pollCap: Duration = .seconds(5)
    /// `parameters.query_tag` of every statement.
    var queryTag = "outpost"
    /// Time allowed for one HTTP exchange beyond the statement timeout (connect and read).
    var requestTimeout: Duration = .seconds(120)
    var sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    /// A monotonic instant, for warehouse time.
    var now: @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
}

/// Counters for the run log and the manifest.
struct SnowflakeUsage: Sendable, Equatable {
    var statements = 0
    /// Statements that ran on the warehouse.
    var warehouseStatements = 0
    /// Wall time from submission to result of the statements that ran on the warehouse (for a statement submitted
    /// ahead, to the moment its result was first looked at: an upper bound).
    var warehouseTime: Duration = .zero
    var partitions = 0
    var retries = 0
}

/// A client of the Snowflake SQL API v2 (`/api/v2/statements`) that streams results row by row.
///
/// Each statement is submitted with a fresh `requestId`; a resubmission after a lost answer carries the same id and
/// `retry=true`, so Snowflake runs the statement once. 202 answers are polled with growing pauses; 429, 5xx and
/// dropped connections are retried with exponential backoff and full jitter, a bounded number of times. Rows of every
/// partition are decoded as they arrive and handed over one at a time; when a partition must be read again after a
/// dropped connection, the rows already handed over are skipped, so the consumer sees each row exactly once.
final class SnowflakeSQLClient: Sendable {
    let source: SnowflakeSource
    private let authorization: SnowflakeAuthorization
    private let http: HTTPClient
    private let configuration: SnowflakeClientConfiguration
    private let logger: Logger
    private let counters = Mutex(SnowflakeUsage())

    init(
        source: SnowflakeSource, authorization: SnowflakeAuthorization, http: HTTPClient,
        configuration: SnowflakeClientConfiguration, logger: Logger
    ) {
        self.source = source
        self.authorization = authorization
        self.http = http
        self.configuration = configuration
        self.logger = logger
    }

    var usage: SnowflakeUsage { counters.withLock { $0 } }

    /// The HTTP client for a source: the URL's `sslrootcert` as trust roots, through `proxy` when one is given.
    static func makeHTTPClient(source: SnowflakeSource, proxy: HTTPClient.Configuration.Proxy?) throws -> HTTPClient {
        try SourceHTTP.makeClient(rootCertificatePath: source.rootCertificatePath, proxy: proxy)
    }

    // MARK: Statements

    /// Runs `statement` and hands every row of its result to `onRow`, in order.
    ///
    /// `onColumns` is called once with the result's column names before the first row. `whenReady` runs once the
    /// statement has finished on Snowflake, while its rows are read (to submit the statements after it, so Snowflake
    /// runs them meanwhile); `execute` returns after it.
    ///
    /// - Throws: `ConnectorError`: `.queryFailed` with a `SnowflakeFailure` underlying for a statement Snowflake
    ///   refused (422), `.timeout` (408), `.authenticationFailed` (401/403), `.unreachable` when retries ran out;
    ///   `CancellationError` after cancelling the running statement on Snowflake.
    func execute(
        _ statement: SnowflakeStatement, whenReady: (@Sendable () async -> Void)? = nil,
        onColumns: (SnowflakeColumns) throws -> Void = { _ in }, onRow: ([String?], SnowflakeColumns) throws -> Void
    ) async throws {
        let requestID = UUID().uuidString.lowercased()
        let started = configuration.now()
        counters.withLock { $0.statements += 1 }
        logger.debug(
            "snowflake.statement.submit",
            metadata: ["statement.label": "\(statement.label)", "statement.request_id": "\(requestID)"])
        let body = try requestBody(statement)
        try await pipelined(onColumns: onColumns, onRow: onRow) { rows in
            try await self.drive(
                statement, requestID: requestID, body: body, started: started, submitted: nil, whenReady: whenReady,
                rows: rows)
        }
    }

    /// Rows per batch handed from the fetching task to the reading one, and batches that may wait unread.
    private static let batchSize = 256
    private static let batchesAhead = 2
    /// Body bytes parsed between two hand-overs (gzip: some 50–100 KB of JSON, a few hundred rows).
    private static let sliceBytes = 8 * 1024

    /// Runs `produce` (fetching, gunzip, parsing) in a task of its own and hands its rows to `onColumns` and `onRow`
    /// here, so the two halves of reading a result use two cores; at most `batchesAhead` batches wait in between.
    private func pipelined(
        onColumns: (SnowflakeColumns) throws -> Void, onRow: ([String?], SnowflakeColumns) throws -> Void,
        produce: @escaping @Sendable (SnowflakeRowBatcher) async throws -> Void
    ) async throws {
        let channel = SnowflakeRowChannel(capacity: Self.batchesAhead)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let batcher = SnowflakeRowBatcher(channel: channel, batchSize: Self.batchSize)
                do {
                    try await produce(batcher)
                    try await batcher.flush(all: true)
                    channel.finish(throwing: nil)
                } catch {
                    channel.finish(throwing: error)
                }
            }
            var columns: SnowflakeColumns?
            do {
                while let event = try await channel.next() {
                    switch event {
                    case .columns(let received):
                        columns = received
                        try onColumns(received)
                    case .rows(let rows):
                        guard let columns else {
                            throw ConnectorError(
                                .queryFailed,
                                "Snowflake sent rows before resultSetMetaData; cannot tell the columns apart")
                        }
                        for row in rows { try onRow(row, columns) }
                    }
                }
            } catch {
                // The reader failed (or the fetch did): stop fetching, cancelling the statement if it still runs.
                channel.close()
                group.cancelAll()
                throw error
            }
            try await group.waitForAll()
        }
    }

    /// A statement submitted with `async=true` and not read yet: it runs on Snowflake while earlier results are read.
    struct Submission: Sendable {
        let statement: SnowflakeStatement
        let requestID: String
        let body: [UInt8]
        let handle: String
        let started: ContinuousClock.Instant
    }

    /// Submits `statement` to run in the background (`async=true`); `execute(_:)` reads it later.
    ///
    /// - Throws: what `execute` throws for a refused submission; the caller may run the statement normally instead.
    func submit(_ statement: SnowflakeStatement) async throws -> Submission {
        let requestID = UUID().uuidString.lowercased()
        let started = configuration.now()
        let body = try requestBody(statement)
        counters.withLock { $0.statements += 1 }
        logger.debug(
            "snowflake.statement.submit_async",
            metadata: ["statement.label": "\(statement.label)", "statement.request_id": "\(requestID)"])
        var handle: String?
        var delivered = 0
        var columns: SnowflakeColumns?
        // A resubmission after a lost answer may find the statement finished (200): its rows are read again later
        // through the handle, so here they are dropped.
        do {
            _ = try await request(
                .POST, path: "/api/v2/statements?requestId=\(requestID)&async=true", body: body, statement: statement,
                handle: &handle, delivered: &delivered, columns: &columns, onColumns: { _ in }, onRow: { _, _ in })
        } catch let error where error is CancellationError || (error as? HTTPClientError) == .cancelled {
            // The submission may have reached Snowflake: find it by its requestId and cancel it.
            await cancel(handle: handle, requestID: requestID, body: body)
            throw CancellationError()
        }
        guard let handle else {
            throw ConnectorError(.queryFailed, "Snowflake accepted \(statement.label) without a statement handle")
        }
        return Submission(statement: statement, requestID: requestID, body: body, handle: handle, started: started)
    }

    /// Reads a submitted statement's result, polling until it is ready, exactly as `execute(_:onColumns:onRow:)`.
    func execute(
        _ submission: Submission, whenReady: (@Sendable () async -> Void)? = nil,
        onColumns: (SnowflakeColumns) throws -> Void = { _ in }, onRow: ([String?], SnowflakeColumns) throws -> Void
    ) async throws {
        try await pipelined(onColumns: onColumns, onRow: onRow) { rows in
            try await self.drive(
                submission.statement, requestID: submission.requestID, body: submission.body,
                started: submission.started, submitted: submission.handle, whenReady: whenReady, rows: rows)
        }
    }

    /// Cancels a submitted statement that will not be read.
    func cancel(_ submission: Submission) async {
        await cancel(handle: submission.handle, requestID: submission.requestID, body: submission.body)
    }

    /// Submits (unless `submitted` names the handle of a statement already submitted), polls, and streams every
    /// partition into `rows`; cancels the statement on Snowflake when the task is cancelled first.
    private func drive(
        _ statement: SnowflakeStatement, requestID: String, body: [UInt8], started: ContinuousClock.Instant,
        submitted: String?, whenReady: (@Sendable () async -> Void)?, rows: SnowflakeRowBatcher
    ) async throws {
        let onColumns: (SnowflakeColumns) throws -> Void = { rows.columns($0) }
        let onRow: ([String?], SnowflakeColumns) throws -> Void = { row, _ in rows.row(row) }
        let afterChunk: () async throws -> Void = { try await rows.flush(all: false) }
        var handle: String? = submitted
        var finished = false
        do {
            var delivered = 0
            var columns: SnowflakeColumns?
            var first: Answer
            if submitted != nil {
                first = Answer(status: 202)
            } else {
                first = try await request(
                    .POST, path: "/api/v2/statements?requestId=\(requestID)", body: body, statement: statement,
                    handle: &handle, delivered: &delivered, columns: &columns, onColumns: onColumns, onRow: onRow,
                    afterChunk: afterChunk)
            }
            var pause = configuration.pollInitial
            // A statement submitted earlier has had time to run: look at once.
            var waitBeforePoll = submitted == nil
            while first.status == 202 {
                if waitBeforePoll {
                    try await configuration.sleep(pause)
                    pause = min(pause * 3 / 2, configuration.pollCap)
                }
                waitBeforePoll = true
                guard let statusURL = first.statusURL ?? handle.map({ "/api/v2/statements/\($0)" }) else {
                    throw ConnectorError(.queryFailed, "Snowflake answered 202 without a statement handle")
                }
                first = try await request(
                    .GET, path: statusURL, body: nil, statement: statement, handle: &handle, delivered: &delivered,
                    columns: &columns, onColumns: onColumns, onRow: onRow, afterChunk: afterChunk)
            }
            finished = true
            // Runs beside the partitions below; awaited before returning (or cancelled on an error).
            async let ready: Void = whenReady?() ?? ()
            if statement.usesWarehouse {
                let elapsed = configuration.now() - started
                counters.withLock {
                    $0.warehouseStatements += 1
                    $0.warehouseTime += elapsed
                }
            }
            guard let resultColumns = columns else {
                throw ConnectorError(.queryFailed, "Snowflake's answer to \(statement.label) has no resultSetMetaData")
            }
            for partition in first.partitions.dropFirst().indices {
                guard let handle else { throw ConnectorError(.queryFailed, "Snowflake's answer has no handle") }
                var partitionDelivered = 0
                var partitionColumns: SnowflakeColumns? = resultColumns
                var partitionHandle: String? = handle
                counters.withLock { $0.partitions += 1 }
                _ = try await request(
                    .GET, path: "/api/v2/statements/\(handle)?partition=\(partition)", body: nil, statement: statement,
                    handle: &partitionHandle, delivered: &partitionDelivered,
                    columns: &partitionColumns, onColumns: { _ in }, onRow: onRow, afterChunk: afterChunk)
                let expected = first.partitions[partition]
                if partitionDelivered != expected {
                    throw ConnectorError(
                        .queryFailed,
                        "partition \(partition) of \(statement.label) held \(partitionDelivered) rows; Snowflake "
                            + "announced \(expected)")
                }
            }
            if let rows = first.partitions.first, delivered != rows {
                throw ConnectorError(
                    .queryFailed,
                    "the first partition of \(statement.label) held \(delivered) rows; Snowflake announced \(rows)")
            }
            await ready
        } catch is CancellationError {
            if !finished { await cancel(handle: handle, requestID: requestID, body: body) }
            throw CancellationError()
        } catch let error as HTTPClientError where error == .cancelled {
            if !finished { await cancel(handle: handle, requestID: requestID, body: body) }
            throw CancellationError()
        }
    }

    /// Asks Snowflake to cancel a statement, shielded from the caller's cancellation and bounded in time.
    ///
    /// When the task was cancelled while the submission was in flight, the handle is not known yet: the submission is
    /// repeated with its `requestId` and `retry=true`, which answers with the running statement's handle without
    /// running it again, and that handle is cancelled.
    private func cancel(handle: String?, requestID: String, body: [UInt8]) async {
        let task = Task.detached { [self] () async throws -> (String?, UInt) in
            var known = handle
            if known == nil {
                var request = HTTPClientRequest(
                    url: source.baseURL + "/api/v2/statements?requestId=\(requestID)&retry=true")
                request.method = .POST
                try addHeaders(&request)
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await http.execute(request, timeout: .seconds(10))
                var bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
                // 200 or 422: the statement has ended; nothing to cancel.
                guard response.status.code == 202 else { return (nil, UInt(response.status.code)) }
                if response.headers.first(name: "Content-Encoding")?.lowercased() == "gzip",
                    let raw = bytes.readBytes(length: bytes.readableBytes)
                {
                    bytes = ByteBuffer(bytes: try Gzip.decompress(raw, maxOutputBytes: 16 * 1024 * 1024))
                }
                known = try Self.summary(["statementHandle": Self.member(bytes, "statementHandle")]).statementHandle
            }
            guard let known else { return (nil, 0) }
            var request = HTTPClientRequest(url: source.baseURL + "/api/v2/statements/\(known)/cancel")
            request.method = .POST
            try addHeaders(&request)
            request.body = .bytes(ByteBuffer(string: "{}"))
            let response = try await http.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1024 * 1024)
            return (known, UInt(response.status.code))
        }
        switch await task.result {
        case .success((let cancelled?, let status)):
            logger.info(
                "snowflake.statement.cancel",
                metadata: ["statement.handle": "\(cancelled)", "http.status": "\(status)"])
        case .success:
            break
        case .failure(let error):
            logger.warning("snowflake.statement.cancel_failed", metadata: ["error": "\(error)"])
        }
    }

    /// The raw JSON of one top-level member of a small answer.
    private static func member(_ body: ByteBuffer, _ name: String) throws -> [UInt8] {
        var parser = SnowflakeResultParser()
        try body.withUnsafeReadableBytes { pointer in
            try parser.feed(pointer, onMember: { _, _ in }, onRow: { _ in })
        }
        return parser.members[name] ?? []
    }

    // MARK: Requests

    private struct RequestBody: Encodable {
        struct Parameters: Encodable {
            var queryTag: String
            var multiStatementCount = "1"
            enum CodingKeys: String, CodingKey {
                case queryTag = "query_tag"
                case multiStatementCount = "multi_statement_count"
            }
        }
        struct ResultSetMetaData: Encodable {
            var format = "jsonv2"
        }
        var statement: String
        var timeout: Int
        var database: String?
        var schema: String?
        var warehouse: String?
        var role: String?
        var parameters: Parameters
        var resultSetMetaData = ResultSetMetaData()
    }

    private func requestBody(_ statement: SnowflakeStatement) throws -> [UInt8] {
        let body = RequestBody(
            statement: statement.sql, timeout: source.statementTimeoutSeconds, database: statement.database,
            schema: statement.schema, warehouse: source.warehouse, role: source.role,
            parameters: .init(queryTag: configuration.queryTag))
        return Array(try JSONEncoder().encode(body))
    }

    private func addHeaders(_ request: inout HTTPClientRequest) throws {
        let header = try authorization.header()
        request.headers.add(name: "Authorization", value: header.authorization)
        request.headers.add(name: "X-Snowflake-Authorization-Token-Type", value: header.tokenType)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "Accept-Encoding", value: "gzip")
        request.headers.add(name: "User-Agent", value: "Outpost/\(ConnectorVersion.current) (snowflake connector)")
    }

    /// What one answer said beyond its rows.
    private struct Answer {
        var status: Int
        var statusURL: String?
        /// Row counts per partition, from `resultSetMetaData.partitionInfo`.
        var partitions: [Int] = []
    }

    /// One HTTP exchange with retries. Rows of a 200 answer are streamed to `onRow`; `delivered` counts them across
    /// attempts so that a repeated answer does not hand rows over twice.
    private func request(
        _ method: HTTPMethod, path: String, body: [UInt8]?, statement: SnowflakeStatement, handle: inout String?,
        delivered: inout Int, columns: inout SnowflakeColumns?, onColumns: (SnowflakeColumns) throws -> Void,
        onRow: ([String?], SnowflakeColumns) throws -> Void, afterChunk: () async throws -> Void = {}
    ) async throws -> Answer {
        var attempt = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            // A resubmitted POST says so, so Snowflake answers from the first execution instead of running again.
            let url = source.baseURL + path + (method == .POST && attempt > 1 ? "&retry=true" : "")
            do {
                var request = HTTPClientRequest(url: url)
                request.method = method
                try addHeaders(&request)
                if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
                let timeout = TimeAmount.seconds(
                    Int64(configuration.requestTimeout.components.seconds)
                        + (method == .POST ? Int64(min(source.statementTimeoutSeconds, 60)) : 0))
                let response = try await http.execute(request, timeout: timeout)
                let status = Int(response.status.code)
                switch status {
                case 200, 202:
                    var skip = delivered
                    var handedOver = 0
                    defer { delivered += handedOver }
                    var parser = SnowflakeResultParser()
                    var seenColumns = columns
                    defer { columns = seenColumns }
                    var countedThisAttempt = 0
                    let gzip = response.headers.first(name: "Content-Encoding")?.lowercased()
                    let decompressor: GzipDecompressor?
                    switch gzip {
                    case nil, "identity": decompressor = nil
                    case "gzip": decompressor = try GzipDecompressor()
                    default:
                        throw ConnectorError(.queryFailed, "Snowflake answered with unsupported encoding '\(gzip!)'")
                    }
                    func feed(_ bytes: UnsafeRawBufferPointer) throws {
                        try parser.feed(
                            bytes,
                            onMember: { name, raw in
                                guard name == "resultSetMetaData", seenColumns == nil else { return }
                                let decoded = try Self.columns(raw)
                                seenColumns = decoded
                                try onColumns(decoded)
                            },
                            onRow: { row in
                                guard let current = seenColumns else {
                                    throw ConnectorError(
                                        .queryFailed,
                                        "Snowflake sent rows before resultSetMetaData; cannot tell the columns apart")
                                }
                                countedThisAttempt += 1
                                if skip > 0 {
                                    skip -= 1
                                    return
                                }
                                try onRow(row, current)
                                handedOver += 1
                            })
                    }
                    for try await chunk in response.body {
                        // A network chunk can inflate to a whole partition: it is parsed a slice at a time, and the
                        // rows found handed on after each, so what waits for the reader stays a few hundred rows.
                        var offset = 0
                        while offset < chunk.readableBytes {
                            let length = min(Self.sliceBytes, chunk.readableBytes - offset)
                            try chunk.withUnsafeReadableBytes { whole in
                                let slice = UnsafeRawBufferPointer(rebasing: whole[offset..<(offset + length)])
                                if let decompressor {
                                    try decompressor.decompress(slice) { try feed($0) }
                                } else {
                                    try feed(slice)
                                }
                            }
                            offset += length
                            try await afterChunk()
                        }
                    }
                    if let decompressor, !decompressor.atMemberBoundary {
                        throw Dropped(reason: "the gzip body ended early")
                    }
                    guard parser.isComplete else { throw Dropped(reason: "the body ended early") }
                    var answer = Answer(status: status)
                    let summary = try Self.summary(parser.members)
                    if let value = summary.statementHandle { handle = value }
                    answer.statusURL = summary.statementStatusUrl
                    answer.partitions = summary.resultSetMetaData?.partitionInfo?.map(\.rowCount) ?? []
                    if status == 200 && answer.partitions.isEmpty {
                        answer.partitions = [countedThisAttempt]
                    }
                    return answer
                case 408:
                    let failure = try await Self.failure(response, status: status)
                    throw ConnectorError(
                        .timeout,
                        "\(statement.label): the statement ran longer than \(source.statementTimeoutSeconds) s and "
                            + "Snowflake cancelled it (\(failure)); raise statement_timeout in the URL",
                        underlying: failure)
                case 422:
                    let failure = try await Self.failure(response, status: status)
                    throw ConnectorError(.queryFailed, "\(statement.label): \(failure)", underlying: failure)
                case 401, 403:
                    let failure = try await Self.failure(response, status: status)
                    throw ConnectorError(
                        .authenticationFailed,
                        "Snowflake refused the credentials of \(source.user) at \(source.location) (\(failure)); "
                            + "check the user, the account identifier, and that the public key or token is current",
                        underlying: failure)
                case 429, 500...599:
                    let retryAfter = response.headers.first(name: "Retry-After").flatMap(Int.init)
                    _ = try? await response.body.collect(upTo: 1024 * 1024)
                    throw Retryable(reason: "HTTP \(status)", retryAfter: retryAfter)
                default:
                    let failure = try await Self.failure(response, status: status)
                    throw ConnectorError(
                        .queryFailed, "\(statement.label): HTTP \(status) from Snowflake: \(failure)",
                        underlying: failure)
                }
            } catch let error as Retryable {
                try await backoff(attempt: attempt, reason: error.reason, retryAfter: error.retryAfter, url: path)
            } catch let error as Dropped {
                try await backoff(attempt: attempt, reason: error.reason, retryAfter: nil, url: path)
            } catch {
                if let reason = SourceHTTP.transientReason(error) {
                    try await backoff(attempt: attempt, reason: reason, retryAfter: nil, url: path)
                } else {
                    throw SourceHTTP.finalError(error, location: source.location) ?? error
                }
            }
        }
    }

    private struct Retryable: Error {
        let reason: String
        let retryAfter: Int?
    }

    private struct Dropped: Error {
        let reason: String
    }

    /// Sleeps before the next attempt, or gives up when the attempts are spent.
    private func backoff(attempt: Int, reason: String, retryAfter: Int?, url: String) async throws {
        guard let pause = configuration.retry.pause(after: attempt, retryAfterSeconds: retryAfter) else {
            throw ConnectorError(
                .unreachable,
                "the Snowflake SQL API at \(source.location) kept failing (\(reason)) after \(attempt) attempts")
        }
        counters.withLock { $0.retries += 1 }
        logger.debug(
            "snowflake.request.retry",
            metadata: ["http.reason": "\(reason)", "retry.attempt": "\(attempt)", "retry.pause": "\(pause)"])
        try await configuration.sleep(pause)
    }

    // MARK: Decoding

    private struct Summary: Decodable {
        struct MetaData: Decodable {
            struct RowType: Decodable {
                var name: String
            }
            struct Partition: Decodable {
                var rowCount: Int
            }
            var rowType: [RowType]?
            var partitionInfo: [Partition]?
        }
        var statementHandle: String?
        var statementStatusUrl: String?
        var resultSetMetaData: MetaData?
    }

    private struct FailureBody: Decodable {
        var code: String?
        var sqlState: String?
        var message: String?
    }

    private static func summary(_ members: [String: [UInt8]]) throws -> Summary {
        var summary = Summary()
        let decoder = JSONDecoder()
        if let raw = members["statementHandle"] {
            summary.statementHandle = try? decoder.decode(String.self, from: Data(raw))
        }
        if let raw = members["statementStatusUrl"] {
            summary.statementStatusUrl = try? decoder.decode(String.self, from: Data(raw))
        }
        if let raw = members["resultSetMetaData"] {
            summary.resultSetMetaData = try? decoder.decode(Summary.MetaData.self, from: Data(raw))
        }
        if let handle = summary.statementHandle,
            !handle.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        {
            throw ConnectorError(.queryFailed, "Snowflake returned a statement handle with unexpected characters")
        }
        if let url = summary.statementStatusUrl, !url.hasPrefix("/api/v2/statements/") {
            summary.statementStatusUrl = nil
        }
        return summary
    }

    private static func columns(_ raw: [UInt8]) throws -> SnowflakeColumns {
        guard let metadata = try? JSONDecoder().decode(Summary.MetaData.self, from: Data(raw)),
            let rowType = metadata.rowType
        else {
            throw ConnectorError(.queryFailed, "Snowflake's resultSetMetaData has no rowType")
        }
        return SnowflakeColumns(names: rowType.map(\.name))
    }

    private static func failure(_ response: HTTPClientResponse, status: Int) async throws -> SnowflakeFailure {
        var bytes = try await response.body.collect(upTo: 1024 * 1024)
        if response.headers.first(name: "Content-Encoding")?.lowercased() == "gzip",
            let raw = bytes.readBytes(length: bytes.readableBytes),
            let inflated = try? Gzip.decompress(raw, maxOutputBytes: 4 * 1024 * 1024)
        {
            bytes = ByteBuffer(bytes: inflated)
        }
        let body = try? JSONDecoder().decode(FailureBody.self, from: Data(bytes.readableBytesView))
        return SnowflakeFailure(
            code: body?.code ?? "", sqlState: body?.sqlState,
            message: body?.message.map { String($0.prefix(1000)) } ?? "HTTP \(status) without a message",
            httpStatus: status)
    }
}
