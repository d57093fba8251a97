import Connectors
import Logging

/// Shows extraction progress while it runs: a redrawn status line on a terminal, a log line every few
/// seconds otherwise.
struct ProgressDisplay {
    let progress: ExtractionProgress
    let interactive: Bool
    let logger: Logger

    /// Runs `work` with the display beside it; the display stops when the work ends.
    func run<Result: Sendable>(_ work: @escaping @Sendable () async throws -> Result) async throws -> Result {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                await display()
                return nil
            }
            // Clear the status line on every way out, so an error message starts on a clean line.
            defer {
                group.cancelAll()
                clear()
            }
            while let value = try await group.next() {
                if let value { return value }
            }
            throw CancellationError()
        }
    }

    private func display() async {
        let start = ContinuousClock.now
        let interval: Duration = interactive ? .milliseconds(200) : .seconds(5)
        let spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
        var tick = 0
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { break }
            let count = progress.recordsWritten
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rate = seconds > 0 ? Int(Double(count) / seconds) : 0
            if interactive {
                tick += 1
                Terminal.writeStandardError(
                    "\r\u{1B}[K\(spinner[tick % spinner.count]) \(count.grouped) objects · \(rate.grouped)/s · "
                        + clock(elapsed))
            } else {
                logger.notice(
                    "extract.progress",
                    metadata: [
                        "progress.objects": "\(count)", "progress.rate_per_second": "\(rate)",
                        "progress.elapsed": "\(clock(elapsed))",
                    ])
            }
        }
    }

    private func clear() {
        if interactive { Terminal.writeStandardError("\r\u{1B}[K") }
    }

    private func clock(_ duration: Duration) -> String {
        let total = Int(duration.components.seconds)
        return "\(total / 60):\(String(total % 60).leftPadded(2))"
    }
}

extension Int {
    /// `12345` as `12,345`.
    var grouped: String {
        let digits = String(self.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return (self < 0 ? "-" : "") + out
    }
}
