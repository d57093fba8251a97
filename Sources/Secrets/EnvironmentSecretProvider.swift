#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Resolves `env:NAME` from the process environment, read at resolution time.
public struct EnvironmentSecretProvider: SecretProvider {
    public var store: SecretReference.Store { .env }

    public init() {}

    public func resolve(_ reference: SecretReference) async throws -> String {
        guard let raw = getenv(reference.locator) else {
            throw SecretError(.notFound, "environment variable \(reference.locator) named by \(reference) is not set")
        }
        return String(cString: raw)
    }
}

/// Resolves `file:/path`, re-reading the file every time so a rotated Kubernetes Secret is picked up.
///
/// One trailing newline is removed, as secret files written by editors and `echo` end with one.
public struct FileSecretProvider: SecretProvider {
    public var store: SecretReference.Store { .file }
    /// Refuse files larger than this: a secret is small, a large file is a misconfiguration.
    public let maxBytes: Int
    /// Called with the device and inode of the file once it is open, before anything is read: throws to refuse
    /// it (the agent refuses its own files, whatever name reached them).
    public let openedFileCheck: (@Sendable (_ device: UInt64, _ inode: UInt64) throws -> Void)?

    public init(
        maxBytes: Int = 1024 * 1024,
        openedFileCheck: (@Sendable (_ device: UInt64, _ inode: UInt64) throws -> Void)? = nil
    ) {
        self.maxBytes = maxBytes
        self.openedFileCheck = openedFileCheck
    }

    public func resolve(_ reference: SecretReference) async throws -> String {
        let path = reference.locator
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw SecretError(.unreadable, "cannot read secret file \(path) named by \(reference): \(reason)")
        }
        defer { close(descriptor) }
        if let openedFileCheck {
            var status = stat()
            guard fstat(descriptor, &status) == 0 else {
                let reason = String(cString: strerror(errno))
                throw SecretError(.unreadable, "cannot read secret file \(path) named by \(reference): \(reason)")
            }
            try openedFileCheck(UInt64(status.st_dev), UInt64(status.st_ino))
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                throw SecretError(.unreadable, "cannot read secret file \(path) named by \(reference): \(reason)")
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
            guard bytes.count <= maxBytes else {
                throw SecretError(.invalidFormat, "secret file \(path) is larger than \(maxBytes) bytes")
            }
        }
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SecretError(.invalidFormat, "secret file \(path) is not UTF-8 text")
        }
        return text
    }
}
