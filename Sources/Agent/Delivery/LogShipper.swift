internal import Logging
internal import Metadata

/// Ships one run's log from the spool to the control plane in gzip chunks addressed by byte offset.
///
/// The spool keeps the whole log until the run is complete, so whatever the control plane says it has — more
/// (an acknowledgement was lost) or less (it restarted) — the shipper resumes from exactly that offset. The
/// acknowledged offset is persisted with the run's state.
struct LogShipper: Sendable {
    static let chunkBytes = 256 * 1024

    let client: ControlPlaneClient
    let tracker: RunTracker
    let metrics: AgentMetrics?
    let logger: Logger

    /// Ships every byte the spool holds now; returns when the control plane has all of it.
    ///
    /// - Throws: `AgentError` (retryable when the control plane is unreachable, `.staleLease` when the run is
    ///   gone) or a spool error.
    func shipAvailable() async throws {
        let spool = tracker.spool
        let runId = await tracker.runId
        let leaseId = await tracker.leaseId
        var offset = await tracker.state.logAcknowledged
        while true {
            let end = try spool.logEnd(runId: runId)
            guard offset < end else { return }
            let text = try spool.readLog(runId: runId, from: offset, maxBytes: Self.chunkBytes)
            guard !text.isEmpty else { return }
            let gzip = try Gzip.compress(text)
            let next: Int64
            do {
                next = try await client.sendLog(runId: runId, leaseId: leaseId, offset: offset, gzip: gzip)
                metrics?.logBytesShipped(text.count)
            } catch let error as AgentError where error.code == .offsetMismatch {
                // The server has a different idea of where the log stands: resume from its offset, which the
                // spool still covers (it keeps everything until the run completes).
                guard let expected = error.expectedOffset, expected <= end else { throw error }
                logger.notice(
                    "log.offset_resync",
                    metadata: ["run.id": "\(runId)", "log.offset": "\(offset)", "log.expected": "\(expected)"])
                next = expected
            }
            offset = next
            try await tracker.update { $0.logAcknowledged = next }
        }
    }

    /// Ships as the log grows, every `interval`, until cancelled; retryable failures wait for the next round.
    func run(interval: Duration) async {
        while !Task.isCancelled {
            do {
                try await shipAvailable()
            } catch is CancellationError {
                return
            } catch let error as AgentError where error.isRetryable || error.code == .apiKeyUnavailable {
                logger.debug("log.ship_deferred", metadata: ["error": "\(error)"])
            } catch {
                logger.warning("log.ship_failed", metadata: ["error": "\(error)"])
            }
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }
}
