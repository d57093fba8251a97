internal import Foundation
internal import OutpostProtocol

/// RFC 3339 timestamps as the protocol writes them (UTC, milliseconds) and as it may read them (with or without
/// fractional seconds).
enum Timestamps {
    static func now() -> String { format(Date()) }

    /// `2026-01-01T00:00:00.000Z`: the same text as Foundation's
    /// `.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)`,
    /// computed with integer arithmetic on the proleptic Gregorian calendar in UTC.
    ///
    /// Foundation's format style builds a Gregorian `Calendar` with the current `TimeZone`, which makes ICU load its
    /// time-zone data (about a megabyte that an idle agent would keep resident for its whole life); every log line
    /// and ledger entry is stamped, so this is done without Foundation. Milliseconds are truncated, as Foundation
    /// truncates them.
    static func format(_ date: Date) -> String {
        let interval = date.timeIntervalSinceReferenceDate
        let whole = interval.rounded(.down)
        var milliseconds = Int64(((interval - whole) * 1000).rounded(.towardZero))
        var seconds = Int64(whole) + 978_307_200
        if milliseconds >= 1000 {
            milliseconds -= 1000
            seconds += 1
        }
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = CivilCalendar.date(daysSince1970: days)
        var text = ""
        text.reserveCapacity(24)
        append(year, digits: 4, to: &text)
        text.append("-")
        append(month, digits: 2, to: &text)
        text.append("-")
        append(day, digits: 2, to: &text)
        text.append("T")
        append(secondOfDay / 3600, digits: 2, to: &text)
        text.append(":")
        append(secondOfDay / 60 % 60, digits: 2, to: &text)
        text.append(":")
        append(secondOfDay % 60, digits: 2, to: &text)
        text.append(".")
        append(milliseconds, digits: 3, to: &text)
        text.append("Z")
        return text
    }

    static func parse(_ text: String) -> Date? {
        let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return (try? fractional.parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
    }

    private static func append(_ value: Int64, digits: Int, to text: inout String) {
        let decimal = String(value)
        if decimal.utf8.count < digits { text.append(String(repeating: "0", count: digits - decimal.utf8.count)) }
        text.append(decimal)
    }
}
