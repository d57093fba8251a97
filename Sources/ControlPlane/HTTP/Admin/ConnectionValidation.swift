import ControlPlaneStorage
internal import ObjectStore
import OutpostProtocol
import Secrets
import SourceURLs

/// Checks a connection request and turns it into a record, refusing anything that could carry a secret value.
///
/// The control plane must never hold a credential: secrets are references resolved by the agent inside the
/// customer's network, and URLs are refused when they embed a password (userinfo or a password-like query
/// parameter). Every refusal names the field.
enum ConnectionValidation {
    /// The stores an agent resolves, as reference prefixes (`env:`, `file:`, `aws-sm:`, `command:`).
    static let secretSchemes = SecretReference.Store.allCases.map { $0.rawValue + ":" }
    static let sourceKinds = ["postgresql", "sqlite", "snowflake", "tableau"]
    /// The secret roles an agent resolves, for the source kinds whose roles are checked here (Snowflake's; the
    /// others' are checked by the agent).
    static let secretRoles: [String: Set<String>] = [
        "snowflake": ["privateKey", "privateKeyPassphrase", "token"],
        "tableau": ["patName", "patSecret"],
    ]
    /// Query parameters that carry credentials in the URL dialects we accept (libpq, JDBC-style, S3 endpoints).
    static let credentialParameters: Set<String> = [
        "password", "pass", "passwd", "pwd", "sslpassword", "secret", "token", "apikey", "api_key", "access_token",
        "accesskey", "secretkey", "aws_secret_access_key", "x-amz-security-token", "x-amz-credential",
        "private_key", "private_key_file", "private_key_file_pwd", "private_key_passphrase", "passcode",
    ]

    static func record(
        from request: ConnectionRequest, tenantId: String, id: String, createdAt: Timestamp, now: Timestamp
    ) throws -> ConnectionRecord {
        try checkText(request.name, field: "name", maximum: 200)
        guard sourceKinds.contains(request.sourceKind) else {
            throw APIError.invalidRequest(
                "sourceKind must be one of \(sourceKinds.joined(separator: ", "))", field: "sourceKind")
        }
        try checkSourceURL(request.sourceURL, kind: request.sourceKind)

        let secrets = request.secrets ?? [:]
        guard secrets.count <= 50 else { throw APIError.invalidRequest("at most 50 secrets", field: "secrets") }
        for (role, reference) in secrets.sorted(by: { $0.key < $1.key }) {
            guard isToken(role, maximum: 100) else {
                throw APIError.invalidRequest(
                    "secret roles are 1–100 letters, digits, '_', '-' or '.'", field: "secrets.\(role)")
            }
            if let known = secretRoles[request.sourceKind], !known.contains(role) {
                throw APIError.invalidRequest(
                    "a \(request.sourceKind) connection takes secrets for "
                        + (known.isEmpty ? "no role" : known.sorted().joined(separator: ", ")),
                    field: "secrets.\(role)")
            }
            guard let scheme = secretSchemes.first(where: { reference.hasPrefix($0) }),
                reference.count > scheme.count, reference.count <= 1000, !hasControlCharacters(reference)
            else {
                throw APIError.invalidRequest(
                    "must be a secret reference (\(secretSchemes.joined(separator: ", "))), never the secret itself",
                    field: "secrets.\(role)")
            }
        }

        let filters = try jobFilters(request.filters ?? ConnectionFilters())
        let delivery = try delivery(request.delivery ?? DeliverySettings(mode: .direct))
        let pool = request.pool ?? "default"
        guard isToken(pool, maximum: 100) else {
            throw APIError.invalidRequest("pool is 1–100 letters, digits, '_', '-' or '.'", field: "pool")
        }
        // The first slot after now; the scheduler moves it on from there.
        let nextRunAt = try request.schedule.map { try checkSchedule($0).next(after: now) } ?? nil

        return ConnectionRecord(
            tenantId: tenantId, id: id, name: request.name, sourceKind: request.sourceKind,
            sourceURL: request.sourceURL, secrets: secrets, filters: filters, delivery: delivery, pool: pool,
            schedule: request.schedule, createdAt: createdAt, updatedAt: now, nextRunAt: nextRunAt)
    }

