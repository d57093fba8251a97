// The listener's TLS with a self-signed certificate made by the openssl CLI at test time: a client trusting it
// gets answers over TLS 1.2+, a TLS 1.1 client and a plain-HTTP client get none.

import AsyncHTTPClient
import ControlPlane
import Foundation
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import NIOSSL
import OutpostTesting
import Testing

@Suite("Server TLS")
struct ServerTLSTests {
    /// A self-signed certificate for 127.0.0.1 and its key, as PEM files in `directory`.
    static func makeCertificate(
        in directory: TemporaryDirectory, rsa: Bool = false
    ) throws -> (certificate: String, key: String) {
        let openssl = try #require(ChildProcess.which("openssl"), "the openssl CLI is needed to make a certificate")
        let certificate = directory.path + "/server.pem"
        let key = directory.path + "/server-key.pem"
        let result = try ChildProcess.run(
            openssl,
            [
                "req", "-x509", "-newkey", rsa ? "rsa:2048" : "ec", "-pkeyopt",
                rsa ? "rsa_keygen_bits:2048" : "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1",
            ])
        #expect(result.status == 0, "\(result.standardError)")
        return (certificate, key)
    }

    static func client(trusting certificate: String, maximumVersion: TLSVersion? = nil) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate))
        tls.minimumTLSVersion = maximumVersion == nil ? .tlsv12 : .tlsv1
        if let maximumVersion { tls.maximumTLSVersion = maximumVersion }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(5))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    static func get(
        _ client: HTTPClient, _ url: String, timeout: TimeAmount = .seconds(5)
    ) async throws -> (UInt, String) {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: timeout)
        let body = try await response.body.collect(upTo: 64 * 1024)
        return (response.status.code, String(buffer: body))
    }

    @Test("TLS 1.2+ clients trusting the certificate are served; TLS 1.1 and plain HTTP are refused")
    func servesHTTPSOnly() async throws {
        let directory = try TemporaryDirectory()
        let files = try Self.makeCertificate(in: directory)
        let tls = try ServerTLS(certificateFile: files.certificate, keyFile: files.key)
        let fixture = try await ControlPlaneFixture.make { $0.tls = tls }
        #expect(fixture.configuration.servesHTTPS)
        #expect(fixture.configuration.secureCookies)
        try await fixture.application().test(.live) { testClient in
            let port = try #require(testClient.port)
            let modern = try Self.client(trusting: files.certificate)
            let legacy = try Self.client(trusting: files.certificate, maximumVersion: .tlsv11)
            let plain = HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: .init(timeout: .init(connect: .seconds(2), read: .milliseconds(500))))
            do {
                let (status, body) = try await Self.get(modern, "https://127.0.0.1:\(port)/healthz")
                #expect(status == 200)
                #expect(body.contains("ok"))
                // The server's handshake refuses the protocol version (BoringSSL: TLSV1_ALERT_PROTOCOL_VERSION).
                await #expect {
                    _ = try await Self.get(legacy, "https://127.0.0.1:\(port)/healthz")
                } throws: { error in
                    "\(error)".contains("PROTOCOL_VERSION")
                }
                await #expect(throws: (any Error).self) {
                    _ = try await Self.get(plain, "http://127.0.0.1:\(port)/healthz", timeout: .seconds(1))
                }
            } catch {
                Issue.record(error)
            }
            try await modern.shutdown()
            try await legacy.shutdown()
            try await plain.shutdown()
        }
    }

    @Test("TLS 1.2 offers only forward-secret AEAD suites, and HTTPS answers carry HSTS and no-store")
    func tls12SuitesAndSecurityHeaders() async throws {
        let directory = try TemporaryDirectory()
        // RSA, so that suites with RSA key exchange (no forward secrecy) could be negotiated at all.
        let files = try Self.makeCertificate(in: directory, rsa: true)
        let tls = try ServerTLS(certificateFile: files.certificate, keyFile: files.key)
        let fixture = try await ControlPlaneFixture.make { $0.tls = tls }
        let openssl = try #require(ChildProcess.which("openssl"))
        try await fixture.application().test(.live) { testClient in
            let port = try #require(testClient.port)
            func handshake(_ cipher: String) throws -> ProcessResult {
                try ChildProcess.run(
                    openssl,
                    [
                        "s_client", "-connect", "127.0.0.1:\(port)", "-tls1_2", "-cipher", cipher, "-servername",
                        "localhost",
                    ],
                    input: "")
            }
            for weak in ["AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA"] {
                let refused = try handshake(weak)
                #expect(refused.status != 0, "\(weak) was accepted: \(refused.standardOutput)")
            }
            let accepted = try handshake("ECDHE-RSA-AES128-GCM-SHA256")
            #expect(accepted.standardOutput.contains("ECDHE-RSA-AES128-GCM-SHA256"), "\(accepted.standardError)")

            let client = try Self.client(trusting: files.certificate)
            let response = try await client.execute(
                HTTPClientRequest(url: "https://127.0.0.1:\(port)/healthz"), timeout: .seconds(5))
            #expect(response.headers.first(name: "Strict-Transport-Security") == "max-age=31536000")
            #expect(response.headers.first(name: "Cache-Control") == "no-store")
            try await client.shutdown()
        }
    }

    @Test("cookies are Secure with TLS on the listener or an https public address, and only then")
    func secureCookies() async throws {
        let directory = try TemporaryDirectory()
        let files = try Self.makeCertificate(in: directory)
        var configuration = ServerConfiguration()
        #expect(!configuration.secureCookies)
        configuration.publicBaseURL = "https://outpost.example.com"
        #expect(configuration.secureCookies)
        configuration.publicBaseURL = nil
        configuration.tls = try ServerTLS(certificateFile: files.certificate, keyFile: files.key)
        #expect(configuration.secureCookies)
        #expect(try #require(configuration.tls).description.contains(files.key))
    }

    @Test("unreadable TLS files are refused with a message naming the file")
    func badFiles() throws {
        let directory = try TemporaryDirectory()
        let files = try Self.makeCertificate(in: directory)
        #expect {
            _ = try ServerTLS(certificateFile: directory.path + "/missing.pem", keyFile: files.key)
        } throws: { error in
            "\(error)".contains("missing.pem") && "\(error)".contains("--tls-cert")
        }
        #expect {
            _ = try ServerTLS(certificateFile: files.certificate, keyFile: files.certificate)
        } throws: { error in
            "\(error)".contains("server.pem") && "\(error)".contains("--tls-key")
        }
        let empty = directory.path + "/empty.pem"
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        #expect(throws: ServerTLSError.self) {
            _ = try ServerTLS(certificateFile: empty, keyFile: files.key)
        }
    }
}
