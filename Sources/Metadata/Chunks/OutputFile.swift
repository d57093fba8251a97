#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A file opened for writing with plain POSIX calls: create-exclusive, full writes, fsync before close.
///
/// Extraction output is written once and never rewritten in place, so this type is deliberately narrow.
final class OutputFile {
    let path: String
    private var descriptor: Int32

    /// Creates `path` (mode 0600); fails if it exists.
    init(creating path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw MetadataError(.io, "cannot create \(path): \(SystemErrorText.current())")
        }
    }

    deinit {
        if descriptor >= 0 { _ = platformClose(descriptor) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = platformWrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw MetadataError(.io, "cannot write \(path): \(SystemErrorText.current())")
            }
            offset += written
        }
    }

    /// Flushes to stable storage and closes.
    func close() throws {
        guard descriptor >= 0 else { return }
        defer { descriptor = -1 }
        if fsync(descriptor) != 0 {
            let error = SystemErrorText.current()
            _ = platformClose(descriptor)
            throw MetadataError(.io, "cannot flush \(path): \(error)")
        }
        if platformClose(descriptor) != 0 {
            throw MetadataError(.io, "cannot close \(path): \(SystemErrorText.current())")
        }
    }
}

func platformWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, pointer, count)
}

func platformClose(_ fd: Int32) -> Int32 {
    close(fd)
}

/// File-system helpers shared by the writer and reader.
enum FileSystem {
    static func rename(_ from: String, to: String) throws {
        guard platformRename(from, to) == 0 else {
            throw MetadataError(.io, "cannot rename \(from) to \(to): \(SystemErrorText.current())")
        }
    }

    static func remove(_ path: String) {
        _ = unlink(path)
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = platformClose(fd)
    }
}

private func platformRename(_ from: String, _ to: String) -> Int32 {
    rename(from, to)
}

/// The text of the current `errno`, for error messages.
enum SystemErrorText {
    static func current() -> String {
        String(cString: strerror(errno))
    }
}

func platformRead(_ fd: Int32, _ pointer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, pointer, count)
}
