internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// CPU, memory and disk figures of the host for heartbeats, read from `/proc` and `statvfs`.
///
/// CPU is the busy share of all cores between two calls, so the first call reports nothing.
final class HostStatistics: Sendable {
    private struct CPUSample: Sendable {
        var busy: UInt64
        var total: UInt64
    }

    private let previous = MutexBox<CPUSample?>(nil)

    /// Percent of all cores busy since the previous call (0…100), or nil on the first call.
    func cpuPercent() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first, line.hasPrefix("cpu ")
        else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard values.count >= 4 else { return nil }
        let idle = values[3] + (values.count > 4 ? values[4] : 0)
        let total = values.reduce(0, +)
        let sample = CPUSample(busy: total - idle, total: total)
        let last = previous.exchange(sample)
        guard let last, sample.total > last.total else { return nil }
        return Double(sample.busy - last.busy) / Double(sample.total - last.total) * 100
    }

    /// Bytes of memory in use on the host (total minus available).
    func memoryUsedBytes() -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        var total: Int64?
        var available: Int64?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kilobytes = Int64(parts[1]) else { continue }
            if parts[0] == "MemTotal:" { total = kilobytes * 1024 }
            if parts[0] == "MemAvailable:" { available = kilobytes * 1024 }
        }
        guard let total, let available else { return nil }
        return total - available
    }

    /// Bytes free for unprivileged users on the file system holding `path`.
    func diskFreeBytes(path: String) -> Int64? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }

    /// This process's resident set size in bytes.
    static func residentBytes() -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let parts = text.split(separator: " ")
        guard parts.count >= 2, let pages = Int64(parts[1]) else { return nil }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
