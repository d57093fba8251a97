// The web UI's server-side sessions, against both stores (the conformance suite's style: every test runs on SQLite
// and on PostgreSQL).

import ControlPlane
import ControlPlaneStorage
import OutpostProtocol
import Testing

@Suite("Storage conformance: UI sessions")
struct UISessionStorageTests {
    typealias F = StorageFixtures

    static func session(_ key: APIKey, hash: String, at seconds: Int = 0, lasting: Int = 3600) -> SessionRecord {
        SessionRecord(
            hash: hash, tenantId: key.tenantId, keyId: key.id, csrfToken: "csrf-\(hash)", createdAt: F.time(seconds),
            expiresAt: F.time(seconds + lasting))
    }

    @Test(
        "a session is found by its hash until it expires, and sign-out removes it", arguments: StorageBackend.allCases)
    func lifecycle(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let tenant = F.tenant("acme")
            try await store.createTenant(tenant)
            let key = F.key(tenant, role: .admin)
            try await store.createKey(key)
            let session = Self.session(key, hash: "aa11", at: 0, lasting: 600)
            try await store.createSession(session)

            #expect(try await store.session(hash: "aa11", now: F.time(0)) == session)
            #expect(try await store.session(hash: "aa11", now: F.time(599)) == session)
            #expect(try await store.session(hash: "aa11", now: F.time(600)) == nil)
            #expect(try await store.session(hash: "bb22", now: F.time(0)) == nil)

            #expect(try await store.deleteSession(hash: "aa11"))
            #expect(try await !store.deleteSession(hash: "aa11"))
            #expect(try await store.session(hash: "aa11", now: F.time(0)) == nil)
        }
    }

    @Test("revoking or expiring the key that signed in ends its sessions at once", arguments: StorageBackend.allCases)
    func keyValidity(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let tenant = F.tenant("acme")
            try await store.createTenant(tenant)
            let revoked = F.key(tenant, name: "revoked", role: .admin)
            var expiring = F.key(tenant, name: "expiring", role: .admin)
            expiring.expiresAt = F.time(100)
            try await store.createKey(revoked)
            try await store.createKey(expiring)
            try await store.createSession(Self.session(revoked, hash: "r1"))
            try await store.createSession(Self.session(expiring, hash: "e1"))

            #expect(try await store.session(hash: "r1", now: F.time(10)) != nil)
            #expect(try await store.revokeKey(tenantId: tenant.id, id: revoked.id, at: F.time(20)))
            #expect(try await store.session(hash: "r1", now: F.time(21)) == nil)

            #expect(try await store.session(hash: "e1", now: F.time(99)) != nil)
            #expect(try await store.session(hash: "e1", now: F.time(100)) == nil)
        }
    }

    @Test("a session must name an existing key of its own tenant", arguments: StorageBackend.allCases)
    func tenantBinding(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let acme = F.tenant("acme")
            let other = F.tenant("other")
            try await store.createTenant(acme)
            try await store.createTenant(other)
            let key = F.key(acme, role: .admin)
            try await store.createKey(key)

            // A row claiming another tenant for acme's key is never returned as a live session.
            var foreign = Self.session(key, hash: "f1")
            foreign.tenantId = other.id
            try await store.createSession(foreign)
            #expect(try await store.session(hash: "f1", now: F.time(1)) == nil)

            var unknownKey = Self.session(key, hash: "u1")
            unknownKey.keyId = "key_missing"
            await expectStorageError(.notFound) { try await store.createSession(unknownKey) }
            await expectStorageError(.conflict) { try await store.createSession(Self.session(key, hash: "f1")) }
        }
    }

    @Test("deleteExpiredSessions removes exactly the expired ones", arguments: StorageBackend.allCases)
    func sweep(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let tenant = F.tenant("acme")
            try await store.createTenant(tenant)
            let key = F.key(tenant, role: .admin)
            try await store.createKey(key)
            for (index, lasting) in [10, 20, 30, 1000].enumerated() {
                try await store.createSession(Self.session(key, hash: "s\(index)", lasting: lasting))
            }
            #expect(try await store.deleteExpiredSessions(now: F.time(20)) == 2)
            #expect(try await store.deleteExpiredSessions(now: F.time(20)) == 0)
            #expect(try await store.session(hash: "s0", now: F.time(0)) == nil)
            #expect(try await store.session(hash: "s2", now: F.time(25)) != nil)
            #expect(try await store.session(hash: "s3", now: F.time(25)) != nil)
        }
    }
}
