internal import AWSSigV4
internal import Crypto
internal import Foundation

/// An Azure Storage shared access signature for one blob or container: a service SAS signed with the account key,
/// or a user delegation SAS signed with a key the service hands to an Entra ID identity.
///
/// The fields are the query parameters Azure documents (`sp`, `st`, `se`, `sip`, `spr`, `sv`, `sr`, `ses`, the
/// response header overrides and, for a user delegation SAS, the `sk*` key fields); the string to sign and the token
/// are byte for byte what azure-storage-blob's `generate_blob_sas` / `generate_container_sas` make.
public struct AzureSAS: Sendable {
    /// The user delegation key the service returns for `POST ?restype=service&comp=userdelegationkey`.
    public struct UserDelegationKey: Sendable {
        public var objectId: String
        public var tenantId: String
        public var start: String
        public var expiry: String
        public var service: String
        public var version: String
        /// Base64, as the service returns it.
        public var value: String

        public init(
            objectId: String, tenantId: String, start: String, expiry: String, service: String = "b",
            version: String, value: String
        ) {
            self.objectId = objectId
            self.tenantId = tenantId
            self.start = start
            self.expiry = expiry
            self.service = service
            self.version = version
            self.value = value
        }
    }

    /// `sp`: the permissions, in Azure's order (`racwdxltmeop` for a blob: `cw` to create and write).
    public var permissions: String
    /// `st` and `se`: ISO 8601 UTC times (`2026-12-07T15:00:00Z`).
    public var start: String?
    public var expiry: String
    /// `sip`: an address or range the request must come from.
    public var ipRange: String?
    /// `spr=https`: refuse plain HTTP.
    public var httpsOnly = false
    /// `sv`: the service version that signs.
    public var version: String
    /// `sr`: `b` for one blob, `c` for a container.
    public var resource: String
    /// `ses`: the encryption scope the blob is written with.
    public var encryptionScope: String?
    /// `scid`: a correlation id for the storage logs (user delegation only).
    public var correlationId: String?
    /// `rscc`, `rscd`, `rsce`, `rscl`, `rsct`: response headers a GET with the SAS returns.
    public var cacheControl: String?
    public var contentDisposition: String?
    public var contentEncoding: String?
    public var contentLanguage: String?
    public var contentType: String?

    /// The version from which a user delegation SAS signs the delegated-user and signed-request fields.
    static let delegatedFieldsVersion = "2025-07-05"

    public init(permissions: String, start: String? = nil, expiry: String, version: String, resource: String) {
        self.permissions = permissions
        self.start = start
        self.expiry = expiry
        self.version = version
        self.resource = resource
    }

    /// `/blob/ACCOUNT/CONTAINER[/BLOB]`, the blob name as it is (not encoded).
    public static func canonicalResource(account: String, container: String, blob: String? = nil) -> String {
        "/blob/\(account)/\(container)" + (blob.map { "/\($0)" } ?? "")
    }

    /// A service SAS signed with the account key: the query string to append to the blob's URL.
    public func token(canonicalResource: String, signedWith key: AzureSharedKey) -> String {
        let signature = key.signature(serviceStringToSign(canonicalResource: canonicalResource))
        return Self.query(commonFields() + responseFields() + [("sig", signature)])
    }

    /// A user delegation SAS: the query string to append to the blob's URL.
    ///
    /// - Throws: `ObjectStoreError` `.credentials` when the key's value is not base64.
    public func token(canonicalResource: String, delegationKey: UserDelegationKey) throws -> String {
        guard let bytes = Data(base64Encoded: delegationKey.value), !bytes.isEmpty else {
            throw ObjectStoreError(.credentials, "the user delegation key's value is not base64")
        }
        let text = userDelegationStringToSign(canonicalResource: canonicalResource, key: delegationKey)
        let signature = Data(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: bytes)))
            .base64EncodedString()
        let keyFields: [(String, String?)] = [
            ("skoid", delegationKey.objectId), ("sktid", delegationKey.tenantId), ("skt", delegationKey.start),
            ("ske", delegationKey.expiry), ("sks", delegationKey.service), ("skv", delegationKey.version),
        ]
        return Self.query(
            commonFields() + [("scid", correlationId)] + keyFields + responseFields() + [("sig", signature)])
    }

    public func serviceStringToSign(canonicalResource: String) -> String {
        [
            permissions, start ?? "", expiry, canonicalResource, "", ipRange ?? "", httpsOnly ? "https" : "",
            version, resource, "", encryptionScope ?? "",
        ].joined(separator: "\n") + "\n" + responseValues().joined(separator: "\n")
    }

    public func userDelegationStringToSign(canonicalResource: String, key: UserDelegationKey) -> String {
        let newer = version >= Self.delegatedFieldsVersion
        var fields = [
            permissions, start ?? "", expiry, canonicalResource, key.objectId, key.tenantId, key.start, key.expiry,
            key.service, key.version, "", "", correlationId ?? "",
        ]
        if newer { fields += ["", ""] }
        fields += [ipRange ?? "", httpsOnly ? "https" : "", version, resource, "", encryptionScope ?? ""]
        if newer { fields += ["", ""] }
        return (fields + responseValues()).joined(separator: "\n")
    }

    private func commonFields() -> [(String, String?)] {
        [
            ("st", start), ("se", expiry), ("sp", permissions), ("sip", ipRange), ("spr", httpsOnly ? "https" : nil),
            ("sv", version), ("sr", resource), ("ses", encryptionScope),
        ]
    }

    private func responseValues() -> [String] {
        [cacheControl, contentDisposition, contentEncoding, contentLanguage, contentType].map { $0 ?? "" }
    }

    private func responseFields() -> [(String, String?)] {
        [
            ("rscc", cacheControl), ("rscd", contentDisposition), ("rsce", contentEncoding),
            ("rscl", contentLanguage), ("rsct", contentType),
        ]
    }

    /// `name=value&…` for the fields that are set, values percent-encoded but for `/`.
    private static func query(_ fields: [(String, String?)]) -> String {
        fields.compactMap { name, value in value.map { "\(name)=\(encode($0))" } }.joined(separator: "&")
    }

    private static func encode(_ value: String) -> String {
        value.split(separator: "/", omittingEmptySubsequences: false).map { SigV4Signer.percentEncode(String($0)) }
            .joined(separator: "/")
    }
}
