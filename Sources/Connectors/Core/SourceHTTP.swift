internal import AsyncHTTPClient
internal import NIOCore
internal import NIOPosix
internal import NIOSSL
internal import SourceURLs

/// What the connectors that speak HTTPS to their source (Snowflake, Tableau) share: one client set-up, one
/// reading of transport failures (retry, or a final error that says what to fix), and one retry pacing.
enum SourceHTTP {
    /// An HTTP client for a source: TLS 1.2 or later, `rootCertificatePath` (the URL's `sslrootcert`) as the only
    /// trust roots when given, no redirects, no transparent decompression, through `proxy` when one is given.
    static func makeClient(
        rootCertificatePath: String?, proxy: HTTPClient.Configuration.Proxy?, readTimeout: TimeAmount = .seconds(90)
    ) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let path = rootCertificatePath {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
            } catch {
                throw ConnectorError(.tls, "cannot read PEM certificates from sslrootcert '\(path)': \(error)")
            }
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: readTimeout)
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.proxy = proxy
        // Callers retry with their own backoff; the pool's retries would hide a proxy's or a TLS refusal until the
        // connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Why `error` is worth another attempt (a dropped or refused connection, a timeout), or nil when it is not a
    /// transport failure that a retry could cure.
    static func transientReason(_ error: any Error) -> String? {
        switch error {
        case let error as HTTPClientError:
            let transient: [HTTPClientError] = [
                .remoteConnectionClosed, .readTimeout, .connectTimeout, .deadlineExceeded, .writeTimeout,
                .getConnectionFromPoolTimeout,
            ]
            return transient.contains(error) ? "\(error)" : nil
        case let error as NIOConnectionError: return "\(error)"
        case let error as IOError: return error.description
        case let error as ChannelError: return "\(error)"
        // The peer closed the TLS connection without close_notify: a dropped connection, not a TLS failure.
        case let error as NIOSSLError where error == .uncleanShutdown: return "\(error)"
        default: return nil
        }
    }

    /// The final error for a transport failure no retry cures (a proxy's refusal, a failed TLS handshake), naming
    /// `location` and what to check; nil for any other error.
    static func finalError(_ error: any Error, location: String) -> ConnectorError? {
        switch error {
        case let error as HTTPClientError where error == .proxyAuthenticationRequired:
            return ConnectorError(
                .unreachable,
                "the HTTP proxy refused the credentials it was given (407 Proxy Authentication Required) on the way "
                    + "to \(location): check the agent's network.proxy (or HTTPS_PROXY)", underlying: error)
        case let error as HTTPClientError where error == .invalidProxyResponse:
            return ConnectorError(
                .unreachable,
                "the HTTP proxy did not open a tunnel to \(location) (its answer to CONNECT was not 200): the proxy "
                    + "may not allow this host; or exempt it with NO_PROXY", underlying: error)
        case let error as NIOSSLError:
            return ConnectorError(
                .tls, "TLS with \(location) failed (\(error)); check sslrootcert and the endpoint", underlying: error)
        default:
            return nil
        }
    }
}

/// How a connector paces its retries of one request: exponential backoff with full jitter, a `Retry-After` taken
/// as a floor, a bounded number of attempts. Randomness is injected so tests are deterministic; the caller sleeps.
struct SourceRetryPolicy: Sendable {
    /// Attempts per request on 429, 5xx and dropped connections.
    var maxAttempts = 6
    var base: Duration = .milliseconds(500)
    var cap: Duration = .seconds(30)
    /// A number in [0, 1) for full jitter.
    var random: @Sendable () -> Double = { Double.random(in: 0..<1) }

    /// The pause before attempt `attempt + 1`, or nil when `attempt` was the last one allowed.
    func pause(after attempt: Int, retryAfterSeconds: Int?) -> Duration? {
        guard attempt < maxAttempts else { return nil }
        let exponential = base * (1 << min(attempt - 1, 20))
        var pause = min(cap, exponential) * random()
        if let retryAfterSeconds { pause = max(pause, min(.seconds(retryAfterSeconds), cap)) }
        return pause
    }
}
