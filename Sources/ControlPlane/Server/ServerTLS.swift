public import NIOSSL

/// The listener's TLS: a certificate chain and its private key, loaded from PEM files, served with TLS 1.2 or newer.
///
/// Loaded once at start-up so a missing or unreadable file stops the server with a clear message instead of failing
/// the first handshake. The key never leaves this value (its description names only the files).
public struct ServerTLS: Sendable, CustomStringConvertible {
    /// The oldest protocol version the server accepts; older clients fail the handshake.
    public static let minimumVersion = TLSVersion.tlsv12
    /// What TLS 1.2 offers: ephemeral ECDH key exchange (forward secrecy) with AEAD ciphers only; no RSA key
    /// exchange, no CBC. TLS 1.3's suites are all of that kind and are not affected.
    public static let tls12CipherSuites = [
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    ].joined(separator: ":")

    /// Where the certificate chain came from, for logs.
    public let certificateFile: String
    /// Where the key came from, for logs.
    public let keyFile: String
    /// What the listener is built with.
    public let configuration: TLSConfiguration

    /// Reads the PEM certificate chain (leaf first) and the PEM private key.
    ///
    /// - Throws: `ServerTLSError` naming the file and what is wrong with it.
    public init(certificateFile: String, keyFile: String) throws {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw ServerTLSError(
                "cannot read a PEM certificate chain from '\(certificateFile)' (\(error)); check --tls-cert")
        }
        guard !chain.isEmpty else {
            throw ServerTLSError("'\(certificateFile)' holds no PEM certificate; check --tls-cert")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            // The library's error names no key material, but keep to the file name to be sure.
            throw ServerTLSError("cannot read a PEM private key from '\(keyFile)'; check --tls-key and its permissions")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = Self.minimumVersion
        configuration.cipherSuites = Self.tls12CipherSuites
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.configuration = configuration
    }

    public var description: String { "TLS (certificate \(certificateFile), key \(keyFile))" }
}

/// The server's TLS files could not be used; the message names the file, never key material.
public struct ServerTLSError: Error, CustomStringConvertible, Sendable {
    public let message: String

    init(_ message: String) {
        self.message = message
    }

    /// The TLS options were combined wrongly (one without the other).
    public static func usage(_ message: String) -> ServerTLSError { ServerTLSError(message) }

    public var description: String { message }
}
