import AWSSigV4
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import ObjectStore
import OutpostTesting
import Testing

/// https endpoints: a real TLS server on loopback with a private CA, as an on-premises S3-compatible store has.
@Suite("S3 client over TLS", .serialized)
struct S3ClientTLSTests {
    /// A python https server answering every request 404 with an S3 error body, behind a self-signed certificate
    /// for 127.0.0.1.
    final class TLSServer: @unchecked Sendable {
        // Set once in init, only read afterwards.
        private let process: Process
        let url: String
        let certificate: String

        init(directory: TemporaryDirectory, maximumVersion: String = "TLSv1_3") throws {
            certificate = directory.path + "/cert.pem"
            let key = directory.path + "/key.pem"
            let made = try ChildProcess.run(
                "/usr/bin/env",
                [
                    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                ])
            guard made.status == 0 else {
                throw ObjectStoreError(.invalidArgument, "openssl failed: \(made.standardError)")
            }
            let port = try FreePort.find()
            let script = """
                import http.server, ssl, sys
                class Handler(http.server.BaseHTTPRequestHandler):
                    def answer(self, body):
                        self.send_response(404)
                        self.send_header('Content-Type', 'application/xml')
                        self.send_header('Content-Length', str(len(body)))
                        self.end_headers()
                        if self.command != 'HEAD':
                            self.wfile.write(body)
                    def do_GET(self):
                        self.answer(b'<Error><Code>NoSuchKey</Code><Message>over TLS</Message></Error>')
                    do_HEAD = do_GET
                    def log_message(self, *args):
                        pass
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                if sys.argv[4] == 'TLSv1_1':
                    # OpenSSL 3 refuses TLS 1.1 at its default security level: lower it so the server really
                    # speaks it.
                    context.set_ciphers('DEFAULT:@SECLEVEL=0')
                    context.minimum_version = ssl.TLSVersion.TLSv1
                context.maximum_version = getattr(ssl.TLSVersion, sys.argv[4])
                context.load_cert_chain(sys.argv[2], sys.argv[3])
                server = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), Handler)
                server.socket = context.wrap_socket(server.socket, server_side=True)
                server.serve_forever()
                """
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script, String(port), certificate, key, maximumVersion]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            url = "https://127.0.0.1:\(port)"
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                if FreePort.isListening(port) { return }
                usleep(50_000)
            }
            kill(process.processIdentifier, SIGKILL)
            throw ObjectStoreError(.network, "the TLS test server did not start")
        }

        deinit {
            // Like moto's, this child does not reliably exit on SIGTERM here; it holds nothing worth a graceful stop.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    static func client(_ server: TLSServer, trusting certificate: String?) throws -> S3Client {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let certificate { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate)) }
        return try S3Client(
            bucket: "onprem",
            configuration: .init(
                endpoint: server.url, region: "us-east-1",
                credentials: .fixed(AWSCredentials(accessKeyId: "a", secretAccessKey: "b")),
                requestTimeout: .seconds(3), tlsConfiguration: tls))
    }

    // A refused handshake surfaces when the request's deadline passes (the HTTP client keeps trying to connect
    // until then), hence the short request timeouts.
    @Test("a private CA given in the TLS configuration is trusted, and without it the certificate is refused")
    func customTrustRoots() async throws {
        let directory = try TemporaryDirectory()
        let server = try TLSServer(directory: directory)
        do {
            try await Self.client(server, trusting: server.certificate).getObject(key: "k") { _ in }
            Issue.record("the TLS server's 404 was not reported")
        } catch let error as ObjectStoreError {
            // S3's answer arrived, so the handshake with the private CA succeeded.
            #expect(error.code == .noSuchKey)
            #expect(error.message.contains("over TLS"))
        }
        do {
            _ = try await Self.client(server, trusting: nil).headObject(key: "k")
            Issue.record("an untrusted certificate was accepted")
        } catch let error as ObjectStoreError {
            #expect(error.code == .tls, "\(error)")
            #expect(!error.isRetryable)
        }
    }

    @Test("a server that offers nothing newer than TLS 1.1 is refused even when the configuration allows TLS 1.0")
    func refusesOldTLS() async throws {
        let directory = try TemporaryDirectory()
        let server = try TLSServer(directory: directory, maximumVersion: "TLSv1_1")
        var lax = TLSConfiguration.makeClientConfiguration()
        lax.minimumTLSVersion = .tlsv1
        lax.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(server.certificate))
        let client = try S3Client(
            bucket: "onprem",
            configuration: .init(
                endpoint: server.url, region: "us-east-1",
                credentials: .fixed(AWSCredentials(accessKeyId: "a", secretAccessKey: "b")),
                requestTimeout: .seconds(3), tlsConfiguration: lax))
        // Control: the same TLS configuration on a plain request does reach the server over TLS 1.1.
        var plain = HTTPClientRequest(url: server.url + "/onprem/k")
        plain.tlsConfiguration = lax
        let response = try await HTTPClient.shared.execute(plain, timeout: .seconds(10))
        #expect(response.status == .notFound)
        do {
            _ = try await client.headObject(key: "k")
            Issue.record("a TLS 1.1 server was accepted")
        } catch let error as ObjectStoreError {
            #expect(error.code == .tls, "\(error)")
        }
    }
}
