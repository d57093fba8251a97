internal import CSQLite
internal import SourceURLs
internal import Synchronization

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A database file opened once, before SQLite sees it, so the file a policy checks is the file SQLite reads.
///
/// SQLite opens files by name, and a name can be re-pointed between a check and the open (a symlink swapped,
/// a directory renamed). Pinning opens the file first and asks the kernel where the opened file lives
/// (`openedPath`); the caller checks that path. SQLite is then given `openedPath`, and its opens of that name —
/// the database and its `-wal`, `-shm` and `-journal` companions — are served from the pinned descriptors through
/// SQLite's system-call override (`xSetSystemCall("open")`) instead of resolving the name again: the database
/// from a duplicate of the pinned file, the companions relative to the pinned directory, without following
/// symlinks. Every other open in the process goes to the system as before.
final class PinnedSQLiteFile: Sendable {
    /// The opened file's absolute path as the kernel reports it (symlinks resolved).
    let openedPath: String
    /// The `sqlite3_open_v2` flags that make SQLite refuse symlinks in `openedPath` (there are none, unless the
    /// path changed after pinning: then the open fails instead of following the change).
    static let openFlags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW

    private let registration: UInt64

    /// Opens `path` read-only and pins it and its directory.
    ///
    /// - Throws: `ConnectorError(.unreadableFile)` when the file is missing, unreadable, not a regular file, or was
    ///   moved while it was being pinned; `.invalidSource` when this SQLite library cannot serve pinned files.
    init(path: String) throws {
        guard SystemCallOverride.installed else {
            throw ConnectorError(
                .invalidSource,
                "this SQLite library (\(String(cString: sqlite3_libversion()))) does not let Outpost open database files safely (no unix VFS system-call override)"
            )
        }
        let file = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard file >= 0 else { throw Self.openError(path, errno: errno) }
        var closeFile = true
        defer { if closeFile { close(file) } }
        var fileStatus = stat()
        guard fstat(file, &fileStatus) == 0 else { throw Self.openError(path, errno: errno) }
        guard fileStatus.st_mode & S_IFMT == S_IFREG else {
            if fileStatus.st_mode & S_IFMT == S_IFDIR {
                throw ConnectorError(
                    .unreadableFile, "'\(path)' is a directory; pass the path of a SQLite database file inside it")
            }
            throw ConnectorError(
                .unreadableFile, "'\(path)' is not a regular file; pass the path of a SQLite database file")
        }
        guard let opened = Self.kernelPath(of: file), opened.hasPrefix("/"), !opened.hasSuffix(" (deleted)"),
            let slash = opened.lastIndex(of: "/")
        else {
            throw ConnectorError(
                .unreadableFile, "cannot tell where '\(path)' lives after opening it (deleted or moved meanwhile?)")
        }
        let directoryPath = slash == opened.startIndex ? "/" : String(opened[..<slash])
        let name = String(opened[opened.index(after: slash)...])
        let directory = open(directoryPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw Self.openError(directoryPath, errno: errno) }
        var closeDirectory = true
        defer { if closeDirectory { close(directory) } }
        // The directory opened by name must be the one that holds the pinned file under that name now, and be
        // where the kernel says it is: otherwise something moved between the two opens.
        var entryStatus = stat()
        guard fstatat(directory, name, &entryStatus, AT_SYMLINK_NOFOLLOW) == 0,
            entryStatus.st_dev == fileStatus.st_dev, entryStatus.st_ino == fileStatus.st_ino,
            Self.kernelPath(of: directory) == directoryPath
        else {
            throw ConnectorError(
                .unreadableFile, "'\(path)' was moved or replaced while it was being opened; try again")
        }
        openedPath = opened
        registration = SystemCallOverride.register(path: opened, file: file, directory: directory)
        closeFile = false
        closeDirectory = false
    }

    deinit {
        SystemCallOverride.unregister(registration)
    }

    /// Where the kernel says an open descriptor's file lives (Linux: `/proc/self/fd`; Darwin: `F_GETPATH`).
    static func kernelPath(of descriptor: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        #if canImport(Darwin)
            guard fcntl(descriptor, F_GETPATH, &buffer) != -1 else { return nil }
            return String(cString: buffer)
        #else
            let count = readlink("/proc/self/fd/\(descriptor)", &buffer, buffer.count - 1)
            guard count > 0 else { return nil }
            return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #endif
    }

