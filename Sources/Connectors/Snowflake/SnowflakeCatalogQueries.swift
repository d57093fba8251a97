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
    static func relations(database: String, scope: SchemaScope, definitions: Bool) -> String {
        """
        SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE, t.TABLE_OWNER, t.IS_TRANSIENT, t.CLUSTERING_KEY,
               t.ROW_COUNT, t.BYTES, t.CREATED, t.LAST_ALTERED, t.COMMENT, t.IS_ICEBERG, t.IS_DYNAMIC, t.IS_HYBRID,
               \(definitions ? "v.VIEW_DEFINITION" : "NULL")
        FROM \(informationSchema(database, "TABLES")) t
        LEFT JOIN \(informationSchema(database, "VIEWS")) v
               ON v.TABLE_SCHEMA = t.TABLE_SCHEMA AND v.TABLE_NAME = t.TABLE_NAME
        \(scope.whereClause("t.TABLE_SCHEMA"))
        ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME
        """
    }

    static func columns(database: String, scope: SchemaScope) -> String {
        """
        SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH,
               NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, IS_NULLABLE, COLUMN_DEFAULT, IS_IDENTITY,
               COLLATION_NAME, COMMENT
        FROM \(informationSchema(database, "COLUMNS"))
        \(scope.whereClause("TABLE_SCHEMA"))
        ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION
        """
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
