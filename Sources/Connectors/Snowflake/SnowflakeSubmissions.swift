internal import SourceURLs
internal import Synchronization

/// Statements submitted ahead (`async=true`) and not read yet, by label: Snowflake runs them while earlier results
/// are being read, and the reader picks each up when its turn comes.
///
/// Shared (hence a class) between a reader and the task that submits the next statements once the result being read
/// is ready, so Snowflake is never idle while rows are turned into records. A statement that could not be submitted,
/// or whose text changed since, simply runs when its turn comes.
final class SnowflakeSubmissions: Sendable {
    let client: SnowflakeSQLClient

    /// A statement submitted ahead: running (or finished) on Snowflake, or refused by it at submission (not
    /// authorised, a compilation error), which its reader is told instead of running it a second time.
    private enum Entry {
        case submitted(SnowflakeSQLClient.Submission)
        case refused(SnowflakeStatement, any Error)

        var statement: SnowflakeStatement {
            switch self {
            case .submitted(let submission): submission.statement
            case .refused(let statement, _): statement
            }
        }
    }

    private struct State {
        /// Submitted and not read yet.
        var waiting: [String: Entry] = [:]
        /// Being submitted: the readers waiting for the answer, so that a reader that reaches a statement while
        /// its submission is on the way reads that one instead of running it a second time.
        var submitting: [String: [CheckedContinuation<Void, Never>]] = [:]
    }

    private let state = Mutex(State())

    init(client: SnowflakeSQLClient) {
        self.client = client
    }

    /// Submits each statement, in order, unless one with its label is already waiting or on its way.
    func submit(_ statements: [SnowflakeStatement]) async {
        for statement in statements {
            if Task.isCancelled { return }
            let claimed = state.withLock { state -> Bool in
                guard state.waiting[statement.label] == nil, state.submitting[statement.label] == nil else {
                    return false
                }
                state.submitting[statement.label] = []
                return true
            }
            guard claimed else { continue }
            var entry: Entry?
            do {
                entry = .submitted(try await client.submit(statement))
            } catch let error as ConnectorError where error.underlying is SnowflakeFailure {
                entry = .refused(statement, error)
            } catch {
                // Not submitted (the connection failed, the task was cancelled): it runs when its turn comes.
            }
            let readers = state.withLock { state in
                if let entry { state.waiting[statement.label] = entry }
                return state.submitting.removeValue(forKey: statement.label) ?? []
            }
            for reader in readers { reader.resume() }
        }
    }

    /// Reads `statement` submitted ahead, or runs it, exactly as `SnowflakeSQLClient.execute`; `whenReady` runs once
    /// its result is ready, while its rows are being read. A submission still on its way is waited for.
    func execute(
        _ statement: SnowflakeStatement, whenReady: (@Sendable () async -> Void)? = nil,
        onColumns: (SnowflakeColumns) throws -> Void = { _ in }, onRow: ([String?], SnowflakeColumns) throws -> Void
    ) async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                guard state.submitting[statement.label] != nil else { return true }
                state.submitting[statement.label]?.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
        let entry = state.withLock { $0.waiting.removeValue(forKey: statement.label) }
        switch entry {
        case .submitted(let submission) where submission.statement.sql == statement.sql:
            try await client.execute(submission, whenReady: whenReady, onColumns: onColumns, onRow: onRow)
            return
        case .refused(let refused, let error) where refused.sql == statement.sql:
            throw error
        case .submitted(let submission):
            await client.cancel(submission)
        case .refused, nil:
            break
        }
        try await client.execute(statement, whenReady: whenReady, onColumns: onColumns, onRow: onRow)
    }

    /// Cancels what was submitted and not read (the extraction stopped first).
    func cancelAll() async {
        let unread = state.withLock { state in
            defer { state.waiting = [:] }
            return state.waiting.values.compactMap { entry -> SnowflakeSQLClient.Submission? in
                if case .submitted(let submission) = entry { return submission }
                return nil
            }
        }
        for submission in unread { await client.cancel(submission) }
    }
}
