import AsyncHTTPClient
import Foundation
import GoogleCloud
import OutpostTesting
import Secrets
import Testing

/// `gcp-sm:` against the project's fake Google endpoints (token endpoint, metadata server, Secret Manager; a fake
/// proven with google-auth and google-cloud-secret-manager by its self-test).
@Suite("Google Secret Manager")
struct GoogleSecretManagerTests {
    static let canary = "CANARY-gcp-4f1e9a77c2"

    static func provider(
        _ google: TestGoogle, key: String? = nil, metadata: Bool = false,
        hostCheck: @escaping @Sendable (String) throws -> Void = { _ in }
    ) -> GoogleSecretManagerSecretProvider {
        GoogleSecretManagerSecretProvider(
            settings: GoogleSecretManagerSettings(
                credentials: key.map { SecretReference(store: .file, locator: $0) },
                metadataHost: metadata ? google.metadataHost : nil, endpoint: google.secretManager),
            clientForHost: { _ in .shared }, credentials: { try await SecretResolver.standard.resolve($0) },
            hostCheck: hostCheck)
    }

    static func resolve(_ provider: GoogleSecretManagerSecretProvider, _ text: String) async throws -> String {
        try await SecretResolver(providers: [provider]).resolve(try SecretReference(parsing: text))
    }

