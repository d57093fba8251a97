internal import Glibc

/// An exclusive advisory lock (`flock`) on a file beside the database, held for as long as the store is open: it
/// tells a store whether it is the only one using the database, so that at start it may treat every ingestion
/// left `ingesting` as orphaned by a process that stopped, rather than wait for that process's lease to run out.
///
/// The lock dies with its holder however it stops (the kernel releases it), so a killed server never leaves it
/// behind. Several stores may still open one file (each then waits for its turn to write); only the first holds
/// the lock.
final class SQLiteOwnerLock: Sendable {
    private let descriptor: Int32

    /// Whether this store holds the lock: no other store, in this process or another, has the database open.
    var isHeld: Bool { descriptor >= 0 }

    /// Tries the lock on `databasePath + "-owner"`, created with mode 0600 if missing. Never throws: a store that
    /// cannot take the lock works as one of several.
    init(databasePath: String) {
        let fd = open(databasePath + "-owner", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            descriptor = -1
            return
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            descriptor = -1
            return
        }
        descriptor = fd
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }
}
