internal import CJobSpawn
internal import Foundation
internal import Synchronization

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Resolves `command:NAME` by running the command configured under NAME and reading the secret from its standard
/// output (one trailing newline removed): the bridge to vault CLIs, password managers and in-house tools.
///
/// The commands are part of the agent's own configuration, never of a job: a reference can only pick one of them
/// by name, so the control plane cannot make the agent run anything else. A command runs without a shell
/// (fork and exec), in its own process group, killed if the job process dies, with standard input from `/dev/null`, an environment of only the
/// inherited variables listed in `inheritedVariables` plus its configured `environment`, and a time limit after
/// which its whole process group is killed. Its standard error is read and discarded: it could echo the secret, so
/// errors report only the exit status.
public struct CommandSecretProvider: SecretProvider {
    /// One configured command.
    public struct Command: Sendable, Equatable {
        /// Absolute path of the executable (no `PATH` search, so what runs is exactly what was configured).
        public var executable: String
        public var arguments: [String]
        /// Variables added to the command's environment (e.g. `VAULT_ADDR`).
        public var environment: [String: String]
        /// Variables copied from the agent's environment when set (e.g. `VAULT_TOKEN` for a vault CLI).
        public var inheritedVariables: [String]
        /// How long the command may run before its process group is killed.
        public var timeout: Duration

        public init(
            executable: String, arguments: [String] = [], environment: [String: String] = [:],
            inheritedVariables: [String] = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"],
            timeout: Duration = .seconds(10)
        ) {
            self.executable = executable
            self.arguments = arguments
            self.environment = environment
            self.inheritedVariables = inheritedVariables
            self.timeout = timeout
        }
    }

    public var store: SecretReference.Store { .command }
    /// The configured commands by name.
    public let commands: [String: Command]
    /// Refuse output larger than this: a secret is small, a large output is a misconfiguration.
    public let maxBytes: Int

    /// - Throws: `SecretError` `.invalidReference` for a name other than letters, digits, `-`, `_`, `.`, a
    ///   relative executable path, or a non-positive timeout.
    public init(commands: [String: Command], maxBytes: Int = 1024 * 1024) throws {
        for (name, command) in commands {
            guard !name.isEmpty, name.utf8.allSatisfy(Self.isNameByte) else {
                throw SecretError(
                    .invalidReference, "secret command name '\(name)' may hold only letters, digits, '-', '_', '.'")
            }
            guard command.executable.hasPrefix("/") else {
                throw SecretError(
                    .invalidReference,
                    "secret command '\(name)' must name its executable by absolute path, not '\(command.executable)'")
            }
            guard command.timeout > .zero else {
                throw SecretError(.invalidReference, "secret command '\(name)' needs a positive timeout")
            }
        }
        self.commands = commands
        self.maxBytes = maxBytes
    }

    public func resolve(_ reference: SecretReference) async throws -> String {
        let name = reference.locator
        guard let command = commands[name] else {
            let known = commands.keys.sorted().joined(separator: ", ")
            throw SecretError(
                .notFound,
                "no secret command '\(name)' is configured on this agent (configured: \(known.isEmpty ? "none" : known)); "
                    + "commands are defined in the agent's configuration")
        }
        let run = CommandRun(name: name, command: command, maxBytes: maxBytes)
        let output = try await withTaskCancellationHandler {
            try await run.start()
        } onCancel: {
            run.cancel()
        }
        var bytes = output
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard !bytes.isEmpty else {
            throw SecretError(.invalidFormat, "secret command '\(name)' printed nothing on its standard output")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SecretError(.invalidFormat, "secret command '\(name)' printed something that is not UTF-8 text")
        }
        return text
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
    }
}

/// One execution of a secret command: spawned, drained and reaped on a dedicated thread, because the reads and
/// `waitpid` block for up to the command's timeout and must not hold a Swift concurrency thread.
private final class CommandRun: Sendable {
    let name: String
    let command: CommandSecretProvider.Command
    let maxBytes: Int
    /// The process group to kill on cancellation; 0 before the spawn and after the reap.
    private let group = Mutex<pid_t>(0)
    private let cancelled = Atomic<Bool>(false)

    init(name: String, command: CommandSecretProvider.Command, maxBytes: Int) {
        self.name = name
        self.command = command
        self.maxBytes = maxBytes
    }

