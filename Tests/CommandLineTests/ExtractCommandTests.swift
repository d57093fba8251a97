import Foundation
import Metadata
import OutpostTesting
import Testing

/// `outpost extract` as a user runs it: real binary, real PostgreSQL, real files, exit codes and messages.
@Suite("outpost extract", .serialized)
struct ExtractCommandTests {
    static let fixture = try! String(
        contentsOfFile: BuildProducts.repositoryRoot + "/Tests/Fixtures/tricky-catalog.sql", encoding: .utf8)

    @Test("extracting PostgreSQL writes files that validate against the JSON Schemas and match the manifest")
    func postgresExtractionValidates() throws {
        let server = try TestPostgres()
        let database = try server.createDatabase(loading: Self.fixture)
        defer { server.dropDatabase(database) }
        let directory = try TemporaryDirectory()
        let passwordFile = directory.path + "/pw"
        try server.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let output = directory.path + "/out"
        let result = try OutpostCLI.run([
            "extract", "--source", server.url(database: database), "--output", output, "--password-file",
            passwordFile, "--connection-name", "warehouse",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("status: complete"))

        let validation = try OutpostCLI.validate(extraction: output)
        #expect(validation.status == 0, "\(validation.standardOutput)\(validation.standardError)")

        let folder = ExtractionFolder(path: output)
        let manifest = try folder.readManifest()
        #expect(manifest.connection == "warehouse")
        #expect(manifest.source.kind == "postgresql")
        #expect(manifest.status == .complete)
        var count = 0
        try folder.forEachRecord(in: manifest) { record in
            count += 1
            #expect(record.qualifiedName.parts.first == "warehouse")
        }
        #expect(count == manifest.recordCount)
        #expect(manifest.counts["table"] == 11)
        #expect(manifest.counts["lineageEdge"] == 4)
    }

    @Test("a real PostgreSQL extraction exported for DataHub passes DataHub's own metadata-file check")
    func datahubExportValidates() throws {
        let server = try TestPostgres()
        let database = try server.createDatabase(loading: Self.fixture)
        defer { server.dropDatabase(database) }
        let directory = try TemporaryDirectory()
        let file = directory.path + "/datahub.json"
        let result = try OutpostCLI.run(
            [
                "extract", "--source", server.url(database: database), "--output", directory.path + "/out",
                "--datahub-file", file,
            ],
            environment: ["PGPASSWORD": server.password])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("wrote DataHub metadata file"))
        let datahub = try #require(
            ChildProcess.which("datahub"), "the datahub CLI is missing: pip install acryl-datahub")
        let check = try ChildProcess.run(datahub, ["check", "metadata-file", file])
        #expect(check.status == 0, "\(check.standardOutput)\(check.standardError)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("urn:li:dataset:(urn:li:dataPlatform:postgres,\(database).public.customers,PROD)"))
        #expect(text.contains("upstreamLineage"))

