import Foundation
import OutpostTesting
import Secrets
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Command secret provider")
struct CommandSecretProviderTests {
    /// Writes an executable shell script and returns its path.
    static func script(_ directory: TemporaryDirectory, _ name: String, _ body: String) throws -> String {
        try directory.executable(name, "#!/bin/sh\n" + body + "\n")
    }

    static func resolver(_ commands: [String: CommandSecretProvider.Command]) throws -> SecretResolver {
        SecretResolver(providers: [try CommandSecretProvider(commands: commands)])
    }

    @Test("the configured command's standard output is the secret, one trailing newline removed")
    func output() async throws {
        let directory = try TemporaryDirectory()
        let path = try Self.script(directory, "get", #"printf 'value for %s: s3cr3t\n' "$1""#)
        let resolver = try Self.resolver(["db": .init(executable: path, arguments: ["pg prod"])])
        #expect(try await resolver.resolve(SecretReference(parsing: "command:db")) == "value for pg prod: s3cr3t")
    }

    @Test("arguments reach the command verbatim, without a shell interpreting them")
    func noShell() async throws {
        let directory = try TemporaryDirectory()
        let marker = directory.path + "/pwned"
        let resolver = try Self.resolver([
            "echo": .init(executable: "/bin/echo", arguments: ["$(touch \(marker))", "; rm -rf /", "*"])
        ])
        let value = try await resolver.resolve(SecretReference(store: .command, locator: "echo"))
        #expect(value == "$(touch \(marker)) ; rm -rf / *")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("#field selects a field of JSON output")
    func field() async throws {
        let directory = try TemporaryDirectory()
        let path = try Self.script(directory, "json", #"echo '{"username":"app","password":"pw-123"}'"#)
        let resolver = try Self.resolver(["creds": .init(executable: path)])
        #expect(try await resolver.resolve(SecretReference(parsing: "command:creds#password")) == "pw-123")
    }

    @Test("a failing command reports its exit status but never its output or standard error")
    func failure() async throws {
        let directory = try TemporaryDirectory()
        let path = try Self.script(
            directory, "fail", "echo leaked-stdout-hunter2\necho leaked-stderr-hunter2 >&2\nexit 3")
        let resolver = try Self.resolver(["x": .init(executable: path)])
        do {
            _ = try await resolver.resolve(SecretReference(store: .command, locator: "x"))
            Issue.record("a failing command resolved")
        } catch let error as SecretError {
            #expect(error.message.contains("exit status 3"), "\(error)")
            #expect(!error.message.contains("hunter2"))
        }
    }

    @Test("a command that outlives its timeout is killed with its whole process group")
    func timeout() async throws {
        let directory = try TemporaryDirectory()
        let pidFile = directory.path + "/child.pid"
        // The script starts a grandchild that would keep the pipe open; killing the group must end both.
        let path = try Self.script(directory, "slow", "sleep 30 &\necho $! > \(pidFile)\nwait")
        let resolver = try Self.resolver(["slow": .init(executable: path, timeout: .milliseconds(500))])
        let started = ContinuousClock.now
        do {
            _ = try await resolver.resolve(SecretReference(store: .command, locator: "slow"))
            Issue.record("a hanging command resolved")
        } catch let error as SecretError {
            #expect(error.message.contains("did not finish"), "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        let grandchild = try #require(
            Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        try await Task.sleep(for: .milliseconds(100))
        // Dead, or a zombie waiting for init to reap it: either way no longer running.
        let state = (try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8))?
            .split(separator: ")").last?.split(separator: " ").first
        #expect(state == nil || state == "Z", "the grandchild survived in state \(state ?? "?")")
    }

    @Test("the command sees only the configured environment plus the inherited allow-list")
    func environment() async throws {
        let directory = try TemporaryDirectory()
        setenv("OUTPOST_TEST_AGENT_SECRET", "agent-only", 1)
        defer { unsetenv("OUTPOST_TEST_AGENT_SECRET") }
        let path = try Self.script(
            directory, "env", #"printf '%s|%s|%s' "$VAULT_ADDR" "${OUTPOST_TEST_AGENT_SECRET:-unset}" "$PATH""#)
        let resolver = try Self.resolver([
            "env": .init(executable: path, environment: ["VAULT_ADDR": "https://vault.corp:8200"])
        ])
        let value = try await resolver.resolve(SecretReference(store: .command, locator: "env"))
        let parts = value.split(separator: "|", omittingEmptySubsequences: false)
        #expect(parts.first == "https://vault.corp:8200")
        #expect(parts.dropFirst().first == "unset")
        #expect(parts.last.map(String.init) == ProcessInfo.processInfo.environment["PATH"])
    }

    @Test("unknown names, empty or oversized output, and bad configuration are clear errors")
    func errors() async throws {
        let directory = try TemporaryDirectory()
        let empty = try Self.script(directory, "empty", "exit 0")
        let big = try Self.script(directory, "big", "head -c 3000000 /dev/zero")
        let resolver = try Self.resolver([
            "empty": .init(executable: empty), "big": .init(executable: big),
            "missing": .init(executable: "/nonexistent/x"),
        ])
        for (name, expected) in [
            ("nope", "no secret command 'nope'"), ("empty", "printed nothing"), ("big", "more than"),
            ("missing", "cannot start"),
        ] {
            do {
                _ = try await resolver.resolve(SecretReference(store: .command, locator: name))
                Issue.record("\(name) resolved")
            } catch let error as SecretError {
                #expect(error.message.contains(expected), "\(name): \(error)")
            }
        }
        #expect(throws: SecretError.self) {
            _ = try CommandSecretProvider(commands: ["x": .init(executable: "relative")])
        }
        #expect(throws: SecretError.self) {
            _ = try CommandSecretProvider(commands: ["a/b": .init(executable: "/bin/true")])
        }
        #expect(SecretReference.looksLikeReference("command:db"))
    }
}
