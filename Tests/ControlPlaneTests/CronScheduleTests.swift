import ControlPlaneStorage
import Testing

@testable import ControlPlane

@Suite("Cron schedules")
struct CronScheduleTests {
    private func time(_ text: String) throws -> Timestamp { try #require(Timestamp(rfc3339: text)) }

    /// The next `count` firing times after `start`, as RFC 3339 strings.
    private func firings(_ expression: String, after start: String, count: Int) throws -> [String] {
        let schedule = try CronSchedule(parsing: expression)
        var current = try time(start)
        var result: [String] = []
        for _ in 0..<count {
            current = try #require(schedule.next(after: current))
            result.append(current.rfc3339)
        }
        return result
    }

    @Test("every minute fires on the next whole minute, never at the instant asked about")
    func everyMinute() throws {
        #expect(
            try firings("* * * * *", after: "2025-03-10T10:00:00.000Z", count: 3) == [
                "2025-03-10T10:01:00.000Z", "2025-03-10T10:02:00.000Z", "2025-03-10T10:03:00.000Z",
            ])
        #expect(
            try firings("* * * * *", after: "2025-03-10T10:00:59.999Z", count: 1) == ["2025-03-10T10:01:00.000Z"])
    }

    @Test("steps, ranges and lists combine within a field")
    func stepsRangesLists() throws {
        #expect(
            try firings("*/15 9-10 * * *", after: "2025-03-10T08:59:00.000Z", count: 9) == [
                "2025-03-10T09:00:00.000Z", "2025-03-10T09:15:00.000Z", "2025-03-10T09:30:00.000Z",
                "2025-03-10T09:45:00.000Z", "2025-03-10T10:00:00.000Z", "2025-03-10T10:15:00.000Z",
                "2025-03-10T10:30:00.000Z", "2025-03-10T10:45:00.000Z", "2025-03-11T09:00:00.000Z",
            ])
        #expect(
            try firings("5,10-20/5,59 0 * * *", after: "2025-03-10T00:00:00.000Z", count: 5) == [
                "2025-03-10T00:05:00.000Z", "2025-03-10T00:10:00.000Z", "2025-03-10T00:15:00.000Z",
                "2025-03-10T00:20:00.000Z", "2025-03-10T00:59:00.000Z",
            ])
    }

    @Test("month and weekday names are accepted in any case, also in ranges")
    func names() throws {
        // 2025-03-10 is a Monday.
        #expect(
            try firings("30 6 * * MON-fri", after: "2025-03-14T07:00:00.000Z", count: 2) == [
                "2025-03-17T06:30:00.000Z", "2025-03-18T06:30:00.000Z",
            ])
        #expect(
            try firings("0 0 1 jan,Jul *", after: "2025-03-10T00:00:00.000Z", count: 2) == [
                "2025-07-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z",
            ])
    }

    @Test("day of week 7 is Sunday like 0")
    func sundaySeven() throws {
        let seven = try firings("0 12 * * 7", after: "2025-03-10T00:00:00.000Z", count: 2)
        #expect(seven == ["2025-03-16T12:00:00.000Z", "2025-03-23T12:00:00.000Z"])
        #expect(try firings("0 12 * * 0", after: "2025-03-10T00:00:00.000Z", count: 2) == seven)
        #expect(try firings("0 12 * * 5-7", after: "2025-03-10T00:00:00.000Z", count: 3).count == 3)
    }

    @Test("restricted day of month and day of week match either (Vixie cron's OR)")
    func dayFieldsOr() throws {
        // The 13th of the month or any Friday: 2025-06-06 (Fri), 06-13 (Fri, 13th), 06-20 (Fri), 06-27 (Fri),
        // 07-04 (Fri), 07-11 (Fri), 07-13 (Sun, 13th).
        #expect(
            try firings("0 0 13 * 5", after: "2025-06-01T00:00:00.000Z", count: 7) == [
                "2025-06-06T00:00:00.000Z", "2025-06-13T00:00:00.000Z", "2025-06-20T00:00:00.000Z",
                "2025-06-27T00:00:00.000Z", "2025-07-04T00:00:00.000Z", "2025-07-11T00:00:00.000Z",
                "2025-07-13T00:00:00.000Z",
            ])
    }

    @Test("a day field starting with * makes the other one decide (AND), as in Vixie cron")
    func starDayFieldAnd() throws {
        // `*/2` starts with `*`: every second day of the month that is also a Monday.
        #expect(
            try firings("0 0 */2 * 1", after: "2025-03-01T00:00:00.000Z", count: 3) == [
                "2025-03-03T00:00:00.000Z", "2025-03-17T00:00:00.000Z", "2025-03-31T00:00:00.000Z",
            ])
        #expect(
            try firings("0 0 15 * *", after: "2025-03-01T00:00:00.000Z", count: 2) == [
                "2025-03-15T00:00:00.000Z", "2025-04-15T00:00:00.000Z",
            ])
    }

    @Test("29 February fires only in leap years, and the 31st skips short months")
    func calendarEdges() throws {
        #expect(
            try firings("0 0 29 2 *", after: "2025-01-01T00:00:00.000Z", count: 2) == [
                "2028-02-29T00:00:00.000Z", "2032-02-29T00:00:00.000Z",
            ])
        #expect(
            try firings("0 0 31 * *", after: "2025-01-31T00:00:00.000Z", count: 3) == [
                "2025-03-31T00:00:00.000Z", "2025-05-31T00:00:00.000Z", "2025-07-31T00:00:00.000Z",
            ])
        #expect(
            try firings("59 23 31 12 *", after: "2025-12-31T23:59:00.000Z", count: 1) == ["2026-12-31T23:59:00.000Z"])
    }

    @Test(
        "macros expand to their five-field forms",
        arguments: [
            ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"),
            ("@weekly", "0 0 * * 0"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@HOURLY", "0 * * * *"),
        ])
    func macros(macro: String, expanded: String) throws {
        #expect(
            try firings(macro, after: "2025-03-10T10:20:00.000Z", count: 3)
                == firings(expanded, after: "2025-03-10T10:20:00.000Z", count: 3))
        #expect(try CronSchedule(parsing: macro).expression == macro)
    }

    @Test("matches tells whether a time's minute is a firing")
    func matching() throws {
        let schedule = try CronSchedule(parsing: "30 6 * * 1-5")
        #expect(schedule.matches(try time("2025-03-10T06:30:42.000Z")))
        #expect(!schedule.matches(try time("2025-03-10T06:31:00.000Z")))
        #expect(!schedule.matches(try time("2025-03-15T06:30:00.000Z")))
    }

    @Test(
        "bad expressions are refused with a message naming the problem",
        arguments: [
            ("* * * *", "five fields"),
            ("* * * * * *", "five fields"),
            ("60 * * * *", "out of range for the minute"),
            ("* 24 * * *", "out of range for the hour"),
            ("* * 0 * *", "out of range for the day of month"),
            ("* * * 13 *", "out of range for the month"),
            ("* * * * 8", "out of range for the day of week"),
            ("* * * foo *", "not a valid month"),
            ("* * * * funday", "not a valid day of week"),
            ("5-1 * * * *", "runs backwards"),
            ("5/10 * * * *", "needs a range or '*'"),
            ("*/0 * * * *", "positive number"),
            ("*/x * * * *", "positive number"),
            ("1,,2 * * * *", "empty list element"),
            ("1-2-3 * * * *", "not a value or a range"),
            ("0 0 30 2 *", "can never fire"),
            ("0 0 31 apr,jun *", "can never fire"),
            ("@reboot", "unknown schedule macro"),
            ("-1 * * * *", "not a valid minute"),
        ])
    func refusals(expression: String, message: String) {
        #expect {
            _ = try CronSchedule(parsing: expression)
        } throws: { error in
            (error as? CronParseError)?.message.contains(message) == true
        }
    }

    @Test("a 30 February with a weekday restriction still fires on the weekdays (OR)")
    func impossibleDayWithWeekday() throws {
        #expect(
            try firings("0 0 30 2 mon", after: "2025-02-01T00:00:00.000Z", count: 1) == ["2025-02-03T00:00:00.000Z"])
    }
}
