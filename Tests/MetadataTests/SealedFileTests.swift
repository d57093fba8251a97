import Foundation
import Metadata
import OutpostTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Sealed files")
struct SealedFileTests {
    static let key = [UInt8](repeating: 0x42, count: 32)
    static let segment = 1024 * 1024
    /// One segment on disk: frame (5 bytes) + ciphertext + tag (16 bytes).
    static let fullFrame = 5 + segment + 16
    static let headerSize = 20

    /// Deterministic bytes with a recognisable canary repeated through them.
    static func content(_ size: Int) -> [UInt8] {
        let canary = Array("SEALED-CANARY-".utf8)
        return (0..<size).map { index in
            index % 64 < canary.count ? canary[index % 64] : UInt8(truncatingIfNeeded: index &* 31 &+ 7)
        }
    }

    static func write(_ bytes: [UInt8], to path: String, pieceSize: Int = 300_001) throws {
        let writer = try SealedFileWriter(creating: path, key: key)
        for start in stride(from: 0, to: bytes.count, by: pieceSize) {
            try writer.write(Array(bytes[start..<min(start + pieceSize, bytes.count)]))
        }
        try writer.finish()
    }

    static func readAll(_ path: String, key: [UInt8] = key) throws -> [UInt8] {
        var out: [UInt8] = []
        try SealedFile.read(path: path, key: key) { out += $0 }
        return out
    }

