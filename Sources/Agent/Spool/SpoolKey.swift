#if canImport(CDispatch)
    // `struct stat` is attributed to the C module of Dispatch on Linux: importing it makes its fields visible.
    internal import CDispatch
#endif

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// The spool's AES-256 key: 32 random bytes in a file only the agent's user can read.
///
/// The key stays on the agent's machine; losing it makes the spool unreadable (runs not yet delivered are then
/// re-run), so it is created once and reused across restarts.
public struct SpoolKey {
    /// The key size in bytes.
    public static let size = 32

    /// Reads the key at `path`, or creates it (32 random bytes, mode 0600, created exclusively) if missing.
    ///
    /// - Throws: `SpoolError` `.invalidKey` when the file is not a regular file, is not 32 bytes, is owned by
    ///   another user or can be read or written by group or others; `.io` when it cannot be read or created.
    public static func loadOrCreate(at path: String) throws -> [UInt8] {
        for _ in 0..<2 {
            if let key = try load(path) { return key }
            if let key = try create(path) { return key }
            // Another process created it between our two attempts: read theirs.
        }
        throw SpoolError(.io, "cannot create or read the spool key \(path)")
    }

    private static func load(_ path: String) throws -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw SpoolError(.invalidKey, "cannot open the spool key \(path): \(SpoolFiles.errorText())")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw SpoolError(.io, "cannot inspect the spool key \(path): \(SpoolFiles.errorText())")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw SpoolError(.invalidKey, "the spool key \(path) is not a regular file")
        }
        guard info.st_uid == geteuid() else {
            throw SpoolError(
                .invalidKey, "the spool key \(path) belongs to user \(info.st_uid), not to the agent's user")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw SpoolError(
                .invalidKey,
                "the spool key \(path) is accessible to group or others (mode 0\(String(mode, radix: 8))): "
                    + "run chmod 600 \(path)")
        }
        guard Int(info.st_size) == size else {
            throw SpoolError(
                .invalidKey,
                "the spool key \(path) must hold exactly \(size) bytes (it holds \(info.st_size)); restore the "
                    + "original key or remove the file and the spool")
        }
        var key = [UInt8](repeating: 0, count: size)
        let count = key.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, size) }
        guard count == size else { throw SpoolError(.io, "cannot read the spool key \(path)") }
        return key
    }

    private static func create(_ path: String) throws -> [UInt8]? {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST { return nil }
            throw SpoolError(.io, "cannot create the spool key \(path): \(SpoolFiles.errorText())")
        }
        var generator = SystemRandomNumberGenerator()
        let key = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let written = key.withUnsafeBytes { write(descriptor, $0.baseAddress, size) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == size, synced else {
            unlink(path)
            throw SpoolError(.io, "cannot write the spool key \(path)")
        }
        return key
    }
}
