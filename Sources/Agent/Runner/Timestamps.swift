internal import CivilTime
internal import Foundation

/// RFC 3339 timestamps as the protocol writes them (UTC, milliseconds) and as it may read them (with or without
/// fractional seconds, `Z` or an offset): CivilTime's codec for `Date`s.
///
/// Foundation's format styles build a Gregorian `Calendar` with the current `TimeZone`, which makes ICU load its
/// time-zone data (about a megabyte that an idle agent would keep resident for its whole life); every log line and
/// ledger entry is stamped, so this is done without Foundation's calendars.
enum Timestamps {
    static func now() -> String { format(Date()) }

    /// `2026-01-01T00:00:00.000Z`, milliseconds truncated (as Foundation's ISO 8601 style truncates them).
    static func format(_ date: Date) -> String {
        RFC3339.format(millisecondsSince1970: milliseconds(date))
    }

    static func parse(_ text: String) -> Date? {
        RFC3339.parse(text).map { Date(timeIntervalSince1970: Double($0) / 1000) }
    }

    /// Whole milliseconds since 1970, rounded down, from the reference-date interval so that no precision is lost to
    /// the larger 1970 offset first.
    static func milliseconds(_ date: Date) -> Int64 {
        let interval = date.timeIntervalSinceReferenceDate
        let whole = interval.rounded(.down)
        let milliseconds = min(999, Int64(((interval - whole) * 1000).rounded(.towardZero)))
        return (Int64(whole) + 978_307_200) * 1000 + milliseconds
    }
}
