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

    /// Ships as the log grows, every `interval`, until cancelled.
    ///
    /// A failed round is retried after an exponential backoff with full jitter (from `interval` up to `retryCap`),
    /// so an unreachable or refusing control plane is not asked twice a second; nothing is lost meanwhile, since the
    /// spool keeps the log and `complete` ships the rest. A streak of failures logs one warning (at its first
    /// failure the control plane did not merely fail to answer), the rest at debug level, and one line when
    /// shipping works again.
    func run(interval: Duration, retryCap: Duration = .seconds(30)) async {
        var backoff = Backoff(base: interval, cap: max(interval, retryCap))
        var failures = 0
        var warned = false
        while !Task.isCancelled {
            var wait = interval
            do {
                try await shipAvailable()
                if failures > 0 {
                    logger.info("log.ship_resumed", metadata: ["log.failed_rounds": "\(failures)"])
                }
                failures = 0
                warned = false
                backoff.reset()
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                let agentError = error as? AgentError
                wait = backoff.next(retryAfter: agentError?.retryAfter)
                let transient = agentError.map { $0.isRetryable || $0.code == .apiKeyUnavailable } ?? false
                if transient || warned {
                    logger.debug(
                        "log.ship_deferred",
                        metadata: ["error": "\(error)", "log.failed_rounds": "\(failures)", "log.retry_in": "\(wait)"])
                } else {
                    warned = true
                    logger.warning("log.ship_failed", metadata: ["error": "\(error)", "log.retry_in": "\(wait)"])
                }
            }
            do {
                try await Task.sleep(for: wait)
            } catch {
                return
            }
        }
    }
}
