import Foundation

/// The live processes of this machine, read from `/proc`: what a test checks when it wants to know that a program
/// left nothing running behind it.
public enum ProcessTable {
    /// One process: its id, parent, process group and command line.
    public struct Entry: Sendable, Equatable {
        public var pid: Int32
        public var parent: Int32
        public var group: Int32
        /// The command line with its arguments separated by spaces.
        public var commandLine: String
    }

    /// Every process that is alive now (zombies included: they still hold their id).
    public static func entries() -> [Entry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { name in
            guard name.allSatisfy(\.isNumber), let pid = Int32(name) else { return nil }
            return entry(pid)
        }
    }

    /// The process `pid`, or nil when it is gone.
    public static func entry(_ pid: Int32) -> Entry? {
        // `pid (comm) state ppid pgrp …`: comm may contain spaces and parentheses, so read after its last `)`.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let parent = Int32(fields[1]), let group = Int32(fields[2]) else { return nil }
        let bytes = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
        let commandLine = String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            .trimmingCharacters(in: .whitespaces)
        return Entry(pid: pid, parent: parent, group: group, commandLine: commandLine)
    }

    /// The ids of processes whose command line contains `text`.
    public static func processes(mentioning text: String) -> [String] {
        entries().filter { $0.commandLine.contains(text) }.map { String($0.pid) }
    }

    /// The processes in process group `group`.
    public static func members(ofGroup group: Int32) -> [Entry] {
        entries().filter { $0.group == group }
    }

    /// The children of `pid`, their children, and so on.
    public static func descendants(of pid: Int32) -> [Entry] {
        let all = entries()
        var found: [Entry] = []
        var parents: Set<Int32> = [pid]
        while true {
            let next = all.filter { parents.contains($0.parent) && !found.contains($0) }
            if next.isEmpty { return found }
            found += next
            parents = Set(next.map(\.pid))
        }
    }
}
