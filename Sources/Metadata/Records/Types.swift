/// An enumerated type and its labels, in sort order.
public struct EnumType: Codable, Sendable, Equatable {
    public var qualifiedName: QualifiedName
    public var name: String
    public var database: QualifiedName
    public var schema: QualifiedName
    public var values: [String]
    public var owner: String?
    public var comment: String?

    public init(
        qualifiedName: QualifiedName, name: String, database: QualifiedName, schema: QualifiedName, values: [String]
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.database = database
        self.schema = schema
        self.values = values
    }
}

/// A domain: a base type narrowed by constraints.
public struct DomainType: Codable, Sendable, Equatable {
    public var qualifiedName: QualifiedName
    public var name: String
    public var database: QualifiedName
    public var schema: QualifiedName
    public var baseType: String
    public var typeFamily: Column.TypeFamily
    public var nullable: Bool
    public var defaultExpression: String?
    /// Check constraints, as the source prints them (`CHECK (VALUE > 0)`).
    public var checks: [String]
    public var collation: String?
    public var owner: String?
    public var comment: String?

    public init(
        qualifiedName: QualifiedName, name: String, database: QualifiedName, schema: QualifiedName,
        baseType: String, typeFamily: Column.TypeFamily, nullable: Bool, checks: [String]
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.database = database
        self.schema = schema
        self.baseType = baseType
        self.typeFamily = typeFamily
        self.nullable = nullable
        self.checks = checks
    }
}

/// A function, procedure, aggregate or window function.
///
/// Overloads share a name, so the qualified name's last part is the identity signature (`name(integer, text)`).
public struct Function: Codable, Sendable, Equatable {
    public var qualifiedName: QualifiedName
    public var name: String
    public var database: QualifiedName
    public var schema: QualifiedName
    /// `function`, `procedure`, `aggregate` or `window`.
    public var routineType: String
    /// The identity signature: name and argument types.
    public var signature: String
    /// The full argument list with names, modes and defaults.
    public var arguments: String
    /// The return type (`void` for procedures); `SETOF`/`TABLE(…)` forms as the source prints them.
    public var returnType: String?
    public var language: String
    /// `immutable`, `stable` or `volatile`.
    public var volatility: String?
    public var securityDefiner: Bool?
    public var owner: String?
    public var comment: String?

    public init(
        qualifiedName: QualifiedName, name: String, database: QualifiedName, schema: QualifiedName,
        routineType: String, signature: String, arguments: String, language: String
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.database = database
        self.schema = schema
        self.routineType = routineType
        self.signature = signature
        self.arguments = arguments
        self.language = language
    }
}
