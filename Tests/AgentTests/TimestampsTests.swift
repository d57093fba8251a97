import Foundation
import Testing

@testable import Agent

/// The agent stamps log lines, protocol messages and audit entries without Foundation's ISO 8601 format style (it
/// loads ICU's time-zone data): the text must stay exactly what that style writes.
@Suite("Timestamps")
struct TimestampsTests {
    static let foundationStyle = Date.ISO8601FormatStyle().year().month().day()
        .time(includingFractionalSeconds: true).timeZone(separator: .omitted)

    /// Edges (epochs, leap days, century years, the last millisecond of a second, instants just before the
    /// reference date) and a deterministic spread of instants from 1900 to 2200 at sub-millisecond resolution.
    static var dates: [Date] {
        // Seconds since 2001-01-01 (the reference date); 978,307,200 s separate it from 1970-01-01.
        let epoch: Double = 978_307_200
        let edges: [Double] = [
            0, -0.0005, 0.0005, 0.9995, 0.9999999, 1 - 1e-12, -1, -epoch, -epoch - 0.001,
            951_782_400 - epoch, 4_107_542_400 - epoch, 1_767_225_599.999 - epoch, 1_767_225_599.9995 - epoch,
            1_709_164_800.5 - epoch,
        ]
        var dates = edges.map { Date(timeIntervalSinceReferenceDate: $0) }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let fraction = Double(state >> 11) / Double(1 << 53)
            dates.append(Date(timeIntervalSince1970: -2_208_988_800 + fraction * 9_467_280_000))
        }
        for step in 0..<5_000 {
            dates.append(Date(timeIntervalSince1970: 1_767_225_600 + Double(step) * 0.000_123_4))
        }
        return dates
    }

    @Test func formattingWritesWhatFoundationsISO8601StyleWrites() {
        for date in Self.dates {
            let expected = date.formatted(Self.foundationStyle)
            let formatted = Timestamps.format(date)
            guard formatted == expected else {
                Issue.record("\(date.timeIntervalSinceReferenceDate): \(formatted) instead of \(expected)")
                return
            }
        }
    }

    @Test func aFormattedTimestampReadsBackToTheSameMillisecond() throws {
        let date = Date(timeIntervalSince1970: 1_767_225_600.25)
        let text = Timestamps.format(date)
        #expect(text == "2026-01-01T00:00:00.250Z")
        let parsed = try #require(Timestamps.parse(text))
        #expect(parsed == date)
        #expect(AuditLedger.timestamp(date) == text)
    }
}
