internal import Synchronization

/// Statements submitted ahead (`async=true`) and not read yet, by label: Snowflake runs them while earlier results
/// are being read, and the reader picks each up when its turn comes.
///
/// Shared (hence a class) between a reader and the task that submits the next statements once the result being read
/// is ready, so Snowflake is never idle while rows are turned into records. A statement that could not be submitted,
/// or whose text changed since, simply runs when its turn comes.
final class SnowflakeSubmissions: Sendable {
    let client: SnowflakeSQLClient
    private let waiting = Mutex<[String: SnowflakeSQLClient.Submission]>([:])

    init(client: SnowflakeSQLClient) {
        self.client = client
    }

    /// Submits each statement, in order, unless one with its label is already waiting.
    func submit(_ statements: [SnowflakeStatement]) async {
        for statement in statements {
            if Task.isCancelled { return }
            guard !waiting.withLock({ $0[statement.label] != nil }) else { continue }
            if let submission = try? await client.submit(statement) {
                waiting.withLock { $0[statement.label] = submission }
            }
        }
    }

    /// Reads `statement` submitted ahead, or runs it, exactly as `SnowflakeSQLClient.execute`; `whenReady` runs once
    /// its result is ready, while its rows are being read.
    func execute(
        _ statement: SnowflakeStatement, whenReady: (@Sendable () async -> Void)? = nil,
        onColumns: (SnowflakeColumns) throws -> Void = { _ in }, onRow: ([String?], SnowflakeColumns) throws -> Void
    ) async throws {
        let submission = waiting.withLock { $0.removeValue(forKey: statement.label) }
        if let submission, submission.statement.sql == statement.sql {
            try await client.execute(submission, whenReady: whenReady, onColumns: onColumns, onRow: onRow)
            return
        }
        if let submission { await client.cancel(submission) }
        try await client.execute(statement, whenReady: whenReady, onColumns: onColumns, onRow: onRow)
    }

    /// Cancels what was submitted and not read (the extraction stopped first).
    func cancelAll() async {
        let unread = waiting.withLock { waiting in
            defer { waiting = [:] }
            return Array(waiting.values)
        }
        for submission in unread { await client.cancel(submission) }
    }
}
