import ControlPlaneStorage
import OutpostProtocol

/// The connection form's fields as text, to fill the form from a stored connection or from a submitted one, and
/// to turn a submission into the admin API's `ConnectionRequest` — whose validation (`ConnectionValidation`) then
/// decides, exactly as for the API, what is accepted.
struct ConnectionForm: Sendable, Equatable {
    /// The filter lists, in the order the form shows them: (field name, label).
    static let filterFields: [(name: String, label: String)] = [
        ("includeDatabases", "Include databases"), ("excludeDatabases", "Exclude databases"),
        ("includeSchemas", "Include schemas"), ("excludeSchemas", "Exclude schemas"),
        ("includeTables", "Include tables"), ("excludeTables", "Exclude tables"),
        ("excludeKinds", "Exclude kinds"), ("excludeFields", "Exclude fields"),
    ]

    var name = ""
    var sourceKind = "sqlite"
    var sourceURL = ""
    /// One `role = reference` per line.
    var secrets = ""
    var pool = "default"
    var schedule = ""
    var deliveryMode = "direct"
    var relayKind = "s3"
    var relayBucket = ""
    var relayAccount = ""
    var relayRegion = ""
    var relayPrefix = ""
    var relayEndpoint = ""
    var relayEncryption = "AES256"
    var relayKMSKeyId = ""
    var relayKMSKeyName = ""
    var relayEncryptionScope = ""
    /// One pattern per line, by filter field name.
    var filters: [String: String] = [:]

    init() {}

    init(_ connection: ConnectionRecord) {
        name = connection.name
        sourceKind = connection.sourceKind
        sourceURL = connection.sourceURL
        secrets = connection.secrets.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(
            separator: "\n")
        pool = connection.pool
        schedule = connection.schedule ?? ""
        deliveryMode = connection.delivery.mode.rawValue
        if let relay = connection.delivery.relay {
            relayKind = relay.kind.rawValue
            relayBucket = relay.bucket
            relayAccount = relay.account ?? ""
            relayRegion = relay.region ?? ""
            relayPrefix = relay.prefix
            relayEndpoint = relay.endpoint ?? ""
            relayEncryption = relay.serverSideEncryption
            relayKMSKeyId = relay.kmsKeyId ?? ""
            relayKMSKeyName = relay.kmsKeyName ?? ""
            relayEncryptionScope = relay.encryptionScope ?? ""
        }
        let lists = connection.filters
        let values: [String: [String]] = [
            "includeDatabases": lists.includeDatabases, "excludeDatabases": lists.excludeDatabases,
            "includeSchemas": lists.includeSchemas, "excludeSchemas": lists.excludeSchemas,
            "includeTables": lists.includeTables, "excludeTables": lists.excludeTables,
            "excludeKinds": lists.excludeKinds, "excludeFields": lists.excludeFields,
        ]
        filters = values.mapValues { $0.joined(separator: "\n") }
    }

    init(_ form: FormFields) {
        name = form["name"]?.trimmingWhitespace ?? ""
        sourceKind = form["sourceKind"] ?? ""
        sourceURL = form["sourceURL"]?.trimmingWhitespace ?? ""
        secrets = form["secrets"] ?? ""
        pool = form["pool"]?.trimmingWhitespace ?? ""
        schedule = form["schedule"]?.trimmingWhitespace ?? ""
        deliveryMode = form["deliveryMode"] ?? "direct"
        relayKind = form["relayKind"]?.trimmingWhitespace ?? "s3"
        relayBucket = form["relayBucket"]?.trimmingWhitespace ?? ""
        relayAccount = form["relayAccount"]?.trimmingWhitespace ?? ""
        relayRegion = form["relayRegion"]?.trimmingWhitespace ?? ""
        relayPrefix = form["relayPrefix"]?.trimmingWhitespace ?? ""
        relayEndpoint = form["relayEndpoint"]?.trimmingWhitespace ?? ""
        relayEncryption = form["relayEncryption"] ?? "AES256"
        relayKMSKeyId = form["relayKMSKeyId"]?.trimmingWhitespace ?? ""
        relayKMSKeyName = form["relayKMSKeyName"]?.trimmingWhitespace ?? ""
        relayEncryptionScope = form["relayEncryptionScope"]?.trimmingWhitespace ?? ""
        for field in Self.filterFields { filters[field.name] = form[field.name] ?? "" }
    }

    /// The request the admin API would have received; throws a 400 `APIError` naming the field for text the form
    /// cannot map (a secrets line without `=`, an unknown delivery mode).
    func request() throws -> ConnectionRequest {
        var references: [String: String] = [:]
        for (index, line) in Self.lines(secrets).enumerated() {
            guard let equals = line.firstIndex(of: "=") else {
                throw APIError.invalidRequest(
                    "secrets line \(index + 1) is not 'role = reference' (for example password = env:PG_PASSWORD)",
                    field: "secrets")
            }
            let role = String(line[..<equals]).trimmingWhitespace
            guard references[role] == nil else {
                throw APIError.invalidRequest("the secret role '\(role)' is given twice", field: "secrets")
            }
            references[role] = String(line[line.index(after: equals)...]).trimmingWhitespace
        }
        guard let mode = Delivery.Mode(rawValue: deliveryMode) else {
            throw APIError.invalidRequest("delivery is direct or relay", field: "delivery")
        }
        guard let kind = RelayKind(rawValue: relayKind.isEmpty ? "s3" : relayKind) else {
            throw APIError.invalidRequest("the relay store is s3, gcs or azure-blob", field: "delivery.relay.kind")
        }
        func given(_ text: String) -> String? { text.isEmpty ? nil : text }
        let relay =
            mode == .relay
            ? RelaySettings(
                kind: kind, bucket: relayBucket, account: given(relayAccount), prefix: given(relayPrefix),
                region: kind == .s3 ? relayRegion : given(relayRegion), endpoint: given(relayEndpoint),
                serverSideEncryption: kind == .s3
                    ? relayEncryption : given(relayEncryption == "AES256" ? "" : relayEncryption),
                kmsKeyId: given(relayKMSKeyId), kmsKeyName: given(relayKMSKeyName),
                encryptionScope: given(relayEncryptionScope)) : nil
        func list(_ name: String) -> [String]? {
            let values = Self.lines(filters[name] ?? "")
            return values.isEmpty ? nil : values
        }
        return ConnectionRequest(
            name: name, sourceKind: sourceKind, sourceURL: sourceURL, secrets: references.isEmpty ? nil : references,
            filters: ConnectionFilters(
                includeDatabases: list("includeDatabases"), excludeDatabases: list("excludeDatabases"),
                includeSchemas: list("includeSchemas"), excludeSchemas: list("excludeSchemas"),
                includeTables: list("includeTables"), excludeTables: list("excludeTables"),
                excludeKinds: list("excludeKinds"), excludeFields: list("excludeFields")),
            delivery: DeliverySettings(mode: mode, relay: relay), pool: pool.isEmpty ? nil : pool,
            schedule: schedule.isEmpty ? nil : schedule)
    }

    /// Non-blank lines, trimmed (browsers send `\r\n` in text areas).
    static func lines(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }).map { String($0).trimmingWhitespace }
            .filter { !$0.isEmpty }
    }
}