    @Test func aServiceAccountKeyReadsTheLatestVersionANamedOneAFieldAndARotation() async throws {
        let google = try TestGoogle(secrets: ["db-password": Self.canary, "db": #"{"user": "u", "password": "p"}"#])
        let provider = Self.provider(google, key: google.readerKeyFile)
        #expect(try await Self.resolve(provider, "gcp-sm:projects/outpost-test/secrets/db-password") == Self.canary)
        #expect(try await Self.resolve(provider, "gcp-sm:projects/outpost-test/secrets/db#password") == "p")
        // Rotation: the next read takes the new version; version 1 stays readable by number.
        try google.control(
            "/_fake/secrets/versions", ["project": "outpost-test", "secret": "db-password", "data": "rotated"])
        #expect(try await Self.resolve(provider, "gcp-sm:projects/outpost-test/secrets/db-password") == "rotated")
        #expect(
            try await Self.resolve(provider, "gcp-sm:projects/outpost-test/secrets/db-password/versions/1")
                == Self.canary)
        // One token for the provider's life.
        #expect(try google.requests("token") == 1)
    }

    @Test func withoutAKeyTheMetadataServersAccountIsUsed() async throws {
        let google = try TestGoogle(secrets: ["db-password": Self.canary])
        let provider = Self.provider(google, metadata: true)
        #expect(try await Self.resolve(provider, "gcp-sm:projects/outpost-test/secrets/db-password") == Self.canary)
        #expect(try google.requests("metadata") >= 1)
        #expect(try google.requests("token") == 0)
    }

    @Test func refusalsSayWhatToGrantAndNeverShowAValueOrAToken() async throws {
        let google = try TestGoogle(secrets: ["db-password": Self.canary])
        let outsider = Self.provider(google, key: google.outsiderKeyFile)
        let denied = await #expect(throws: SecretError.self) {
            try await Self.resolve(outsider, "gcp-sm:projects/outpost-test/secrets/db-password")
        }
        #expect(denied?.message.contains("roles/secretmanager.secretAccessor") == true, "\(String(describing: denied))")
        #expect(denied?.message.contains(TestGoogle.outsider) == true)
        let reader = Self.provider(google, key: google.readerKeyFile)
        let missing = await #expect(throws: SecretError.self) {
            try await Self.resolve(reader, "gcp-sm:projects/outpost-test/secrets/nope")
        }
        #expect(missing?.code == .notFound)
        try google.control(
            "/_fake/secrets/state",
            ["project": "outpost-test", "secret": "db-password", "version": 1, "state": "DISABLED"])
        let disabled = await #expect(throws: SecretError.self) {
            try await Self.resolve(reader, "gcp-sm:projects/outpost-test/secrets/db-password/versions/1")
        }
        #expect(disabled?.message.contains("disabled") == true, "\(String(describing: disabled))")
        for error in [denied, missing, disabled].compactMap({ $0 }) {
            #expect(!"\(error)".contains(Self.canary))
            #expect(!"\(error)".contains("ya29."), "no token in \(error)")
        }
    }

    @Test func aMalformedReferenceOrAHostThePolicyRefusesIsNeverSent() async throws {
        let google = try TestGoogle(secrets: ["db-password": Self.canary])
        let reader = Self.provider(google, key: google.readerKeyFile)
        for bad in [
            "gcp-sm:outpost-test/db-password", "gcp-sm:projects/p/secrets/s/versions/1/x",
            "gcp-sm:projects/p/secrets/a b",
        ] {
            let error = await #expect(throws: SecretError.self) { try await Self.resolve(reader, bad) }
            #expect(error?.code == .invalidReference, "\(bad)")
        }
        struct Refused: Error {}
        let fenced = Self.provider(google, key: google.readerKeyFile, hostCheck: { _ in throw Refused() })
        await #expect(throws: Refused.self) {
            try await Self.resolve(fenced, "gcp-sm:projects/outpost-test/secrets/db-password")
        }
        #expect(try google.requests("token") == 0 && google.requests("secrets") == 0)
    }

    /// Workload identity federation: the subject token file is exchanged at STS and the pool's principal
    /// impersonates `reader`; a token the pool does not trust, a pool principal that may not impersonate, or a
    /// configuration of an unsupported kind fails with a message naming the step, never a token.
    @Test func workloadIdentityFederationReadsASecretAndExplainsEachRefusal() async throws {
        let google = try TestGoogle(secrets: ["db-password": Self.canary])
        let federation = try google.workloadIdentity()
        let provider = Self.provider(google, key: federation.configuration)
        #expect(try await Self.resolve(provider, "gcp-sm:projects/outpost-test/secrets/db-password") == Self.canary)
        #expect(try google.requests("sts") == 1)

        // Nobody of the pool may impersonate `reader` any more.
        try google.control(
            "/_fake/service-accounts/token-creators", ["email": TestGoogle.reader, "tokenCreators": [String]()])
        let denied = await #expect(throws: SecretError.self) {
            try await Self.resolve(
                Self.provider(google, key: federation.configuration), "gcp-sm:projects/outpost-test/secrets/db-password"
            )
        }
        #expect(denied?.message.contains("roles/iam.workloadIdentityUser") == true, "\(String(describing: denied))")

        // A token file holding something the pool's issuer did not sign.
        try Data("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln".utf8).write(to: URL(fileURLWithPath: federation.tokenFile))
        let untrusted = await #expect(throws: SecretError.self) {
            try await Self.resolve(
                Self.provider(google, key: federation.configuration), "gcp-sm:projects/outpost-test/secrets/db-password"
            )
        }
        #expect(untrusted?.message.contains("Security Token Service") == true, "\(String(describing: untrusted))")

        // An AWS-sourced configuration is refused before anything is sent.
        let aws = google.directory.path + "/aws.json"
        try Data(
            #"{"type": "external_account", "audience": "\#(TestGoogle.poolAudience)", "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request", "credential_source": {"environment_id": "aws1"}}"#
                .utf8
        ).write(to: URL(fileURLWithPath: aws))
        let unsupported = await #expect(throws: SecretError.self) {
            try await Self.resolve(Self.provider(google, key: aws), "gcp-sm:projects/outpost-test/secrets/db-password")
        }
        #expect(unsupported?.message.contains("not supported") == true, "\(String(describing: unsupported))")
        for error in [denied, untrusted, unsupported].compactMap({ $0 }) {
            #expect(!"\(error)".contains(Self.canary))
            #expect(!"\(error)".contains("ya29."), "no token in \(error)")
            #expect(!"\(error)".contains("eyJ"), "no subject token in \(error)")
        }
    }

    @Test func crc32cIsCastagnoli() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // Eight bytes at a time, against the bit-by-bit definition: every length around the 8-byte steps, from
        // unaligned starts, whole and continued across a split, and from a sequence that is not contiguous.
        func reference(_ bytes: some Sequence<UInt8>) -> UInt32 {
            var value = UInt32.max
            for byte in bytes {
                value ^= UInt32(byte)
                for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
            }
            return ~value
        }
        var generator = SystemRandomNumberGenerator()
        let data = (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for start in 0..<9 {
            for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 200, 291 - start] {
                let slice = data[start..<(start + length)]
                #expect(CRC32C.checksum(slice) == reference(slice), "start \(start), length \(length)")
                let split = slice.startIndex + length / 3
                let continued = CRC32C.checksum(slice[split...], continuing: CRC32C.checksum(slice[..<split]))
                #expect(continued == reference(slice))
            }
        }
        #expect(CRC32C.checksum(data.lazy.reversed()) == reference(data.reversed()))
    }
}
