import NIOCore
import Synchronization

/// The base URL in front of the pre-signed upload URLs the server hands out.
///
/// The configured public address when there is one; otherwise `http://HOST:PORT` (`https` with TLS on the listener)
/// of the listen address, completed with the port actually bound once the server listens (port 0 picks one at
/// start, as tests do).
final class PublicAddress: Sendable {
    private let configured: String?
    private let host: String
    private let scheme: String
    private let port: Mutex<Int>

    init(configuration: ServerConfiguration) {
        configured = configuration.publicBaseURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        host = configuration.host
        scheme = configuration.tls == nil ? "http" : "https"
        port = Mutex(configuration.port)
    }

    /// Records the bound port; `Application`'s `onServerRunning` calls it.
    func serverIsRunning(on channel: any Channel) {
        guard let bound = channel.localAddress?.port else { return }
        port.withLock { $0 = bound }
    }

    /// `scheme://host[:port]`, without a trailing slash.
    var baseURL: String {
        if let configured { return configured }
        let port = port.withLock { $0 }
        return "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }
}
