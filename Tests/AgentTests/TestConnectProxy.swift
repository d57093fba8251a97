import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A test proxy: a minimal HTTP CONNECT proxy on 127.0.0.1, written for the tests, that demands
/// `Proxy-Authorization: Basic …` with one user and password (407 otherwise), tunnels only to 127.0.0.1, and counts
/// what it saw. One thread per connection and per direction: it is for a handful of connections, not for load.
final class TestConnectProxy: Sendable {
    let port: Int
    private let descriptor: Int32
    private let expected: String
    private let tunnelled = Atomic<Int>(0)
    private let refused = Atomic<Int>(0)
    private let targets = Mutex<[String]>([])

    /// Listens on a free loopback port at once.
    init(username: String, password: String) throws {
        expected = "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestFailure("the test proxy cannot open a socket") }
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            close(descriptor)
            throw TestFailure("the test proxy cannot listen on 127.0.0.1")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(descriptor, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    return
                }
                Thread.detachNewThread { [self] in serve(client) }
            }
        }
    }

    /// CONNECT requests that carried the right credentials and were tunnelled.
    var connects: Int { tunnelled.load(ordering: .sequentiallyConsistent) }
    /// Requests answered 407 (no or wrong credentials).
    var authenticationFailures: Int { refused.load(ordering: .sequentiallyConsistent) }
    /// The `host:port` of every tunnel.
    var tunnelTargets: [String] { targets.withLock { $0 } }

    deinit {
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
    }

    private func serve(_ client: Int32) {
        guard let (head, rest) = Self.readHead(client) else {
            close(client)
            return
        }
        let lines = head.components(separatedBy: "\r\n")
        let request = lines[0].split(separator: " ")
        let authorization = lines.dropFirst().first { $0.lowercased().hasPrefix("proxy-authorization:") }
            .map { String($0.dropFirst("proxy-authorization:".count)).trimmingCharacters(in: .whitespaces) }
        guard request.count == 3, request[0] == "CONNECT" else {
            Self.answer(client, "405 Method Not Allowed")
            return
        }
        guard authorization == expected else {
            refused.add(1, ordering: .sequentiallyConsistent)
            Self.answer(
                client, "407 Proxy Authentication Required", extra: "Proxy-Authenticate: Basic realm=\"test\"\r\n")
            return
        }
        let target = String(request[1])
        guard target.hasPrefix("127.0.0.1:"), let port = Int(target.dropFirst("127.0.0.1:".count)) else {
            Self.answer(client, "403 Forbidden")
            return
        }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard upstream >= 0, connected == 0 else {
            if upstream >= 0 { close(upstream) }
            Self.answer(client, "502 Bad Gateway")
            return
        }
        tunnelled.add(1, ordering: .sequentiallyConsistent)
        targets.withLock { $0.append(target) }
        guard Self.writeAll(client, Array("HTTP/1.1 200 Connection Established\r\n\r\n".utf8)),
            Self.writeAll(upstream, rest)
        else {
            close(client)
            close(upstream)
            return
        }
        let back = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            Self.pump(from: upstream, to: client)
            back.signal()
        }
        Self.pump(from: client, to: upstream)
        back.wait()
        close(client)
        close(upstream)
    }

    /// Copies until end of stream or an error, then half-closes the destination.
    private static func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0, writeAll(destination, Array(buffer[0..<count])) else { break }
        }
        shutdown(destination, Int32(SHUT_WR))
    }

    /// The request head (up to the blank line, at most 16 KiB) and whatever bytes came after it.
    private static func readHead(_ descriptor: Int32) -> (String, [UInt8])? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        while bytes.count < 16 * 1024 {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            bytes += buffer[0..<count]
            if let end = bytes.firstRange(of: separator) {
                return (String(decoding: bytes[..<end.lowerBound], as: UTF8.self), Array(bytes[end.upperBound...]))
            }
        }
        return nil
    }

    private static func answer(_ descriptor: Int32, _ status: String, extra: String = "") {
        _ = writeAll(
            descriptor, Array("HTTP/1.1 \(status)\r\n\(extra)Content-Length: 0\r\nConnection: close\r\n\r\n".utf8))
        close(descriptor)
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
