#if canImport(CDispatch)
    // `struct stat` is attributed to the C module of Dispatch on Linux: importing it makes its fields visible.
    internal import CDispatch
#endif

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// The few POSIX file operations the spool needs, with errors as `SpoolError`.
enum SpoolFiles {
    static func errorText() -> String {
        String(cString: strerror(errno))
    }

    /// Creates `path` (and missing parents) with mode 0700; an existing directory is fine.
    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o700) == 0 || errno == EEXIST {
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                throw SpoolError(.io, "\(path) exists but is not a directory")
            }
            return
        }
        if errno == ENOENT, let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectory(String(path[..<slash]))
            if mkdir(path, 0o700) == 0 || errno == EEXIST { return }
        }
        throw SpoolError(.io, "cannot create directory \(path): \(errorText())")
    }

    /// The size of a regular file, or nil if it does not exist.
    static func fileSize(_ path: String) -> Int64? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    /// Entry names of a directory (without `.` and `..`); empty if it does not exist.
    static func list(_ path: String) throws -> [String] {
        guard let directory = opendir(path) else {
            if errno == ENOENT { return [] }
            throw SpoolError(.io, "cannot list \(path): \(errorText())")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Total size of the regular files under `path`, not following symbolic links.
    static func treeSize(_ path: String) throws -> Int64 {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return Int64(info.st_size)
        case S_IFDIR: return try list(path).reduce(0) { $0 + (try treeSize(path + "/" + $1)) }
        default: return 0
        }
    }

    /// Removes `path` and everything below it, not following symbolic links.
    static func removeTree(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            for name in try list(path) { try removeTree(path + "/" + name) }
            guard rmdir(path) == 0 else { throw SpoolError(.io, "cannot remove \(path): \(errorText())") }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else {
                throw SpoolError(.io, "cannot remove \(path): \(errorText())")
            }
        }
    }

    /// Reads a whole file of at most `limit` bytes.
    static func readAll(_ path: String, limit: Int) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { throw SpoolError(.io, "cannot open \(path): \(errorText())") }
        defer { close(descriptor) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SpoolError(.io, "cannot read \(path): \(errorText())")
            }
            if count == 0 { return result }
            result += buffer[0..<count]
            guard result.count <= limit else {
                throw SpoolError(.corrupt, "\(path) is larger than the \(limit) bytes the spool ever writes there")
            }
        }
    }

    /// Appends `bytes` to `path` (created 0600); on failure, cuts the file back so no partial write remains.
    static func append(_ bytes: [UInt8], to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SpoolError(.io, "cannot open \(path): \(errorText())") }
        defer { close(descriptor) }
        let start = lseek(descriptor, 0, SEEK_END)
        var offset = 0
        let failure: String? = bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errorText()
                }
                offset += written
            }
            return nil
        }
        if let failure {
            if start >= 0 { _ = ftruncate(descriptor, start) }
            throw SpoolError(.io, "cannot write \(path): \(failure)")
        }
    }

    /// Cuts `path` to `length` bytes (drops a torn record left by a crash).
    static func cut(_ path: String, to length: Int64) throws {
        guard truncate(path, off_t(length)) == 0 else {
            throw SpoolError(.io, "cannot truncate \(path): \(errorText())")
        }
    }

    static func move(_ from: String, to: String) throws {
        guard rename(from, to) == 0 else {
            throw SpoolError(.io, "cannot rename \(from) to \(to): \(errorText())")
        }
    }

    static func syncDirectory(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }
}
