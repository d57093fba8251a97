// Parsing --database-url for the PostgreSQL store.

import ControlPlane
import ControlPlaneStorage
import Testing

@Suite("Storage PostgreSQL URL")
struct StoragePostgresConfigurationTests {
    @Test("a full URL gives host, port, escaped credentials, database and options")
    func fullURL() throws {
        let configuration = try PostgresStoreConfiguration(
            url: "postgresql://out%40post:p%2Fss%3Aw@db.internal:6432/control%20plane?sslmode=verify-full&pool_size=5")
        #expect(configuration.host == "db.internal")
        #expect(configuration.port == 6432)
        #expect(configuration.username == "out@post")
        #expect(configuration.password == "p/ss:w")
        #expect(configuration.database == "control plane")
        #expect(configuration.tlsMode == .verifyFull)
        #expect(configuration.maximumConnections == 5)
    }

    @Test("defaults follow libpq: port 5432, user postgres, sslmode prefer")
    func defaults() throws {
        let configuration = try PostgresStoreConfiguration(url: "postgres://db/outpost")
        #expect(
            configuration
                == PostgresStoreConfiguration(host: "db", username: "postgres", password: nil, database: "outpost"))
        #expect(configuration.tlsMode == .prefer)
    }

    @Test(
        "malformed URLs are refused without echoing the password",
        arguments: [
            "mysql://u:hunter2@db/outpost", "postgres://u:hunter2@/outpost", "postgres://u:hunter2@db",
            "postgres://u:hunter2@db/outpost?sslmode=maybe", "postgres://u:hunter2@db/outpost?pool_size=0",
            "postgres://u:hunter2@db/outpost?timeout=5",
        ])
    func malformed(url: String) throws {
        let error = try #require(throws: StorageError.self) { try PostgresStoreConfiguration(url: url) }
        #expect(error.code == .unavailable)
        #expect(!error.message.contains("hunter2"))
    }
}