    private static func openError(_ path: String, errno code: Int32) -> ConnectorError {
        switch code {
        case ENOENT, ENOTDIR:
            ConnectorError(.unreadableFile, "SQLite database file '\(path)' does not exist; check the path")
        case EACCES, EPERM:
            ConnectorError(
                .unreadableFile,
                "cannot read SQLite database '\(path)' (permission denied); check that this user can read it")
        default:
            ConnectorError(
                .unreadableFile, "cannot open SQLite database '\(path)': \(String(cString: strerror(code)))")
        }
    }
}

/// The process-wide replacement of the unix VFS's `open`, serving the names of pinned files from their descriptors.
///
/// SQLite reads the replacement through its system-call table on every open; the table entry is written once,
/// when the first file is pinned. Names that are not pinned go to the function SQLite had before.
private enum SystemCallOverride {
    typealias OpenFunction = @convention(c) (UnsafePointer<CChar>?, Int32, Int32) -> Int32

    struct Pin {
        var id: UInt64
        var file: Int32
        var directory: Int32
        var name: String
    }

    struct State {
        var nextId: UInt64 = 1
        /// By opened path; the newest pin of a path serves it (every pin of it was checked under that path).
        var pins: [String: [Pin]] = [:]
        var paths: [UInt64: String] = [:]
    }

    static let state = Mutex(State())
    /// SQLite's own `open`, captured when the override was installed.
    static let original: OpenFunction? = install()
    static var installed: Bool { original != nil }

    /// The companions SQLite derives from a database's name.
    static let suffixes = ["-wal", "-shm", "-journal"]

    private static func install() -> OpenFunction? {
        guard let vfs = sqlite3_vfs_find(nil), vfs.pointee.iVersion >= 3,
            String(cString: vfs.pointee.zName) == "unix",
            let get = vfs.pointee.xGetSystemCall, let set = vfs.pointee.xSetSystemCall,
            let current = get(vfs, "open")
        else { return nil }
        let replacement: OpenFunction = { name, flags, mode in SystemCallOverride.open(name, flags, mode) }
        guard set(vfs, "open", unsafeBitCast(replacement, to: sqlite3_syscall_ptr.self)) == SQLITE_OK else {
            return nil
        }
        return unsafeBitCast(current, to: OpenFunction.self)
    }

    static func register(path: String, file: Int32, directory: Int32) -> UInt64 {
        let name = String(path[path.index(after: path.lastIndex(of: "/")!)...])
        return state.withLock { state in
            let id = state.nextId
            state.nextId += 1
            state.pins[path, default: []].append(Pin(id: id, file: file, directory: directory, name: name))
            state.paths[id] = path
            return id
        }
    }

    static func unregister(_ id: UInt64) {
        let pin: Pin? = state.withLock { state in
            guard let path = state.paths.removeValue(forKey: id),
                let index = state.pins[path]?.firstIndex(where: { $0.id == id })
            else { return nil }
            let pin = state.pins[path]?.remove(at: index)
            if state.pins[path]?.isEmpty == true { state.pins[path] = nil }
            return pin
        }
        // Closed outside any open the override serves: it took the lock to use these descriptors.
        if let pin {
            close(pin.file)
            close(pin.directory)
        }
    }

    static func open(_ name: UnsafePointer<CChar>?, _ flags: Int32, _ mode: Int32) -> Int32 {
        if let name, let served = serve(String(cString: name), flags: flags, mode: mode) { return served }
        guard let original else {
            errno = EACCES
            return -1
        }
        return original(name, flags, mode)
    }

    /// The descriptor for a pinned name, or nil when `path` is not one.
    private static func serve(_ path: String, flags: Int32, mode: Int32) -> Int32? {
        state.withLock { state -> Int32? in
            guard !state.pins.isEmpty else { return nil }
            if let pin = state.pins[path]?.last {
                // The database itself is only ever read.
                guard flags & O_ACCMODE == O_RDONLY else {
                    errno = EACCES
                    return -1
                }
                return fcntl(pin.file, F_DUPFD_CLOEXEC, 3)
            }
            for suffix in suffixes where path.hasSuffix(suffix) {
                guard let pin = state.pins[String(path.dropLast(suffix.count))]?.last else { continue }
                return openat(pin.directory, pin.name + suffix, flags | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
            }
            return nil
        }
    }
}