    func start() async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try self.execute() }) }
            thread.name = "secret-command"
            thread.start()
        }
    }

    func cancel() {
        cancelled.store(true, ordering: .relaxed)
        group.withLock { if $0 > 0 { _ = kill(-$0, SIGKILL) } }
    }

    private func execute() throws -> [UInt8] {
        let described = "secret command '\(name)' (\(command.executable))"
        var output = [Int32](repeating: -1, count: 2)
        var errors = [Int32](repeating: -1, count: 2)
        guard Self.makePipe(&output) else {
            throw SecretError(.unreadable, "cannot start \(described): no pipe")
        }
        guard Self.makePipe(&errors) else {
            close(output[0])
            close(output[1])
            throw SecretError(.unreadable, "cannot start \(described): no pipe")
        }
        var readEnds = [output[0], errors[0]]
        defer { for descriptor in readEnds where descriptor >= 0 { close(descriptor) } }
        let pid: pid_t
        do {
            defer {
                close(output[1])
                close(errors[1])
            }
            pid = try spawn(stdout: output[1], stderr: errors[1], described: described)
        }
        group.withLock { $0 = pid }
        defer { group.withLock { $0 = 0 } }
        if cancelled.load(ordering: .relaxed) { _ = kill(-pid, SIGKILL) }

        let deadline = ContinuousClock.now + command.timeout
        var stdout: [UInt8] = []
        var stderrBytes = 0
        var tooLarge = false
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while readEnds.contains(where: { $0 >= 0 }) {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                timedOut = true
                break
            }
            var polls = readEnds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let milliseconds = Int32(clamping: Int64((remaining / .milliseconds(1)).rounded(.up)))
            let ready = poll(&polls, nfds_t(polls.count), milliseconds)
            if ready < 0 && errno != EINTR { break }
            for index in polls.indices where polls[index].fd >= 0 && polls[index].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(polls[index].fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 {
                    close(readEnds[index])
                    readEnds[index] = -1
                    continue
                }
                if index == 0 {
                    stdout += buffer[0..<count]
                    if stdout.count > maxBytes {
                        tooLarge = true
                        break
                    }
                } else {
                    // Standard error is drained so the command cannot block on it, then discarded unread.
                    stderrBytes += count
                }
            }
            if tooLarge { break }
        }
        if timedOut || tooLarge { _ = kill(-pid, SIGKILL) }
        let status = reap(pid, deadline: timedOut || tooLarge ? ContinuousClock.now : deadline)
        if cancelled.load(ordering: .relaxed) { throw CancellationError() }
        if tooLarge {
            throw SecretError(.invalidFormat, "\(described) printed more than \(maxBytes) bytes and was killed")
        }
        guard !timedOut, let exit = status else {
            throw SecretError(.unreadable, "\(described) did not finish within \(command.timeout) and was killed")
        }
        let note = stderrBytes > 0 ? " (its standard error is not shown: it may contain the secret)" : ""
        if exit & 0x7F != 0 {
            throw SecretError(.unreadable, "\(described) was killed by signal \(exit & 0x7F)\(note)")
        }
        let code = (exit >> 8) & 0xFF
        guard code == 0 else {
            throw SecretError(.unreadable, "\(described) failed with exit status \(code)\(note)")
        }
        return stdout
    }

    /// A pipe whose ends close on exec.
    private static func makePipe(_ descriptors: inout [Int32]) -> Bool {
        outpost_cloexec_pipe(&descriptors) == 0
    }

    /// Spawns the command in its own process group with stdin from /dev/null and the given output descriptors.
    /// It is killed if this thread ends first (PR_SET_PDEATHSIG): with the job process, however that dies.
    private func spawn(stdout: Int32, stderr: Int32, described: String) throws -> pid_t {
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard devNull >= 0 else {
            throw SecretError(.unreadable, "cannot start \(described): /dev/null: \(String(cString: strerror(errno)))")
        }
        defer { close(devNull) }
        let inherited = ProcessInfo.processInfo.environment
        var environment: [String: String] = [:]
        for name in command.inheritedVariables { if let value = inherited[name] { environment[name] = value } }
        environment.merge(command.environment) { $1 }
        let argv = ([command.executable] + command.arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = outpost_spawn_job(command.executable, argv, envp, nil, nil, devNull, stdout, stderr, &pid)
        guard result == 0 else {
            throw SecretError(.unreadable, "cannot start \(described): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// Waits for the child until `deadline`, then kills its group and waits for good; nil if it had to be killed.
    private func reap(_ pid: pid_t, deadline: ContinuousClock.Instant) -> Int32? {
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return status }
            if result < 0 && errno != EINTR { return nil }
            usleep(5_000)
        }
        _ = kill(-pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return nil
    }
}
