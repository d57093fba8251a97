internal import Logging
internal import SourceURLs

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// The statements of an `information_schema` extraction: a fixed number per database, whatever its size.
///
/// Every `<DB>.INFORMATION_SCHEMA` statement takes the schemas in scope as a literal list, so filtered-out schemas are
/// never read; when every schema is in scope it has no schema predicate at all (`<> 'INFORMATION_SCHEMA'` would narrow
/// nothing Snowflake has to look at) and the few rows of `INFORMATION_SCHEMA` itself are dropped by the reader. Names
/// go in as escaped literals and quoted identifiers, never as patterns: Snowflake's `LIKE` and the filters' globs
/// differ.
enum SnowflakeCatalogQueries {
    /// Which schemas a statement covers.
    enum SchemaScope: Sendable {
        /// Every schema (the reader drops `INFORMATION_SCHEMA`'s own rows).
        case all
        /// Exactly these schemas.
        case only([String])

        /// `WHERE …` restricting `column` to the scope, or nothing.
        func whereClause(_ column: String) -> String {
            switch self {
            case .all:
                return ""
            case .only(let names):
                return "WHERE \(column) IN (" + names.map(SnowflakeValues.literal).joined(separator: ", ") + ")"
            }
        }
    }

    static func informationSchema(_ database: String, _ view: String) -> String {
        "\(SnowflakeValues.identifier(database)).INFORMATION_SCHEMA.\(view)"
    }

    static func schemata(database: String) -> String {
        """
        SELECT SCHEMA_NAME, SCHEMA_OWNER, COMMENT
        FROM \(informationSchema(database, "SCHEMATA"))
        WHERE SCHEMA_NAME <> 'INFORMATION_SCHEMA'
        ORDER BY SCHEMA_NAME
        """
    }

    /// Tables, views and materialized views with view text. `definitions` false leaves the text out of the answer.
    /// With `governance`, each row also carries its tags and policy references (JSON arrays, or NULL) from
    /// ACCOUNT_USAGE, joined in the same statement.
    static func relations(database: String, scope: SchemaScope, definitions: Bool, governance: Bool) -> String {
        let literal = SnowflakeValues.literal(database)
        return """
            SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE, t.TABLE_OWNER, t.IS_TRANSIENT, t.CLUSTERING_KEY,
                   t.ROW_COUNT, t.BYTES, t.CREATED, t.LAST_ALTERED, t.COMMENT, t.IS_ICEBERG, t.IS_DYNAMIC, t.IS_HYBRID,
                   \(definitions ? "v.VIEW_DEFINITION" : "NULL"), \(governance ? "g.TAGS, p.POLICIES" : "NULL, NULL")
            FROM \(informationSchema(database, "TABLES")) t
            LEFT JOIN \(informationSchema(database, "VIEWS")) v
                   ON v.TABLE_SCHEMA = t.TABLE_SCHEMA AND v.TABLE_NAME = t.TABLE_NAME
            \(governance ? """
                LEFT JOIN \(tags(domain: "TABLE", database: literal)) g
                       ON g.OBJECT_SCHEMA = t.TABLE_SCHEMA AND g.OBJECT_NAME = t.TABLE_NAME
                LEFT JOIN \(policies(columns: false, database: literal)) p
                       ON p.REF_SCHEMA_NAME = t.TABLE_SCHEMA AND p.REF_ENTITY_NAME = t.TABLE_NAME
                """ : "")
            \(scope.whereClause("t.TABLE_SCHEMA"))
            ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME
            """
    }

    /// Columns; with `governance`, their tags and policy references as for `relations`.
    static func columns(database: String, scope: SchemaScope, governance: Bool) -> String {
        let literal = SnowflakeValues.literal(database)
        return """
            SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.ORDINAL_POSITION, c.DATA_TYPE,
                   c.CHARACTER_MAXIMUM_LENGTH, c.NUMERIC_PRECISION, c.NUMERIC_SCALE, c.DATETIME_PRECISION,
                   c.IS_NULLABLE, c.COLUMN_DEFAULT, c.IS_IDENTITY, c.COLLATION_NAME, c.COMMENT,
                   \(governance ? "g.TAGS, p.POLICIES" : "NULL, NULL")
            FROM \(informationSchema(database, "COLUMNS")) c
            \(governance ? """
                LEFT JOIN \(tags(domain: "COLUMN", database: literal)) g
                       ON g.OBJECT_SCHEMA = c.TABLE_SCHEMA AND g.OBJECT_NAME = c.TABLE_NAME
                      AND g.COLUMN_NAME = c.COLUMN_NAME
                LEFT JOIN \(policies(columns: true, database: literal)) p
                       ON p.REF_SCHEMA_NAME = c.TABLE_SCHEMA AND p.REF_ENTITY_NAME = c.TABLE_NAME
                      AND p.REF_COLUMN_NAME = c.COLUMN_NAME
                """ : "")
            \(scope.whereClause("c.TABLE_SCHEMA"))
            ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION
            """
    }

    // MARK: Tags and policies