    static func expectFailure(_ code: MetadataError.Code, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected a \(code) error")
        } catch let error as MetadataError {
            #expect(error.code == code, "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test(
        "content round-trips across segment boundaries, encrypted, in a 0600 file",
        arguments: [0, 1, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 2_500_000])
    func roundTrip(_ size: Int) throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/file.sealed"
        let bytes = Self.content(size)
        try Self.write(bytes, to: path)
        #expect(try Self.readAll(path) == bytes)
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(raw.range(of: Data("SEALED-CANARY".utf8)) == nil)
        // Header + one frame per started segment (at least one, the final).
        let segments = max(1, (size + Self.segment - 1) / Self.segment)
        #expect(raw.count == Self.headerSize + segments * 21 + size)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("reading hands over one authenticated segment at a time")
    func segmentsAreBounded() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/file.sealed"
        let bytes = Self.content(3 * Self.segment + 17)
        try Self.write(bytes, to: path, pieceSize: 4096)
        var sizes: [Int] = []
        var out: [UInt8] = []
        try await SealedFile.read(path: path, key: Self.key) { (piece: [UInt8]) async throws in
            sizes.append(piece.count)
            out += piece
        }
        #expect(sizes == [Self.segment, Self.segment, Self.segment, 17])
        #expect(out == bytes)
    }

    @Test("a modified byte anywhere is detected", arguments: [0, 5, 13, 20, 21, 25, 600_000, 20 + 1_048_600])
    func tamper(_ offset: Int) throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/file.sealed"
        try Self.write(Self.content(1_500_000), to: path)
        var raw = try Data(contentsOf: URL(fileURLWithPath: path))
        raw[offset] ^= 0x01
        try raw.write(to: URL(fileURLWithPath: path))
        // The key check (bytes 12..<20) tells a changed header from a changed body.
        let expected: MetadataError.Code =
            (12..<20).contains(offset) || (4..<12).contains(offset) ? .wrongKey : .tampered
        Self.expectFailure(expected) { _ = try Self.readAll(path) }
    }

    @Test("plaintext after a damaged segment is never released")
    func noUnauthenticatedPlaintext() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/file.sealed"
        let bytes = Self.content(3 * Self.segment)
        try Self.write(bytes, to: path)
        var raw = try Data(contentsOf: URL(fileURLWithPath: path))
        raw[Self.headerSize + Self.fullFrame + 100] ^= 0xFF
        try raw.write(to: URL(fileURLWithPath: path))
        var received: [UInt8] = []
        Self.expectFailure(.tampered) { try SealedFile.read(path: path, key: Self.key) { received += $0 } }
        #expect(received == Array(bytes[0..<Self.segment]))
    }

    @Test("truncation is detected, at a segment boundary or inside one", arguments: [1, 16, 21, 1_048_597])
    func truncate(_ cut: Int) throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/file.sealed"
        try Self.write(Self.content(2 * Self.segment + 1), to: path)
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        // 22 bytes is the whole final segment (frame + 1 byte + tag): cutting it leaves a clean boundary.
        try raw.prefix(raw.count - cut).write(to: URL(fileURLWithPath: path))
        Self.expectFailure(.truncated) { _ = try Self.readAll(path) }
        try raw.prefix(raw.count - 22).write(to: URL(fileURLWithPath: path))
        Self.expectFailure(.truncated) { _ = try Self.readAll(path) }
    }

    @Test("a non-final segment relabelled as final is refused")
    func finalFlagForgery() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/file.sealed"
        try Self.write(Self.content(2 * Self.segment + 1), to: path)
        var raw = try Data(contentsOf: URL(fileURLWithPath: path))
        raw = raw.prefix(Self.headerSize + Self.fullFrame)
        raw[Self.headerSize] = 1
        try raw.write(to: URL(fileURLWithPath: path))
        Self.expectFailure(.tampered) { _ = try Self.readAll(path) }
    }

    @Test("swapped segments are detected")
    func reorder() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/file.sealed"
        try Self.write(Self.content(3 * Self.segment + 5), to: path)
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let header = raw[0..<Self.headerSize]
        let first = raw[Self.headerSize..<(Self.headerSize + Self.fullFrame)]
        let second = raw[(Self.headerSize + Self.fullFrame)..<(Self.headerSize + 2 * Self.fullFrame)]
        let rest = raw[(Self.headerSize + 2 * Self.fullFrame)...]
        try Data(Array(header) + second + first + rest).write(to: URL(fileURLWithPath: path))
        Self.expectFailure(.tampered) { _ = try Self.readAll(path) }
    }

    @Test("a segment from another file under the same key is refused")
    func spliced() throws {
        let directory = try TemporaryDirectory()
        let a = directory.path + "/a.sealed"
        let b = directory.path + "/b.sealed"
        try Self.write(Self.content(Self.segment + 1), to: a)
        try Self.write(Self.content(Self.segment + 1), to: b)
        let rawA = [UInt8](try Data(contentsOf: URL(fileURLWithPath: a)))
        let rawB = [UInt8](try Data(contentsOf: URL(fileURLWithPath: b)))
        try Data(Array(rawA[0..<Self.headerSize]) + rawB[Self.headerSize...]).write(to: URL(fileURLWithPath: a))
        Self.expectFailure(.tampered) { _ = try Self.readAll(a) }
    }

    @Test("bytes after the final segment are refused")
    func trailingData() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/file.sealed"
        try Self.write(Self.content(10), to: path)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0]))
        try handle.close()
        Self.expectFailure(.tampered) { _ = try Self.readAll(path) }
    }

    @Test("a wrong key, a short key and a file that is not sealed are reported as such")
    func keys() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/file.sealed"
        try Self.write(Self.content(100), to: path)
        Self.expectFailure(.wrongKey) { _ = try Self.readAll(path, key: [UInt8](repeating: 1, count: 32)) }
        Self.expectFailure(.invalidKey) { _ = try Self.readAll(path, key: [1, 2, 3]) }
        Self.expectFailure(.invalidKey) { _ = try SealedFileWriter(creating: path + "2", key: []) }
        try Data("plain text, not sealed".utf8).write(to: URL(fileURLWithPath: path + "3"))
        Self.expectFailure(.tampered) { _ = try Self.readAll(path + "3") }
    }

    @Test("files are created exclusively; an abandoned file is removed")
    func lifecycle() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/file.sealed"
        try Self.write([1, 2, 3], to: path)
        Self.expectFailure(.io) { _ = try SealedFileWriter(creating: path, key: Self.key) }
        let writer = try SealedFileWriter(creating: path + ".tmp", key: Self.key)
        try writer.write([4, 5, 6])
        writer.abandon()
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        // An unfinished file (writer never finished) reads as truncated.
        let unfinished = try SealedFileWriter(creating: path + ".open", key: Self.key)
        try unfinished.write(Self.content(Self.segment + 10))
        Self.expectFailure(.truncated) { _ = try Self.readAll(path + ".open") }
        try unfinished.finish()
        #expect(try Self.readAll(path + ".open") == Self.content(Self.segment + 10))
    }

    /// Resident memory of this process in KiB, from /proc.
    static func residentKiB() -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
        let pages = Int(text.split(separator: " ")[1]) ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
    }

    @Test("writing and reading a 64 MiB file holds about one segment in memory")
    func boundedMemory() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/big.sealed"
        let piece = Self.content(256 * 1024)
        let baseline = Self.residentKiB()
        var peak = baseline
        let writer = try SealedFileWriter(creating: path, key: Self.key)
        for _ in 0..<256 {
            try writer.write(piece)
            peak = max(peak, Self.residentKiB())
        }
        try writer.finish()
        var total = 0
        var largest = 0
        try SealedFile.read(path: path, key: Self.key) { segment in
            total += segment.count
            largest = max(largest, segment.count)
            peak = max(peak, Self.residentKiB())
        }
        #expect(total == 64 * 1024 * 1024)
        #expect(largest == Self.segment)
        // 64 MiB went through; a few segments' worth of buffers is the most that may stay resident.
        #expect(peak - baseline < 16 * 1024, "resident memory grew by \(peak - baseline) KiB")
    }
}
