internal import OutpostProtocol

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// The JSON both stores keep in a connection's `secrets`, `filters` and `delivery` columns.
///
/// Keys are sorted so equal values store equal text, which keeps dumps and diffs stable.
enum StoredJSON {
    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw StorageError(.unavailable, "could not encode a stored JSON value: \(error)")
        }
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from text: String, column: String) throws -> Value {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw StorageError(
                .unavailable, "the stored \(column) is not valid JSON for this version of Outpost: \(error)")
        }
    }
}

/// A connection's JSON columns, encoded for a write or read back from a row.
struct ConnectionJSON {
    var secrets: String
    var filters: String
    var delivery: String

    init(secrets: String, filters: String, delivery: String) {
        self.secrets = secrets
        self.filters = filters
        self.delivery = delivery
    }

    init(_ connection: ConnectionRecord) throws {
        secrets = try StoredJSON.encode(connection.secrets)
        filters = try StoredJSON.encode(connection.filters)
        delivery = try StoredJSON.encode(connection.delivery)
    }

    /// The record with these JSON columns decoded.
    func record(
        tenantId: String, id: String, name: String, sourceKind: String, sourceURL: String, pool: String,
        schedule: String?, createdAt: Timestamp, updatedAt: Timestamp, nextRunAt: Timestamp?
    ) throws -> ConnectionRecord {
        ConnectionRecord(
            tenantId: tenantId, id: id, name: name, sourceKind: sourceKind, sourceURL: sourceURL,
            secrets: try StoredJSON.decode([String: String].self, from: secrets, column: "connection secrets"),
            filters: try StoredJSON.decode(JobFilters.self, from: filters, column: "connection filters"),
            delivery: try StoredJSON.decode(Delivery.self, from: delivery, column: "connection delivery"),
            pool: pool, schedule: schedule, createdAt: createdAt, updatedAt: updatedAt, nextRunAt: nextRunAt)
    }
}