    /// ACCOUNT_USAGE: tags and policy references exist nowhere else in a form a fixed number of statements can read
    /// (INFORMATION_SCHEMA has them per object only).
    static let accountUsage = "SNOWFLAKE.ACCOUNT_USAGE"

    /// Tags aggregated per object (and column), to join on `OBJECT_DATABASE`, `OBJECT_SCHEMA`, `OBJECT_NAME`
    /// (`COLUMN_NAME`); restricted to one database when `database` (an SQL literal) is given.
    static func tags(domain: String, database: String? = nil) -> String {
        let column = domain == "COLUMN" ? ", COLUMN_NAME" : ""
        return """
            (SELECT OBJECT_DATABASE, OBJECT_SCHEMA, OBJECT_NAME\(column),
                    ARRAY_AGG(OBJECT_CONSTRUCT('database', TAG_DATABASE, 'schema', TAG_SCHEMA, 'name', TAG_NAME,
                                               'value', TAG_VALUE)) AS TAGS
             FROM \(accountUsage).TAG_REFERENCES
             WHERE OBJECT_DELETED IS NULL AND DOMAIN = '\(domain)'\(database.map { " AND OBJECT_DATABASE = \($0)" } ?? "")
             GROUP BY OBJECT_DATABASE, OBJECT_SCHEMA, OBJECT_NAME\(column))
            """
    }

    /// Policies aggregated per object (or column), to join on `REF_DATABASE_NAME`, `REF_SCHEMA_NAME`,
    /// `REF_ENTITY_NAME` (`REF_COLUMN_NAME`); restricted to one database when `database` (an SQL literal) is given.
    static func policies(columns: Bool, database: String? = nil) -> String {
        let column = columns ? ", REF_COLUMN_NAME" : ""
        return """
            (SELECT REF_DATABASE_NAME, REF_SCHEMA_NAME, REF_ENTITY_NAME\(column),
                    ARRAY_AGG(OBJECT_CONSTRUCT('database', POLICY_DB, 'schema', POLICY_SCHEMA, 'name', POLICY_NAME,
                                               'kind', POLICY_KIND)) AS POLICIES
             FROM \(accountUsage).POLICY_REFERENCES
             WHERE REF_COLUMN_NAME IS \(columns ? "NOT NULL" : "NULL")\(database.map { " AND REF_DATABASE_NAME = \($0)" } ?? "")
             GROUP BY REF_DATABASE_NAME, REF_SCHEMA_NAME, REF_ENTITY_NAME\(column))
            """
    }

    /// What a role needs to read tags and policy references.
    static let governanceGrant = "GRANT DATABASE ROLE SNOWFLAKE.GOVERNANCE_VIEWER TO ROLE <role>"

    /// The warning when Snowflake refused the tags and policies a statement joined: the rest is read without them.
    static func logGovernanceLeftOut(_ error: ConnectorError, logger: Logger) {
        logger.warning(
            "snowflake.governance.unreadable",
            metadata: [
                "snowflake.reason": "\(error.underlying.map { "\($0)" } ?? "")",
                "snowflake.hint": "tags and policy references are left out: \(governanceGrant)",
            ])
    }

    /// Tags or policies as the aggregates above return them (a JSON array), sorted; nil when there are none.
    static func decode<Element: Decodable & Comparable>(_ json: String?, as type: Element.Type) throws -> [Element]? {
        guard let json, !json.isEmpty else { return nil }
        do {
            let values = try JSONDecoder().decode([Element].self, from: Data(json.utf8))
            return values.isEmpty ? nil : values.sorted()
        } catch {
            throw ConnectorError(
                .queryFailed, "Snowflake returned tags or policies that are not a JSON array of objects")
        }
    }

    static func functions(database: String, scope: SchemaScope) -> String {
        """
        SELECT FUNCTION_SCHEMA, FUNCTION_NAME, ARGUMENT_SIGNATURE, DATA_TYPE, FUNCTION_LANGUAGE, FUNCTION_OWNER,
               COMMENT
        FROM \(informationSchema(database, "FUNCTIONS"))
        \(scope.whereClause("FUNCTION_SCHEMA"))
        ORDER BY FUNCTION_SCHEMA, FUNCTION_NAME, ARGUMENT_SIGNATURE
        """
    }

    static func procedures(database: String, scope: SchemaScope) -> String {
        """
        SELECT PROCEDURE_SCHEMA, PROCEDURE_NAME, ARGUMENT_SIGNATURE, DATA_TYPE, PROCEDURE_LANGUAGE, PROCEDURE_OWNER,
               COMMENT
        FROM \(informationSchema(database, "PROCEDURES"))
        \(scope.whereClause("PROCEDURE_SCHEMA"))
        ORDER BY PROCEDURE_SCHEMA, PROCEDURE_NAME, ARGUMENT_SIGNATURE
        """
    }

    /// SHOW commands run in cloud services: no warehouse, no INFORMATION_SCHEMA size limit.
    static func showKeys(_ kind: String, database: String) -> String {
        "SHOW \(kind) KEYS IN DATABASE \(SnowflakeValues.identifier(database))"
    }

    static let showDatabases = "SHOW DATABASES"
}