        // The same file from `outpost export datahub`.
        let exported = try OutpostCLI.run([
            "export", "datahub", "--input", directory.path + "/out", "--output", directory.path + "/again.json",
        ])
        #expect(exported.status == 0, "\(exported.standardError)")
        #expect(try String(contentsOfFile: directory.path + "/again.json", encoding: .utf8) == text)
    }

    @Test("a role without access to one schema gets exit status 2 and a manifest marking it incomplete")
    func partialExtraction() throws {
        let server = try TestPostgres()
        let database = try server.createDatabase(loading: Self.fixture)
        defer { server.dropDatabase(database) }
        let role = "cli_\(database.suffix(8))"
        try server.psql(
            """
            CREATE ROLE \(role) LOGIN PASSWORD 'cli-pass';
            GRANT CONNECT ON DATABASE \(database) TO \(role);
            GRANT USAGE ON SCHEMA "Sales Dept", "a/b.c", "схема" TO \(role);
            """, database: database)
        defer { _ = try? server.psql("DROP OWNED BY \(role) CASCADE; DROP ROLE \(role);", database: database) }
        let directory = try TemporaryDirectory()
        let result = try OutpostCLI.run(
            ["extract", "--source", server.url(database: database, user: role), "--output", directory.path + "/out"],
            environment: ["PGPASSWORD": "cli-pass"])
        #expect(result.status == 2, "\(result.standardError)")
        #expect(result.standardOutput.contains("restricted"))
        let manifest = try ExtractionFolder(path: directory.path + "/out").readManifest()
        #expect(manifest.status == .partial)
        #expect(manifest.completeness.first { $0.schema == "restricted" }?.complete == false)
        #expect(try OutpostCLI.validate(extraction: directory.path + "/out").status == 0)
    }

    @Test("the source password never appears in output, logs or files")
    func passwordNeverLeaks() throws {
        let server = try TestPostgres()
        let canary = "Canary-\(UUID().uuidString)"
        let role = "canary_\(UUID().uuidString.prefix(8).lowercased())"
        let database = try server.createDatabase(loading: "CREATE TABLE t (id int);")
        defer { server.dropDatabase(database) }
        try server.psql(
            "CREATE ROLE \(role) LOGIN PASSWORD '\(canary)'; GRANT CONNECT ON DATABASE \(database) TO \(role);")
        defer { _ = try? server.psql("DROP ROLE \(role);") }
        let directory = try TemporaryDirectory()
        let output = directory.path + "/out"
        let result = try OutpostCLI.run(
            [
                "extract", "--source", server.url(database: database, user: role), "--output", output,
                "--password-secret", "env:CANARY_SECRET", "--log-level", "trace", "--no-progress",
            ],
            environment: ["CANARY_SECRET": canary])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(!result.standardOutput.contains(canary))
        #expect(!result.standardError.contains(canary))
        for file in try FileManager.default.contentsOfDirectory(atPath: output) {
            let data = try Data(contentsOf: URL(fileURLWithPath: output + "/" + file))
            #expect(data.range(of: Data(canary.utf8)) == nil, "\(file) holds the password")
        }
        var text = ""
        let folder = ExtractionFolder(path: output)
        try folder.forEachRecord(in: try folder.readManifest()) { text += "\($0)" }
        #expect(!text.contains(canary))

        // A wrong password is refused with a one-line error that does not echo it either.
        let wrong = try OutpostCLI.run(
            ["extract", "--source", server.url(database: database, user: role), "--output", directory.path + "/w"],
            environment: ["PGPASSWORD": canary + "-wrong"])
        #expect(wrong.status == 1)
        #expect(wrong.standardError.contains("password authentication failed"))
        #expect(!wrong.standardError.contains(canary))
    }

    @Test("the source password can come from AWS Secrets Manager (moto) and never shows in the output")
    func passwordFromAWSSecretsManager() throws {
        let server = try TestPostgres()
        let moto = try TestMoto()
        try moto.boto3(
            "client('secretsmanager').create_secret(Name='prod/pg', SecretString=json.dumps({'password': '\(server.password)'}))"
        )
        let database = try server.createDatabase(loading: "CREATE TABLE t (id int);")
        defer { server.dropDatabase(database) }
        let directory = try TemporaryDirectory()
        let result = try OutpostCLI.run(
            [
                "extract", "--source", server.url(database: database), "--output", directory.path + "/out",
                "--password-secret", "aws-sm:prod/pg#password", "--log-level", "trace", "--no-progress",
            ],
            environment: moto.environment())
        #expect(result.status == 0, "\(result.standardError)")
        #expect(!result.standardError.contains(server.password))
        #expect(!result.standardOutput.contains(server.password))
    }

    @Test("bad input gets a one-line, actionable error and the right exit status", arguments: BadInput.allCases)
    func badInput(_ input: BadInput) throws {
        let server = try TestPostgres()
        let directory = try TemporaryDirectory()
        let (arguments, environment) = try input.arguments(server: server, directory: directory.path)
        let result = try OutpostCLI.run(arguments, environment: environment)
        #expect(result.status == input.expectedStatus, "\(result.standardError)")
        let errorLines = result.standardError.split(separator: "\n").filter { $0.hasPrefix("outpost: error:") }
        #expect(errorLines.count == 1, "\(result.standardError)")
        #expect(
            result.standardError.contains(input.expectedMessage),
            "expected '\(input.expectedMessage)' in \(result.standardError)")
        #expect(!result.standardError.contains(server.password))
        #expect(!result.standardError.contains("Canary"))
        // A folder the failed run created is gone; one that was there already keeps what it held.
        if input == .outputHoldsOtherFiles {
            #expect(FileManager.default.fileExists(atPath: directory.path + "/out/notes.txt"))
        } else {
            #expect(!FileManager.default.fileExists(atPath: directory.path + "/out"), "\(input)")
        }
    }

    @Test("a mistyped option is reported as unknown, with the option meant; a missing one as missing")
    func mistypedAndMissingOptions() throws {
        let directory = try TemporaryDirectory()
        let sample = "sqlite:" + BuildProducts.repositoryRoot + "/Samples/shop.db"
        let mistyped = try OutpostCLI.run(["extract", "--sourc", sample, "--output", directory.path + "/out"])
        #expect(mistyped.status == 64)
        #expect(mistyped.standardError.contains("Unknown option '--sourc'"), "\(mistyped.standardError)")
        #expect(mistyped.standardError.contains("--source"))
        let missing = try OutpostCLI.run(["extract", "--source", sample])
        #expect(missing.status == 64)
        #expect(
            missing.standardError.contains("Missing expected argument '--output <output>'"), "\(missing.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/out"))
    }

    @Test("an include filter that kept nothing completes with a warning naming it")
    func anIncludeFilterMatchingNothingIsWarnedAbout() throws {
        let directory = try TemporaryDirectory()
        let result = try OutpostCLI.run([
            "extract", "--source", "sqlite:" + BuildProducts.repositoryRoot + "/Samples/shop.db", "--output",
            directory.path + "/out", "--include-table", "ordrs", "--no-progress",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("status: complete"))
        #expect(result.standardError.contains("--include-table ordrs matched nothing"), "\(result.standardError)")
        let matched = try OutpostCLI.run([
            "extract", "--source", "sqlite:" + BuildProducts.repositoryRoot + "/Samples/shop.db", "--output",
            directory.path + "/out2", "--include-table", "orders", "--no-progress",
        ])
        #expect(matched.status == 0)
        #expect(!matched.standardError.contains("matched nothing"), "\(matched.standardError)")
    }

    enum BadInput: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case unknownScheme, unreachableHost, wrongPassword, missingDatabase, unreadableFile, notADatabaseFile
        case invalidRegex, invalidGlob, unwritableOutput, outputIsAFile, unknownField, missingPasswordFile
        case unparseableURLWithPassword, outputHoldsOtherFiles

        var testDescription: String { rawValue }

        var expectedStatus: Int32 {
            switch self {
            case .unknownScheme, .invalidRegex, .invalidGlob, .unknownField, .unparseableURLWithPassword: 64
            default: 1
            }
        }

        var expectedMessage: String {
            switch self {
            case .unknownScheme: "unknown source scheme 'mysql'"
            case .unreachableHost: "cannot connect to PostgreSQL at 127.0.0.1:1"
            case .wrongPassword: "password authentication failed"
            case .missingDatabase: "database \"no_such_db\" does not exist"
            case .unreadableFile: "/nonexistent/shop.db"
            case .notADatabaseFile: "not a SQLite database"
            case .invalidRegex: "invalid regular expression"
            case .invalidGlob: "is never closed"
            case .unwritableOutput: "not writable"
            case .outputIsAFile: "is not a directory"
            case .unknownField: "unknown field group 'passwords'"
            case .missingPasswordFile: "cannot read secret file /nonexistent/pw"
            case .unparseableURLWithPassword: "postgres://***@"
            case .outputHoldsOtherFiles: "holds other files (notes.txt): choose an empty or new directory"
            }
        }

        func arguments(server: TestPostgres, directory: String) throws -> ([String], [String: String]) {
            let output = directory + "/out"
            let good = server.url(database: "postgres")
            let password = ["PGPASSWORD": server.password]
            switch self {
            case .unknownScheme:
                return (["extract", "--source", "mysql://localhost/db", "--output", output], [:])
            case .unreachableHost:
                return (["extract", "--source", "postgres://app@127.0.0.1:1/postgres", "--output", output], password)
            case .wrongPassword:
                return (["extract", "--source", good, "--output", output], ["PGPASSWORD": "not-the-password"])
            case .missingDatabase:
                return (["extract", "--source", server.url(database: "no_such_db"), "--output", output], password)
            case .unreadableFile:
                return (["extract", "--source", "sqlite:/nonexistent/shop.db", "--output", output], [:])
            case .notADatabaseFile:
                let path = directory + "/notes.db"
                try "just some text, not a database at all".write(toFile: path, atomically: true, encoding: .utf8)
                return (["extract", "--source", "sqlite:" + path, "--output", output], [:])
            case .invalidRegex:
                return (
                    ["extract", "--source", good, "--output", output, "--include-schema", "re:(unclosed"], password
                )
            case .invalidGlob:
                return (["extract", "--source", good, "--output", output, "--exclude-table", "tmp_[abc"], password)
            case .unwritableOutput:
                let locked = directory + "/locked"
                try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: true)
                try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: locked)
                // Root ignores directory modes, so as root use /proc: a directory no one can create files in.
                let target = getuid() == 0 ? "/proc" : locked + "/out"
                return (["extract", "--source", good, "--output", target], password)
            case .outputIsAFile:
                let file = directory + "/file"
                try "x".write(toFile: file, atomically: true, encoding: .utf8)
                return (["extract", "--source", good, "--output", file], password)
            case .unknownField:
                return (["extract", "--source", good, "--output", output, "--exclude-field", "passwords"], password)
            case .outputHoldsOtherFiles:
                try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
                try "mine".write(toFile: output + "/notes.txt", atomically: true, encoding: .utf8)
                return (["extract", "--source", good, "--output", output, "--overwrite"], password)
            case .missingPasswordFile:
                return (["extract", "--source", good, "--output", output, "--password-file", "/nonexistent/pw"], [:])
            case .unparseableURLWithPassword:
                // A password with '/' and '?' makes the URL unparseable; the error must not echo it.
                return (["extract", "--source", "postgres://app:Se/cr?et-Canary@db:5432/x", "--output", output], [:])
            }
        }
    }
}