    static func checkSourceURL(_ url: String, kind: String) throws {
        try checkText(url, field: "sourceURL", maximum: 2000)
        switch kind {
        case "postgresql":
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw APIError.invalidRequest(
                    "a postgresql source URL starts with postgres:// (postgres://user@host:5432/db)",
                    field: "sourceURL")
            }
            try checkNoCredentials(url, field: "sourceURL")
        case "snowflake":
            guard url.lowercased().hasPrefix("snowflake://") else {
                throw APIError.invalidRequest(
                    "a snowflake source URL starts with snowflake:// (snowflake://USER@ACCOUNT/DB?warehouse=WH&role=R)",
                    field: "sourceURL")
            }
            try checkNoCredentials(url, field: "sourceURL")
            do {
                _ = try SnowflakeSource(url: url)
            } catch let error as ConnectorError {
                throw APIError.invalidRequest(error.message, field: "sourceURL")
            }
        case "tableau":
            guard url.lowercased().hasPrefix("tableau://") else {
                throw APIError.invalidRequest(
                    "a tableau source URL starts with tableau:// (tableau://HOST/SITE)", field: "sourceURL")
            }
            try checkNoCredentials(url, field: "sourceURL")
            do {
                _ = try TableauSource(url: url)
            } catch let error as ConnectorError {
                throw APIError.invalidRequest(error.message, field: "sourceURL")
            }
        default:
            guard url.hasPrefix("sqlite:"), url.count > "sqlite:".count else {
                throw APIError.invalidRequest("a sqlite source URL is sqlite:PATH", field: "sourceURL")
            }
            try checkNoCredentials(url, field: "sourceURL")
        }
    }

    /// Refuses a URL whose userinfo holds a password or whose query holds a credential parameter.
    static func checkNoCredentials(_ url: String, field: String) throws {
        let parts = URLParts(url)
        if let userinfo = parts.userinfo, userinfo.contains(":") {
            throw APIError.invalidRequest(
                "the URL carries a password; remove it and reference the password in secrets instead", field: field)
        }
        for parameter in parts.queryNames where credentialParameters.contains(parameter.lowercased()) {
            throw APIError.invalidRequest(
                "the URL carries a credential (\(parameter)); reference it in secrets instead", field: field)
        }
    }

    static func jobFilters(_ filters: ConnectionFilters) throws -> JobFilters {
        let lists: [(String, [String]?)] = [
            ("includeDatabases", filters.includeDatabases), ("excludeDatabases", filters.excludeDatabases),
            ("includeSchemas", filters.includeSchemas), ("excludeSchemas", filters.excludeSchemas),
            ("includeTables", filters.includeTables), ("excludeTables", filters.excludeTables),
            ("excludeKinds", filters.excludeKinds), ("excludeFields", filters.excludeFields),
        ]
        for (name, list) in lists {
            guard let list else { continue }
            guard list.count <= 500 else {
                throw APIError.invalidRequest("at most 500 patterns", field: "filters.\(name)")
            }
            for (index, pattern) in list.enumerated() {
                try checkText(pattern, field: "filters.\(name)[\(index)]", maximum: 500)
            }
        }
        return JobFilters(
            includeDatabases: filters.includeDatabases ?? [], excludeDatabases: filters.excludeDatabases ?? [],
            includeSchemas: filters.includeSchemas ?? [], excludeSchemas: filters.excludeSchemas ?? [],
            includeTables: filters.includeTables ?? [], excludeTables: filters.excludeTables ?? [],
            excludeKinds: filters.excludeKinds ?? [], excludeFields: filters.excludeFields ?? [])
    }

    static func delivery(_ settings: DeliverySettings) throws -> Delivery {
        switch settings.mode {
        case .direct:
            guard settings.relay == nil else {
                throw APIError.invalidRequest("relay settings apply only to mode relay", field: "delivery.relay")
            }
            return Delivery(mode: .direct)
        case .relay:
            guard let relay = settings.relay else {
                throw APIError.invalidRequest("mode relay needs relay settings", field: "delivery.relay")
            }
            try checkText(relay.bucket, field: "delivery.relay.bucket", maximum: 255)
            if let prefix = relay.prefix, hasControlCharacters(prefix) || prefix.count > 500 {
                throw APIError.invalidRequest("invalid prefix", field: "delivery.relay.prefix")
            }
            if let endpoint = relay.endpoint {
                try checkText(endpoint, field: "delivery.relay.endpoint", maximum: 2000)
                guard endpoint.hasPrefix("https://") || endpoint.hasPrefix("http://") else {
                    throw APIError.invalidRequest("the endpoint is an http(s) URL", field: "delivery.relay.endpoint")
                }
                try checkNoCredentials(endpoint, field: "delivery.relay.endpoint")
            }
            for (value, name) in [(relay.account, "account"), (relay.encryptionScope, "encryptionScope")]
            where value != nil && relay.kind != .azureBlob {
                throw APIError.invalidRequest(
                    "\(name) is for Azure Blob Storage relays", field: "delivery.relay.\(name)")
            }
            switch relay.kind ?? .s3 {
            case .azureBlob:
                for (value, name) in [
                    (relay.region, "region"), (relay.serverSideEncryption, "serverSideEncryption"),
                    (relay.kmsKeyId, "kmsKeyId"), (relay.kmsKeyName, "kmsKeyName"),
                ] where value != nil {
                    throw APIError.invalidRequest(
                        "\(name) is not an Azure Blob Storage setting; Azure encrypts every blob at rest "
                            + "(encryptionScope for a scope of the account, such as one with a customer-managed key)",
                        field: "delivery.relay.\(name)")
                }
                if let scope = relay.encryptionScope, !AzureBlobClient.isValidEncryptionScope(scope) {
                    throw APIError.invalidRequest(
                        "an encryption scope name is 3–63 letters, digits and hyphens",
                        field: "delivery.relay.encryptionScope")
                }
                guard let account = relay.account, AzureBlobClient.isValidAccountName(account) else {
                    throw APIError.invalidRequest(
                        "an Azure relay names its storage account (3–24 lower-case letters and digits)",
                        field: "delivery.relay.account")
                }
                guard AzureBlobClient.isValidContainerName(relay.bucket) else {
                    throw APIError.invalidRequest(
                        "an Azure container name is 3–63 lower-case letters, digits and single hyphens",
                        field: "delivery.relay.bucket")
                }
                try checkTokenEndpoint(relay.endpoint)
                return Delivery(
                    mode: .relay,
                    relay: RelayTarget(
                        kind: .azureBlob, bucket: relay.bucket, account: account, prefix: relay.prefix ?? "",
                        endpoint: relay.endpoint, encryptionScope: relay.encryptionScope))
            case .s3:
                guard let region = relay.region else {
                    throw APIError.invalidRequest("an S3 relay bucket needs its region", field: "delivery.relay.region")
                }
                try checkText(region, field: "delivery.relay.region", maximum: 64)
                guard relay.kmsKeyName == nil else {
                    throw APIError.invalidRequest(
                        "kmsKeyName is for Cloud Storage; S3 takes serverSideEncryption aws:kms with kmsKeyId",
                        field: "delivery.relay.kmsKeyName")
                }
                let encryption = relay.serverSideEncryption ?? "AES256"
                guard encryption == "AES256" || encryption == "aws:kms" else {
                    throw APIError.invalidRequest(
                        "serverSideEncryption is AES256 or aws:kms", field: "delivery.relay.serverSideEncryption")
                }
                if encryption == "aws:kms", relay.kmsKeyId?.isEmpty ?? true {
                    throw APIError.invalidRequest("aws:kms needs kmsKeyId", field: "delivery.relay.kmsKeyId")
                }
                return Delivery(
                    mode: .relay,
                    relay: RelayTarget(
                        bucket: relay.bucket, prefix: relay.prefix ?? "", region: region, endpoint: relay.endpoint,
                        serverSideEncryption: encryption, kmsKeyId: relay.kmsKeyId))
            case .gcs:
                for (value, name) in [
                    (relay.region, "region"), (relay.serverSideEncryption, "serverSideEncryption"),
                    (relay.kmsKeyId, "kmsKeyId"),
                ] where value != nil {
                    throw APIError.invalidRequest(
                        "\(name) is for S3 relay buckets; Cloud Storage encrypts every object (kmsKeyName for a "
                            + "customer-managed key)", field: "delivery.relay.\(name)")
                }
                guard GCSClient.isValidBucketName(relay.bucket) else {
                    throw APIError.invalidRequest(
                        "a Cloud Storage bucket name is 3–63 lower-case letters, digits, '-', '_' or '.'",
                        field: "delivery.relay.bucket")
                }
                try checkTokenEndpoint(relay.endpoint)
                if let key = relay.kmsKeyName, !isCloudKMSKeyName(key) {
                    throw APIError.invalidRequest(
                        "kmsKeyName is projects/P/locations/L/keyRings/R/cryptoKeys/K",
                        field: "delivery.relay.kmsKeyName")
                }
                return Delivery(
                    mode: .relay,
                    relay: RelayTarget(
                        kind: .gcs, bucket: relay.bucket, prefix: relay.prefix ?? "", endpoint: relay.endpoint,
                        kmsKeyName: relay.kmsKeyName))
            }
        }
    }

    /// An endpoint bearer tokens go to with every request: https, http only on loopback.
    static func checkTokenEndpoint(_ endpoint: String?) throws {
        guard let endpoint, endpoint.hasPrefix("http://") else { return }
        let authority = endpoint.dropFirst("http://".count).prefix { $0 != "/" }
        let host =
            authority.hasPrefix("[")
            ? String(authority.prefix(through: authority.firstIndex(of: "]") ?? authority.startIndex))
            : String(authority.prefix { $0 != ":" })
        guard ["127.0.0.1", "[::1]", "localhost"].contains(host) else {
            throw APIError.invalidRequest(
                "this store's endpoint is https:// (bearer tokens travel with every request; http:// only on loopback)",
                field: "delivery.relay.endpoint")
        }
    }

    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`, each part a plain token.
    static func isCloudKMSKeyName(_ name: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 8, name.count <= 500 else { return false }
        let labels = ["projects", "locations", "keyRings", "cryptoKeys"]
        return (0..<4).allSatisfy { parts[$0 * 2] == labels[$0] && isToken(String(parts[$0 * 2 + 1]), maximum: 100) }
    }

    /// A standard five-field cron expression or macro (see `CronSchedule`), at most 200 characters.
    static func checkSchedule(_ schedule: String) throws -> CronSchedule {
        guard schedule.utf8.count <= 200, !hasControlCharacters(schedule.replacingTabs()) else {
            throw APIError.invalidRequest("schedule is a cron expression of at most 200 characters", field: "schedule")
        }
        do {
            return try CronSchedule(parsing: schedule)
        } catch {
            throw APIError.invalidRequest("schedule: \(error.message)", field: "schedule")
        }
    }

    static func checkText(_ text: String, field: String, maximum: Int) throws {
        guard !text.isEmpty, text.count <= maximum, !hasControlCharacters(text) else {
            throw APIError.invalidRequest(
                "must be 1–\(maximum) characters without control characters", field: field)
        }
    }

    static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
    }

    static func isToken(_ text: String, maximum: Int) -> Bool {
        !text.isEmpty && text.count <= maximum
            && text.unicodeScalars.allSatisfy {
                ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_"
                    || $0 == "-" || $0 == "."
            }
    }
}

/// The pieces of `scheme://userinfo@host:port/path?query#fragment` needed for the credential checks; works
/// for opaque forms (`sqlite:/path?x=y`) too.
struct URLParts {
    var userinfo: String?
    var queryNames: [String] = []

    init(_ url: String) {
        var rest = Substring(url)
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        if let question = rest.firstIndex(of: "?") {
            let query = rest[rest.index(after: question)...]
            queryNames = query.split(whereSeparator: { $0 == "&" || $0 == ";" }).map {
                String($0.split(separator: "=", maxSplits: 1).first ?? "").removingPercentEncoding
            }
            rest = rest[..<question]
        }
        guard let schemeEnd = rest.firstRange(of: "://") else { return }
        var authority = rest[schemeEnd.upperBound...]
        if let slash = authority.firstIndex(of: "/") { authority = authority[..<slash] }
        if let at = authority.lastIndex(of: "@") {
            userinfo = String(authority[..<at])
        }
    }
}

extension String {
    /// Decodes `%XX` escapes (credential parameter names may be escaped to slip past a naive check).
    fileprivate var removingPercentEncoding: String {
        var bytes: [UInt8] = []
        var iterator = Array(utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    /// Tabs as spaces: a tab separates cron fields and is no control character there.
    fileprivate func replacingTabs() -> String { String(map { $0 == "\t" ? " " : $0 }) }
}
