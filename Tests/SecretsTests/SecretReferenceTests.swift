import Foundation
import OutpostTesting
import Secrets
import Testing

@Suite("Secret references")
struct SecretReferenceTests {
    @Test("references parse into store, locator and field")
    func parsing() throws {
        let reference = try SecretReference(parsing: "file:/run/secrets/db.json#password")
        #expect(reference.store == .file)
        #expect(reference.locator == "/run/secrets/db.json")
        #expect(reference.field == "password")
        #expect(reference.description == "file:/run/secrets/db.json#password")
    }

    @Test(
        "an unknown store or a pasted value is refused without echoing it",
        arguments: ["keyvault:x", "hunter2-secret", "Hunter2:pasted", "hunter2 with:colon"])
    func invalid(_ text: String) {
        do {
            _ = try SecretReference(parsing: text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }

    @Test("file secrets are re-read on every resolution and lose one trailing newline")
    func fileProvider() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/pw"
        try "first\n".write(toFile: path, atomically: true, encoding: .utf8)
        let resolver = SecretResolver.standard
        let reference = SecretReference(store: .file, locator: path)
        #expect(try await resolver.resolve(reference) == "first")
        try "second".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try await resolver.resolve(reference) == "second")
    }

    @Test("a JSON secret's field is selected; a missing field names the reference, not the value")
    func fieldSelection() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/db.json"
        try #"{"username":"app","password":"Canary-123","port":5432}"#.write(
            toFile: path, atomically: true, encoding: .utf8)
        let resolver = SecretResolver.standard
        #expect(
            try await resolver.resolve(SecretReference(store: .file, locator: path, field: "password")) == "Canary-123")
        #expect(try await resolver.resolve(SecretReference(store: .file, locator: path, field: "port")) == "5432")
        do {
            _ = try await resolver.resolve(SecretReference(store: .file, locator: path, field: "token"))
            Issue.record("missing field resolved")
        } catch {
            #expect("\(error)".contains("token"))
            #expect(!"\(error)".contains("Canary-123"))
        }
    }

    @Test("a missing environment variable is a clear error")
    func missingEnvironment() async {
        await #expect(throws: SecretError.self) {
            try await SecretResolver.standard.resolve(SecretReference(store: .env, locator: "OUTPOST_NO_SUCH_VARIABLE"))
        }
    }
}
