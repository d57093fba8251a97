import Foundation
import ObjectStore
import OutpostTesting
import Testing

/// Our Azure Storage Shared Key and SAS signatures against azure-storage-blob's own signer, run in the same test
/// through `Tests/tools/fake_azure/reference_signatures.py` (real SDK calls captured before sending, with a fixed
/// date; `generate_blob_sas` / `generate_container_sas` with fixed times): byte for byte.
@Suite("Azure Shared Key and SAS, byte for byte with Microsoft's SDK")
struct AzureSignatureTests {
    struct Vectors: Decodable {
        struct SharedKeyVector: Decodable {
            var name: String
            var method: String
            var path: String
            var query: String
            var headers: [[String]]
            var stringToSign: String
            var authorization: String
        }
        struct SASVector: Decodable {
            var name: String
            var account: String
            var key: String
            var userDelegation: Bool
            var canonicalResource: String
            var token: String
            var fields: [String: String]
            var stringToSign: String
        }
        var account: String
        var key: String
        var sharedKey: [SharedKeyVector]
        var sas: [SASVector]
    }

    static func vectors() throws -> Vectors {
        try referenceVectors(
            Vectors.self, script: "Tests/tools/fake_azure/reference_signatures.py",
            python: "OUTPOST_TEST_FAKE_AZURE_PYTHON")
    }

    @Test func sharedKeyStringsToSignAndAuthorizationsAreTheSDKs() throws {
        let reference = try Self.vectors()
        let key = try AzureSharedKey(account: reference.account, base64Key: reference.key)
        #expect(reference.sharedKey.count >= 10)
        for vector in reference.sharedKey {
            let query: [(name: String, value: String)] = vector.query.split(separator: "&").map { pair in
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            }
            let headers = vector.headers.map { (name: $0[0], value: $0[1]) }
            let text = key.stringToSign(method: vector.method, path: vector.path, query: query, headers: headers)
            #expect(text == vector.stringToSign, "\(vector.name)")
            #expect(
                key.authorization(method: vector.method, path: vector.path, query: query, headers: headers)
                    == vector.authorization, "\(vector.name)")
        }
    }

    @Test func serviceAndUserDelegationSASTokensAreTheSDKs() throws {
        let reference = try Self.vectors()
        #expect(reference.sas.contains { $0.userDelegation } && reference.sas.contains { !$0.userDelegation })
        for vector in reference.sas {
            let fields = vector.fields
            var sas = AzureSAS(
                permissions: fields["sp"] ?? "", start: fields["st"], expiry: fields["se"] ?? "",
                version: fields["sv"] ?? "", resource: fields["sr"] ?? "")
            sas.ipRange = fields["sip"]
            sas.httpsOnly = fields["spr"] == "https"
            sas.encryptionScope = fields["ses"]
            sas.correlationId = fields["scid"]
            sas.cacheControl = fields["rscc"]
            sas.contentDisposition = fields["rscd"]
            sas.contentEncoding = fields["rsce"]
            sas.contentLanguage = fields["rscl"]
            sas.contentType = fields["rsct"]
            // The canonical resource from its parts, as the blob store will build it.
            let parts = vector.canonicalResource.split(separator: "/", maxSplits: 3).map(String.init)
            let resource = AzureSAS.canonicalResource(
                account: parts[1], container: parts[2], blob: parts.count > 3 ? parts[3] : nil)
            #expect(resource == vector.canonicalResource, "\(vector.name)")
            if vector.userDelegation {
                let key = AzureSAS.UserDelegationKey(
                    objectId: fields["skoid"] ?? "", tenantId: fields["sktid"] ?? "", start: fields["skt"] ?? "",
                    expiry: fields["ske"] ?? "", service: fields["sks"] ?? "", version: fields["skv"] ?? "",
                    value: vector.key)
                #expect(
                    sas.userDelegationStringToSign(canonicalResource: resource, key: key) == vector.stringToSign,
                    "\(vector.name)")
                #expect(
                    try sas.token(canonicalResource: resource, delegationKey: key) == vector.token, "\(vector.name)")
            } else {
                let key = try AzureSharedKey(account: vector.account, base64Key: vector.key)
                #expect(sas.serviceStringToSign(canonicalResource: resource) == vector.stringToSign, "\(vector.name)")
                #expect(sas.token(canonicalResource: resource, signedWith: key) == vector.token, "\(vector.name)")
            }
        }
    }

    @Test func aKeyThatIsNotBase64IsRefusedWithoutBeingShown() {
        let error = #expect(throws: ObjectStoreError.self) {
            try AzureSharedKey(account: "acct", base64Key: "not base64 secret!")
        }
        #expect(error.map { "\($0)" }?.contains("not base64 secret") == false)
    }
}
