import Foundation

/// A real moto server (S3, Secrets Manager, STS, IAM on one port) started for a test and stopped when released.
///
/// `moto_server` must be installed (`pip install 'moto[server]'`); a test that needs it fails, never skips.
public final class TestMoto: @unchecked Sendable {
    // `process` is set once in init and only read afterwards.
    private let process: Process
    public let url: String
    /// The loopback port moto listens on.
    public let port: Int

    /// - Parameter enforcingAuthAfter: when set, moto checks SigV4 signatures against IAM users created inside
    ///   it, after this many unauthenticated actions (used to create that user).
    /// - Parameter settings: extra environment for moto itself, e.g. `S3_UPLOAD_PART_MIN_SIZE`.
    public init(enforcingAuthAfter actions: Int? = nil, settings: [String: String] = [:]) throws {
        guard let executable = ChildProcess.which("moto_server") else {
            throw TestPostgres.Unavailable(description: "moto_server is not installed: pip install 'moto[server]'")
        }
        let socket = try FreePort.find()
        self.port = socket
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-H", "127.0.0.1", "-p", String(socket)]
        var environment = ProcessInfo.processInfo.environment
        if let actions { environment["INITIAL_NO_AUTH_ACTION_COUNT"] = String(actions) }
        environment.merge(settings) { $1 }
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        url = "http://127.0.0.1:\(socket)"
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if FreePort.isListening(socket) { return }
            usleep(50_000)
        }
        kill(process.processIdentifier, SIGKILL)
        throw TestPostgres.Unavailable(description: "moto_server did not start listening on \(url) within 20 s")
    }

    deinit {
        // moto's server does not always exit on SIGTERM; it holds no state worth a graceful stop.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Environment for AWS clients pointed at this moto.
    public func environment(accessKey: String = "testing", secretKey: String = "testing") -> [String: String] {
        [
            "AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey, "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": url,
        ]
    }

    /// Runs a boto3 script against this moto; `client(name)` is predefined. Returns stdout.
    @discardableResult
    public func boto3(_ script: String, environment extra: [String: String] = [:]) throws -> String {
        let prelude = """
            import boto3, json, sys
            def client(name, **kw):
                return boto3.client(name, region_name='us-east-1', endpoint_url='\(url)',
                                    aws_access_key_id=kw.get('key', 'testing'),
                                    aws_secret_access_key=kw.get('secret', 'testing'))

            """
        var environment = ProcessInfo.processInfo.environment
        environment.merge(extra) { $1 }
        let result = try ChildProcess.run(
            "/usr/bin/env", ["python3", "-c", prelude + script], environment: environment)
        guard result.status == 0 else {
            throw TestPostgres.Unavailable(description: "boto3 script failed: \(result.standardError)")
        }
        return result.standardOutput
    }
}

/// Loopback ports for servers started by tests.
public enum FreePort {
    /// A port that was free a moment ago on 127.0.0.1.
    public static func find() throws -> Int {
        // Bound and read in-process: a child process per port blocked a thread of the concurrency pool each time.
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestPostgres.Unavailable(description: "cannot find a free port") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(descriptor, generic, length) == 0 && getsockname(descriptor, generic, &length) == 0
            }
        }
        guard bound else { throw TestPostgres.Unavailable(description: "cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func isListening(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
