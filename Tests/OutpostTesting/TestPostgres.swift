public import Foundation

/// The real PostgreSQL server the tests use, named by `OUTPOST_TEST_POSTGRES_URL`
/// (`Tests/tools/start-postgres.sh` starts one and prints it).
///
/// There is no fallback and no skipping: a test that needs PostgreSQL fails with instructions when the
/// variable is missing or the server is down.
public struct TestPostgres: Sendable {
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// The admin URL, with the password.
    public let url: URLComponents

    public init() throws {
        guard let text = ProcessInfo.processInfo.environment["OUTPOST_TEST_POSTGRES_URL"], !text.isEmpty else {
            throw Unavailable(
                description: "OUTPOST_TEST_POSTGRES_URL is not set: run the tests with `bash Tests/tools/test.sh`, "
                    + "or start a server with `eval $(Tests/tools/start-postgres.sh /tmp/outpost-pg)`")
        }
        guard let url = URLComponents(string: text) else {
            throw Unavailable(description: "OUTPOST_TEST_POSTGRES_URL is not a URL")
        }
        self.url = url
    }

    public var host: String { url.host ?? "127.0.0.1" }
    public var port: Int { url.port ?? 5432 }
    public var user: String { url.user ?? "postgres" }
    public var password: String { url.password ?? "" }

    /// A URL for `database` as `user`, without a password.
    public func url(database: String, user: String? = nil) -> String {
        "postgres://\(user ?? self.user)@\(host):\(port)/\(database)"
    }

    /// Runs SQL through `psql` as the admin role (or `user`), stopping at the first error.
    @discardableResult
    public func psql(
        _ sql: String, database: String = "postgres", user: String? = nil, password: String? = nil
    )
        throws -> String
    {
        guard let psql = ChildProcess.which("psql") else {
            throw Unavailable(description: "psql is not installed (apt-get install postgresql-client)")
        }
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = password ?? self.password
        let result = try ChildProcess.run(
            psql,
            [
                "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", String(port), "-U", user ?? self.user, "-d",
                database,
                "-At", "-f", "-",
            ],
            environment: environment, input: sql)
        guard result.status == 0 else {
            throw Unavailable(description: "psql failed (\(result.status)): \(result.standardError)")
        }
        return result.standardOutput
    }

    /// Creates a fresh database loaded with `sql`; returns its name.
    public func createDatabase(prefix: String = "outpost_test", loading sql: String) throws -> String {
        let name = prefix + "_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        try psql("CREATE DATABASE \(name);")
        try psql(sql, database: name)
        return name
    }

    /// Drops a database created by `createDatabase`.
    public func dropDatabase(_ name: String) {
        _ = try? psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE);")
    }
}

extension TestPostgres {
    /// Starts `psql` running `sql` in the background (for sessions that must hold locks during a test).
    public func startPsql(_ sql: String, database: String) throws -> Process {
        guard let psql = ChildProcess.which("psql") else {
            throw Unavailable(description: "psql is not installed (apt-get install postgresql-client)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: psql)
        process.arguments = [
            "-X", "-q", "-h", host, "-p", String(port), "-U", user, "-d", database, "-c", sql,
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = password
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}
