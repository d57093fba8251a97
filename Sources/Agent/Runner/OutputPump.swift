internal import Logging
internal import Secrets

/// Moves a job process's output into the run's spooled log, masking what the agent itself knows to be secret
/// (its API key) on top of the job's own redaction.
///
/// When the spool is full the bytes are counted as dropped — the run goes on and `complete` reports the loss.
final class OutputPump: Sendable {
    private let tracker: RunTracker
    private let stream: MutexBox<RedactingStream>
    private let metrics: AgentMetrics?
    private let logger: Logger

    init(tracker: RunTracker, redactor: Redactor, metrics: AgentMetrics?, logger: Logger) {
        self.tracker = tracker
        self.stream = MutexBox(RedactingStream(redactor: redactor))
        self.metrics = metrics
        self.logger = logger
    }

    /// Appends everything the process writes until it closes its output.
    func drain(_ output: AsyncStream<[UInt8]>) async {
        for await piece in output {
            let clean = stream.withLock { $0.push(piece) }
            await append(clean)
        }
    }

    /// Appends whatever the redactor still held back.
    func finish() async throws {
        let tail = stream.withLock { $0.finish() }
        await append(tail)
    }

    private func append(_ bytes: [UInt8]) async {
        guard !bytes.isEmpty else { return }
        let runId = await tracker.runId
        do {
            _ = try tracker.spool.appendLog(runId: runId, bytes)
        } catch {
            metrics?.logBytesDropped(bytes.count)
            try? await tracker.update { $0.logDropped += Int64(bytes.count) }
            logger.warning("log.dropped", metadata: ["bytes": "\(bytes.count)", "error": "\(error)"])
        }
    }
}
