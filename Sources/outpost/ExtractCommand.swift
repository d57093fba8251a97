import AWSSigV4
import Agent
import ArgumentParser
import AsyncHTTPClient
import Connectors
import Logging
import Metadata
import Secrets
import SourceURLs

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `outpost extract`: one source into one folder, no control plane.
struct ExtractCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract a source's metadata into a folder of gzip JSON Lines chunks and a manifest.",
        discussion: """
            Sources: postgres://user@host:5432/db (one database) or postgres://user@host:5432 (every database the \
            role can connect to), sqlite:PATH, snowflake://USER@ACCOUNT[/DATABASE]?warehouse=WH&role=ROLE, \
            tableau://HOST[:PORT]/SITE (SITE: the site's content URL, nothing for the default site).
            The password comes from --password-file, --password-secret or PGPASSWORD, never from the command line.
            Snowflake authenticates with the user's private key (--private-key-file or --private-key-secret, and \
            --private-key-passphrase-file or --private-key-passphrase-secret when it is encrypted) or, with \
            authenticator=oauth or authenticator=programmatic_access_token in the URL, --token-secret.
            Tableau signs in with a personal access token: --pat-name and --pat-secret-file or --pat-secret. \
            Project filters: --include-project/--exclude-project (the schema filters), matched against project paths \
            (Finance/Reporting); a project excluded takes its nested projects with it.
            Patterns are globs (sales_*, tmp_?) or, prefixed with re:, regular expressions.
            Exit status: 0 complete, 2 partial (some schemas incomplete; see the manifest), 1 failed, 64 bad usage.
            """
    )

    // Optional to the parser and required by `validate()`: a mistyped option (`--sourc`) is then reported as the
    // unknown option it is, with the parser's suggestion, not as a missing `--source`.
    @Option(
        name: .customLong("source"),
        help: ArgumentHelp(
            "The source URL (postgres://…, sqlite:PATH, snowflake://…, tableau://…).", valueName: "source"))
    var sourceOption: String?

    @Option(
        name: .customLong("output"),
        help: ArgumentHelp(
            "The folder to write into; created if missing, must not hold an extraction (see --overwrite).",
            valueName: "output"))
    var outputOption: String?

    var source: String { sourceOption ?? "" }
    var output: String { outputOption ?? "" }

    /// What the parser did not recognise, so that `validate()` reports a mistyped option before a missing one.
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var unrecognized: [String] = []

    func validate() throws {
        if let first = unrecognized.first {
            let meant = ["--source", "--output"].first { $0.hasPrefix(first) || first.hasPrefix($0) }
            throw ValidationError(
                (first.hasPrefix("-") ? "Unknown option '\(first)'" : "Unexpected argument '\(first)'")
                    + (meant.map { ". Did you mean '\($0)'?" } ?? ""))
        }
        for (value, option) in [(sourceOption, "--source <source>"), (outputOption, "--output <output>")]
        where value == nil {
            throw ValidationError("Missing expected argument '\(option)'")
        }
    }

    @Flag(name: .long, help: "Replace an earlier extraction in the output folder.")
    var overwrite = false

    @Option(name: .long, help: "The first part of every qualified name (default: host, or SQLite file name).")
    var connectionName: String?

    @Option(name: .long, help: "A file whose content is the source password.")
    var passwordFile: String?

    @Option(
        name: .long,
        help: "A secret reference for the source password: env:NAME, file:PATH[#field] or aws-sm:SECRET-ID[#field].")
    var passwordSecret: String?

    @Option(name: .long, help: "Snowflake: a PEM file holding the user's private key (PKCS#8, encrypted or not).")
    var privateKeyFile: String?

    @Option(name: .long, help: "Snowflake: a secret reference for the user's private key (PEM).")
    var privateKeySecret: String?

    @Option(name: .long, help: "Snowflake: a file whose content is the private key's passphrase.")
    var privateKeyPassphraseFile: String?

    @Option(name: .long, help: "Snowflake: a secret reference for the private key's passphrase.")
    var privateKeyPassphraseSecret: String?

    @Option(
        name: .long,
        help: "Snowflake: a secret reference for an OAuth or programmatic access token (see authenticator= in the URL)."
    )
    var tokenSecret: String?

    @Option(name: .long, help: "Tableau: the personal access token's name.")
    var patName: String?

    @Option(name: .long, help: "Tableau: a file whose content is the personal access token's secret.")
    var patSecretFile: String?

    @Option(name: .long, help: "Tableau: a secret reference for the personal access token's secret.")
    var patSecret: String?

    @Option(name: .long, help: "Only databases matching this pattern (repeatable).")
    var includeDatabase: [String] = []
    @Option(name: .long, help: "Skip databases matching this pattern (repeatable).")
    var excludeDatabase: [String] = []
    @Option(name: .long, help: "Only schemas matching this pattern (repeatable).")
    var includeSchema: [String] = []
    @Option(name: .long, help: "Skip schemas matching this pattern (repeatable).")
    var excludeSchema: [String] = []
    @Option(name: .long, help: "Tableau: only projects whose path matches this pattern (repeatable).")
    var includeProject: [String] = []
    @Option(name: .long, help: "Tableau: skip projects whose path matches this pattern, and their nested ones.")
    var excludeProject: [String] = []
    @Option(name: .long, help: "Only tables/views matching this pattern (repeatable).")
    var includeTable: [String] = []
    @Option(name: .long, help: "Skip tables/views matching this pattern (repeatable).")
    var excludeTable: [String] = []
    @Option(name: .long, help: "Never emit records of this kind, e.g. function (repeatable).")
    var excludeKind: [String] = []
    @Option(
        name: .long,
        help: "Never emit this field group: comments, definitions, defaults, statistics, owners (repeatable).")
    var excludeField: [String] = []

    @Option(name: .long, help: "Upper bound of a chunk's uncompressed size in MiB (1–1024).")
    var chunkSize: Int = MetadataFormat.defaultChunkBytes / (1024 * 1024)

    @Option(name: .long, help: "Also write a DataHub metadata file (MCP JSON) to this path.")
    var datahubFile: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Flag(name: .long, help: "Disable the progress display even on a terminal.")
    var noProgress = false

    func run() async throws {
        let interactive = !noProgress && isatty(STDERR_FILENO) == 1
        var logger = Logger(label: "outpost.extract")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        if interactive && logger.logLevel > .debug { logger.logLevel = max(logger.logLevel, .warning) }

        let status = await execute(interactive: interactive, logger: logger)
        if status != ExitStatus.success { throw ExitCode(status) }
    }

    private func execute(interactive: Bool, logger: Logger) async -> Int32 {
        let environment = ProcessEnvironment.current
        let filters: ExtractionFilters
        var resolved: ResolvedSource
        do {
            filters = try makeFilters()
            resolved = try SourceLocation.resolve(
                source, password: try await resolvePassword(environment: environment), environment: environment,
                snowflake: try await resolveSnowflakeCredentials(environment: environment),
                tableau: try await resolveTableauCredentials(environment: environment),
                queryTag: "outpost extract" + (connectionName.map { " connection=\($0)" } ?? ""))
            // A source reached over HTTPS (Snowflake, Tableau) goes through HTTPS_PROXY unless NO_PROXY exempts it.
            if resolved.connector is SnowflakeConnector || resolved.connector is TableauConnector {
                resolved.connector = try ProxySettings(environment: environment).applied(to: resolved.connector)
            }
        } catch let error as ConnectorError where [.unknownScheme, .invalidSource].contains(error.code) {
            Terminal.error(error.message)
            return ExitStatus.usage
        } catch let error as MetadataError where error.code == .invalidFilter {
            Terminal.error(error.message)
            return ExitStatus.usage
        } catch {
            Terminal.error("\(error)")
            return ExitStatus.failure
        }
        if resolved.passwordInURL {
            Terminal.warning(
                "the source URL contains a password, which other users can see in the process list; "
                    + "use --password-file or --password-secret instead")
        }
        let prepared: OutputDirectory.Prepared
        do {
            prepared = try OutputDirectory.prepare(output, overwrite: overwrite)
        } catch {
            Terminal.error("\(error)")
            return ExitStatus.failure
        }
        let folder = prepared.folder
        let extraction = Extraction(
            connector: resolved.connector,
            scope: ExtractionScope(connection: connectionName ?? resolved.defaultConnectionName, filters: filters),
            folder: folder, maxChunkBytes: min(1024, max(1, chunkSize)) * 1024 * 1024)
        let progress = ExtractionProgress()
        let display = ProgressDisplay(progress: progress, interactive: interactive, logger: logger)
        let started = ContinuousClock.now
        let manifest: Manifest
        do {
            manifest = try await display.run { try await extraction.run(progress: progress, logger: logger) }
        } catch {
            Terminal.error("\(error)")
            // A folder this run created is not left behind empty.
            prepared.removeCreated()
            return ExitStatus.failure
        }
        let elapsed = ContinuousClock.now - started
        Terminal.summary(manifest: manifest, folder: folder.path, elapsed: elapsed)
        for warning in Self.unmatchedFilters(manifest.counts, filters: self) { Terminal.warning(warning) }
        if let datahubFile {
            do {
                try DataHubExport.write(folder: folder, to: datahubFile)
            } catch {
                return ExitStatus.failure
            }
        }
        return manifest.status == .complete ? ExitStatus.success : ExitStatus.partial
    }

    /// An include filter that kept nothing is most likely a mistyped name: said plainly, since the run itself is
    /// complete.
    static func unmatchedFilters(_ counts: [String: Int], filters: ExtractCommand) -> [String] {
        func none(_ kinds: [String]) -> Bool { kinds.allSatisfy { (counts[$0] ?? 0) == 0 } }
        var warnings: [String] = []
        for (patterns, option, kinds) in [
            (filters.includeDatabase, "--include-database", ["database"]),
            (
                filters.includeSchema + filters.includeProject, "--include-schema/--include-project",
                ["schema", "project"]
            ),
            (filters.includeTable, "--include-table", ["table", "view", "materializedView"]),
        ] where !patterns.isEmpty && none(kinds) {
            warnings.append(
                "\(option) \(patterns.joined(separator: ", ")) matched nothing: no \(kinds[0]) was extracted; check the "
                    + "pattern (a glob such as sales_* matches whole names; re:PATTERN searches)")
        }
        return warnings
    }

    private func makeFilters() throws -> ExtractionFilters {
        try ExtractionFilters(
            includeDatabases: includeDatabase, excludeDatabases: excludeDatabase,
            includeSchemas: includeSchema + includeProject, excludeSchemas: excludeSchema + excludeProject,
            includeTables: includeTable, excludeTables: excludeTable,
            excludeKinds: excludeKind, excludeFields: excludeField)
    }

    private func resolvePassword(environment: [String: String]) async throws -> String? {
        try await resolveSecret(
            file: passwordFile, secret: passwordSecret, names: ("--password-file", "--password-secret"),
            environment: environment)
    }

    /// The private key (and passphrase) or token of a Snowflake source, if any was given.
    private func resolveSnowflakeCredentials(environment: [String: String]) async throws -> SnowflakeCredentials? {
        let key = try await resolveSecret(
            file: privateKeyFile, secret: privateKeySecret, names: ("--private-key-file", "--private-key-secret"),
            environment: environment)
        let passphrase = try await resolveSecret(
            file: privateKeyPassphraseFile, secret: privateKeyPassphraseSecret,
            names: ("--private-key-passphrase-file", "--private-key-passphrase-secret"), environment: environment)
        let token = try await resolveSecret(
            file: nil, secret: tokenSecret, names: ("", "--token-secret"), environment: environment)
        if let key {
            guard token == nil else {
                throw ConnectorError(.invalidSource, "give either a private key or --token-secret, not both")
            }
            return .keyPair(privateKeyPEM: key, passphrase: passphrase)
        }
        guard passphrase == nil else {
            throw ConnectorError(
                .invalidSource, "a private key passphrase was given without --private-key-file or --private-key-secret")
        }
        return token.map { .token($0) }
    }

    /// The personal access token of a Tableau source, if any was given.
    private func resolveTableauCredentials(environment: [String: String]) async throws -> TableauCredentials? {
        let secret = try await resolveSecret(
            file: patSecretFile, secret: patSecret, names: ("--pat-secret-file", "--pat-secret"),
            environment: environment)
        switch (patName, secret) {
        case (let name?, let secret?):
            return TableauCredentials(patName: name, patSecret: secret)
        case (nil, nil):
            return nil
        case (nil, _):
            throw ConnectorError(.invalidSource, "a personal access token's secret was given without --pat-name")
        case (_, nil):
            throw ConnectorError(.invalidSource, "--pat-name needs --pat-secret-file or --pat-secret")
        }
    }

    /// Reads a secret from a file or a secret reference; at most one of the two may be given.
    private func resolveSecret(
        file: String?, secret: String?, names: (file: String, secret: String), environment: [String: String]
    ) async throws -> String? {
        if file != nil && secret != nil {
            throw ConnectorError(.invalidSource, "give either \(names.file) or \(names.secret), not both")
        }
        let reference: SecretReference
        if let file {
            reference = SecretReference(store: .file, locator: file)
        } else if let secret {
            do {
                reference = try SecretReference(parsing: secret)
            } catch let error as SecretError {
                throw ConnectorError(.invalidSource, error.message)
            }
        } else {
            return nil
        }
        let resolver = SecretResolver(providers: [
            EnvironmentSecretProvider(), FileSecretProvider(),
            AWSSecretsManagerSecretProvider(client: .shared, environment: AWSEnvironment(environment)),
        ])
        do {
            return try await resolver.resolve(reference)
        } catch let error as SecretError {
            throw ConnectorError(.unreadableFile, error.message)
        }
    }
}

/// The process environment as a dictionary.
enum ProcessEnvironment {
    static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}
