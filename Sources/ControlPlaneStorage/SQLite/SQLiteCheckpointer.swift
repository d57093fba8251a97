internal import CSQLite
internal import Dispatch
internal import Synchronization

/// Checkpoints the write-ahead log on a connection and a thread of its own, so that no commit pays for one.
///
/// With SQLite's automatic checkpoint, the commit that takes the log past 1,000 pages copies the whole log into
/// the database and syncs both files before it returns: the publish of a large delivery (hundreds of megabytes of
/// log) then spends seconds in `COMMIT`, and every batch of its staging pays a share too. Here the writer's
/// commit hook only notes the log's size; past `thresholdPages` it asks this checkpointer, which runs a
/// `PASSIVE` checkpoint (it never blocks writers or readers) on its own connection and serial queue. One request
/// at a time: asks while one runs are folded into it. While commits follow each other without a pause (a
/// delivery being staged) the log grows, as each checkpoint ends after the next commit began; the first write
/// after a checkpoint that caught up starts it over, and `journal_size_limit` then truncates the file.
final class SQLiteCheckpointer: Sendable {
    /// The log size, in pages, past which a checkpoint is asked for: SQLite's own default.
    static let thresholdPages: Int32 = 1000

    private let path: String
    private let queue: DispatchQueue
    /// The checkpointing connection; used only on `queue`, nil once closed.
    private let connection: Mutex<OpaquePointer?>
    private let pending = Atomic<Bool>(false)

    init(path: String) throws {
        self.path = path
        queue = DispatchQueue(label: "outpost.storage.sqlite.checkpoint")
        var handle: OpaquePointer?
        let status = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            throw StorageError(.unavailable, "cannot open the SQLite database '\(path)' to checkpoint it (\(message))")
        }
        sqlite3_busy_timeout(handle, 1000)
        // A connection learns that the file uses a write-ahead log when it first reads it; until then a
        // checkpoint is a no-op.
        guard sqlite3_exec(handle, "SELECT count(*) FROM sqlite_schema", nil, nil, nil) == SQLITE_OK else {
            let message = String(cString: sqlite3_errmsg(handle))
            sqlite3_close_v2(handle)
            throw StorageError(.unavailable, "cannot read the SQLite database '\(path)' to checkpoint it (\(message))")
        }
        connection = Mutex(handle)
    }

    /// Installs the commit hook on the writer's connection; that connection must be closed before `close()`.
    func attach(to writer: OpaquePointer) {
        sqlite3_wal_hook(
            writer,
            { context, _, _, pages in
                if let context, pages >= SQLiteCheckpointer.thresholdPages {
                    Unmanaged<SQLiteCheckpointer>.fromOpaque(context).takeUnretainedValue().request()
                }
                return SQLITE_OK
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Asks for a checkpoint; returns at once.
    func request() {
        guard pending.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        queue.async {
            self.pending.store(false, ordering: .releasing)
            self.checkpoint()
        }
    }

    /// Runs one passive checkpoint now, on the caller's thread (tests, and `request()` on the queue).
    func checkpoint() {
        connection.withLock { handle in
            guard let handle else { return }
            // Busy or locked only means another checkpoint or a recovery is running; the next commit asks again.
            _ = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        }
    }

    /// Waits for a checkpoint already asked for, then closes the checkpointing connection.
    func close() {
        queue.sync {}
        connection.withLock { handle in
            if let open = handle { sqlite3_close_v2(open) }
            handle = nil
        }
    }
}
