import Agent
import Foundation
import OutpostTesting
import Synchronization
import Testing

@Suite("Job processes")
struct JobProcessTests {
    func collect(_ process: JobProcess) async -> String {
        var text: [UInt8] = []
        for await piece in process.output() { text += piece }
        return String(decoding: text, as: UTF8.self)
    }

    @Test func aJobGetsItsOwnProcessGroupOnlyTheGivenEnvironmentAndItsLimits() async throws {
        let directory = try TemporaryDirectory()
        let process = try JobProcess(
            executable: "/bin/sh",
            arguments: [
                "-c", "cat; echo; ps -o pgid= -p $$; env | sort; pwd; cat /proc/self/limits; ls /proc/self/fd",
            ],
            environment: ["PATH": "/usr/bin:/bin", "ONLY": "this"], workingDirectory: directory.path,
            limits: .init(
                addressSpaceBytes: 1 << 31, cpuSeconds: 77, openFiles: 99, fileSizeBytes: 1 << 30),
            input: Array("envelope".utf8))
        let output = await collect(process)
        #expect(await process.wait() == .exited(0))
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.first == "envelope")
        #expect(
            lines.contains(String(process.pid)) || lines.contains(" \(process.pid)")
                || output.contains("\(process.pid)\n"))
        #expect(output.contains("ONLY=this"))
        #expect(!output.contains("HOME="))
        #expect(output.contains(directory.path))
        #expect(output.contains("Max cpu time              77"))
        #expect(output.contains("Max open files            99"))
        // stdin, stdout, stderr and the descriptor `ls` opens itself; nothing of ours leaked in.
        let descriptors = lines.suffix(4)
        #expect(descriptors.allSatisfy { Int($0) ?? 99 <= 3 }, "\(descriptors)")
    }

    @Test func stoppingKillsTheWholeGroupEvenAChildThatIgnoresSIGTERM() async throws {
        let directory = try TemporaryDirectory()
        let process = try JobProcess(
            executable: "/bin/sh",
            arguments: ["-c", "sh -c 'trap \"\" TERM; sleep 60' & echo started; wait"],
            environment: ["PATH": "/usr/bin:/bin"], workingDirectory: directory.path,
            limits: .init(addressSpaceBytes: nil, cpuSeconds: nil, openFiles: nil, fileSizeBytes: nil), input: [])
        let output = process.output()
        var iterator = output.makeAsyncIterator()
        _ = await iterator.next()
        let started = ContinuousClock.now
        await process.stop(grace: .milliseconds(500))
        #expect(ContinuousClock.now - started < .seconds(5))
        // No live process is left in the group (an unreaped zombie is dead already). SIGKILL is delivered at once
        // but a killed process takes a moment to finish exiting, more so on a busy machine.
        let deadline = ContinuousClock.now + .seconds(3)
        while !livingMembers(ofGroup: process.pid).isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(livingMembers(ofGroup: process.pid).isEmpty)
    }

    @Test func aJobOutlivesTheThreadThatStartedIt() async throws {
        // The child is killed when the thread that forked it exits (PR_SET_PDEATHSIG), and the threads jobs are
        // started from (Swift's pool) exit when idle: a job must not depend on its caller's thread living on.
        let directory = try TemporaryDirectory()
        let started = Mutex<Result<JobProcess, any Error>?>(nil)
        let thread = Thread {
            started.withLock {
                $0 = Result {
                    try JobProcess(
                        executable: "/bin/sh", arguments: ["-c", "sleep 1; echo still here"],
                        environment: ["PATH": "/usr/bin:/bin"], workingDirectory: directory.path,
                        limits: .init(addressSpaceBytes: nil, cpuSeconds: nil, openFiles: nil, fileSizeBytes: nil),
                        input: [])
                }
            }
        }
        thread.start()
        let deadline = ContinuousClock.now + .seconds(10)
        while started.withLock({ $0 == nil }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let process = try #require(try started.withLock { $0 }?.get())
        #expect(await collect(process) == "still here\n")
        #expect(await process.wait() == .exited(0))
    }

    @Test func aMissingExecutableIsAClearError() throws {
        let directory = try TemporaryDirectory()
        #expect(throws: AgentError.self) {
            _ = try JobProcess(
                executable: "/nonexistent/outpost", arguments: [], environment: [:],
                workingDirectory: directory.path,
                limits: .init(addressSpaceBytes: nil, cpuSeconds: nil, openFiles: nil, fileSizeBytes: nil), input: [])
        }
    }
}

/// Processes of group `pgid` that are not zombies, from /proc.
func livingMembers(ofGroup pgid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
        guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)": state, ppid, pgrp, …
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, fields[0] != "Z", Int32(fields[2]) == pgid else { return nil }
        return pid
    }
}
