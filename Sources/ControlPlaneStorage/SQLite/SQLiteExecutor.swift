internal import Dispatch

/// Runs an actor's jobs on a private serial dispatch queue instead of the cooperative thread pool.
///
/// SQLite calls block: a commit may wait on a checkpoint's `fsync`, and a writer may sleep in the busy handler
/// while another connection holds the write lock. On a two-core machine the cooperative pool has two threads, so
/// blocking them would stall every request; a serial dispatch queue gets its own thread from libdispatch's
/// overcommitting pool and keeps the actor's one-at-a-time guarantee.
final class SQLiteExecutor: SerialExecutor {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }
}
