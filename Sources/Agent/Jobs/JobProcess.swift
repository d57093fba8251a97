internal import CJobSpawn
internal import Foundation
internal import Synchronization

#if canImport(Glibc)
    internal import Glibc
#endif

/// One job's child process: its own process group, an environment built by the caller, a working directory of
/// its own, the job envelope on stdin, and stdout and stderr merged into one pipe the agent reads.
///
/// Stopping is always done to the whole group (`kill(-pgid)`), so whatever the job started dies with it.
public final class JobProcess: Sendable {
    /// How the process ended.
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    public let pid: Int32
    private let outputDescriptor: Int32
    private let ending: Ending

    /// Resource limits the job process starts with (setrlimit before exec).
    public struct Limits: Sendable, Equatable {
        public var addressSpaceBytes: Int64?
        public var cpuSeconds: Int64?
        public var openFiles: Int64?
        public var fileSizeBytes: Int64?

        public init(addressSpaceBytes: Int64?, cpuSeconds: Int64?, openFiles: Int64?, fileSizeBytes: Int64?) {
            self.addressSpaceBytes = addressSpaceBytes
            self.cpuSeconds = cpuSeconds
            self.openFiles = openFiles
            self.fileSizeBytes = fileSizeBytes
        }
    }

    /// Starts `executable` and feeds it `input` on stdin (then closes stdin).
    ///
    /// - Throws: `AgentError` `.job` when the process cannot be started.
    public init(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String,
        limits: Limits, input: [UInt8]
    ) throws {
        var inputPipe: [Int32] = [-1, -1]
        var outputPipe: [Int32] = [-1, -1]
        guard outpost_cloexec_pipe(&inputPipe) == 0 else { throw Self.failure("cannot create a pipe") }
        guard outpost_cloexec_pipe(&outputPipe) == 0 else {
            close(inputPipe[0])
            close(inputPipe[1])
            throw Self.failure("cannot create a pipe")
        }
        // The child dies with the thread that forked it (PR_SET_PDEATHSIG), and Swift's cooperative threads come
        // and go: so a thread of its own spawns the job and stays, blocked in waitpid, until the job has ended.
        let launch = Launch()
        let ending = Ending()
        self.ending = ending
        let cLimits = outpost_job_limits(
            address_space_bytes: limits.addressSpaceBytes ?? -1, cpu_seconds: limits.cpuSeconds ?? -1,
            open_files: limits.openFiles ?? -1, file_size_bytes: limits.fileSizeBytes ?? -1)
        let (stdinEnd, outputEnd) = (inputPipe[0], outputPipe[1])
        let thread = Thread {
            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
            var child: Int32 = 0
            var spawnLimits = cLimits
            let result = outpost_spawn_job(
                executable, argv, envp, workingDirectory, &spawnLimits, stdinEnd, outputEnd, -1, &child)
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
            launch.finish(result: result, pid: child)
            guard result == 0 else { return }
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            ending.finish((status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f))
        }
        thread.name = "job-process"
        thread.start()
        let (result, child) = launch.wait()
        close(inputPipe[0])
        close(outputPipe[1])
        guard result == 0 else {
            close(inputPipe[1])
            close(outputPipe[0])
            throw Self.failure("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        pid = child
        outputDescriptor = outputPipe[0]
        let inputDescriptor = inputPipe[1]
        // The envelope may exceed the pipe's buffer; a thread writes it so the caller never blocks on the child.
        Thread.detachNewThread {
            input.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(inputDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 && errno == EINTR { continue }
                    if written <= 0 { break }
                    offset += written
                }
            }
            close(inputDescriptor)
        }
    }

    /// The merged stdout/stderr, in pieces as they arrive, ending when the process (and every process that
    /// inherited the pipe) has closed it.
    public func output() -> AsyncStream<[UInt8]> {
        let descriptor = outputDescriptor
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .unbounded)
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                continuation.yield(Array(buffer[0..<count]))
            }
            close(descriptor)
            continuation.finish()
        }
        return stream
    }

    /// Waits for the process to end.
    public func wait() async -> Termination {
        await ending.wait()
    }

    /// The termination, if the process has ended.
    public var ended: Termination? { ending.termination }

    /// Sends `signal` to the whole process group (after the leader has ended, to stragglers left in it).
    public func signalGroup(_ signal: Int32) {
        _ = kill(-pid, signal)
    }

    /// SIGTERM to the group, then SIGKILL after `grace` if the process is still there.
    public func stop(grace: Duration) async {
        signalGroup(SIGTERM)
        let ended = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = await self.wait()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: grace)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !ended { signalGroup(SIGKILL) }
        _ = await wait()
        // Children that ignored SIGTERM after their leader exited.
        _ = kill(-pid, SIGKILL)
    }

    private static func failure(_ message: String) -> AgentError {
        AgentError(.job, message)
    }

    /// The outcome of the spawn, handed from the spawning thread to the initializer.
    private final class Launch: Sendable {
        private let outcome = Mutex<(result: Int32, pid: Int32)?>(nil)
        private let done = DispatchSemaphore(value: 0)

        func finish(result: Int32, pid: Int32) {
            outcome.withLock { $0 = (result, pid) }
            done.signal()
        }

        func wait() -> (result: Int32, pid: Int32) {
            done.wait()
            return outcome.withLock { $0 } ?? (EINVAL, 0)
        }
    }

    /// How the process ended, and who waits for it.
    private final class Ending: Sendable {
        private let state = Mutex<(termination: Termination?, waiters: [CheckedContinuation<Termination, Never>])>(
            (nil, []))

        var termination: Termination? { state.withLock { $0.termination } }

        func finish(_ ended: Termination) {
            let pending = state.withLock { state in
                state.termination = ended
                defer { state.waiters = [] }
                return state.waiters
            }
            for continuation in pending { continuation.resume(returning: ended) }
        }

        func wait() async -> Termination {
            await withCheckedContinuation { continuation in
                let ended = state.withLock { state -> Termination? in
                    if let ended = state.termination { return ended }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ended { continuation.resume(returning: ended) }
            }
        }
    }
}
