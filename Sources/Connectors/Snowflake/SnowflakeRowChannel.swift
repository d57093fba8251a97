internal import Synchronization

/// Hands the rows of one result from the task that fetches and parses them to the task that turns them into records,
/// a few batches at a time.
///
/// Fetching, gunzip and JSON parsing then run on one core while records, JSON Lines and gzip output run on the other.
/// The bound keeps memory flat however large the result: the producer waits while `capacity` batches are unread. One
/// producer and one consumer; the consumer either reads to the end or closes the channel, so a waiting producer is
/// always woken.
final class SnowflakeRowChannel: Sendable {
    enum Event: Sendable {
        /// The result's columns, once, before any row.
        case columns(SnowflakeColumns)
        case rows([[String?]])
    }

    private struct State {
        var events: [Event] = []
        /// Set when the producer has finished: nil error for the end of the result.
        var end: (any Error)??
        /// The consumer has stopped reading.
        var closed = false
        var consumer: CheckedContinuation<Event?, any Error>?
        var producer: CheckedContinuation<Void, any Error>?
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Queues `event`, waiting while the channel is full.
    ///
    /// - Throws: `CancellationError` once the consumer has closed the channel.
    func send(_ event: Event) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enum Action {
                case closed
                case handOver(CheckedContinuation<Event?, any Error>)
                case queued
                case wait
            }
            let action = state.withLock { state -> Action in
                if state.closed { return .closed }
                if let consumer = state.consumer {
                    state.consumer = nil
                    return .handOver(consumer)
                }
                state.events.append(event)
                if state.events.count < capacity { return .queued }
                state.producer = continuation
                return .wait
            }
            switch action {
            case .closed: continuation.resume(throwing: CancellationError())
            case .handOver(let consumer):
                consumer.resume(returning: event)
                continuation.resume()
            case .queued: continuation.resume()
            case .wait: break
            }
        }
    }

    /// Ends the result: `next()` returns nil once the queued events are read, or throws `error`.
    func finish(throwing error: (any Error)?) {
        let consumer = state.withLock { state -> CheckedContinuation<Event?, any Error>? in
            state.end = .some(error)
            defer { state.consumer = nil }
            return state.consumer
        }
        if let error {
            consumer?.resume(throwing: error)
        } else {
            consumer?.resume(returning: nil)
        }
    }

    /// The next event, waiting for the producer; nil at the end of the result.
    ///
    /// - Throws: the error the producer finished with.
    func next() async throws -> Event? {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Event?, any Error>) in
            enum Action {
                case event(Event, CheckedContinuation<Void, any Error>?)
                case end((any Error)?)
                case wait
            }
            let action = state.withLock { state -> Action in
                if !state.events.isEmpty {
                    let event = state.events.removeFirst()
                    defer { state.producer = nil }
                    return .event(event, state.producer)
                }
                if let end = state.end { return .end(end) }
                state.consumer = continuation
                return .wait
            }
            switch action {
            case .event(let event, let producer):
                producer?.resume()
                continuation.resume(returning: event)
            case .end(let error?): continuation.resume(throwing: error)
            case .end(nil): continuation.resume(returning: nil)
            case .wait: break
            }
        }
    }

    /// The consumer stops reading: queued events are dropped and a waiting producer is woken with
    /// `CancellationError`.
    func close() {
        let producer = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            state.closed = true
            state.events = []
            defer { state.producer = nil }
            return state.producer
        }
        producer?.resume(throwing: CancellationError())
    }
}

/// The producer's side of a `SnowflakeRowChannel`: collects rows as the parser finds them (synchronously) and sends
/// them in batches at the next suspension point.
final class SnowflakeRowBatcher {
    private let channel: SnowflakeRowChannel
    private let batchSize: Int
    private var columns: SnowflakeColumns?
    private var rows: [[String?]] = []

    init(channel: SnowflakeRowChannel, batchSize: Int) {
        self.channel = channel
        self.batchSize = batchSize
        rows.reserveCapacity(batchSize)
    }

    func columns(_ columns: SnowflakeColumns) {
        self.columns = columns
    }

    func row(_ row: [String?]) {
        rows.append(row)
    }

    /// Sends the columns, if new, and the rows collected, once there are a batch's worth or `all`.
    func flush(all: Bool) async throws {
        if let columns {
            self.columns = nil
            try await channel.send(.columns(columns))
        }
        guard rows.count >= batchSize || (all && !rows.isEmpty) else { return }
        let batch = rows
        rows = []
        rows.reserveCapacity(batchSize)
        try await channel.send(.rows(batch))
    }
}
