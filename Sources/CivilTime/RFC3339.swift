// The CivilTime module is time as text and dates without Foundation's calendars: what the protocol's timestamps,
// the metadata files, the audit ledger, SigV4's dates and the scheduler's cron slots need. It depends on nothing.

/// RFC 3339 timestamps as Outpost writes them everywhere — UTC, milliseconds, `2025-01-31T12:34:56.789Z` — and as it
/// reads them (any fraction, `Z` or a `±HH:MM` offset), with integer arithmetic: the format is fixed, and Foundation's
/// formatters would load ICU's time-zone data into every process that stamps a line.
public enum RFC3339 {
    /// `2025-01-31T12:34:56.789Z` for an instant given in milliseconds since 1970-01-01T00:00:00Z.
    public static func format(millisecondsSince1970 milliseconds: Int64) -> String {
        let days = milliseconds >= 0 ? milliseconds / 86_400_000 : (milliseconds - 86_399_999) / 86_400_000
        let millisecondOfDay = milliseconds - days * 86_400_000
        let (year, month, day) = CivilCalendar.date(daysSince1970: days)
        let seconds = millisecondOfDay / 1000
        var text = ""
        text.reserveCapacity(24)
        append(year, digits: 4, to: &text)
        text.append("-")
        append(month, digits: 2, to: &text)
        text.append("-")
        append(day, digits: 2, to: &text)
        text.append("T")
        append(seconds / 3600, digits: 2, to: &text)
        text.append(":")
        append(seconds / 60 % 60, digits: 2, to: &text)
        text.append(":")
        append(seconds % 60, digits: 2, to: &text)
        text.append(".")
        append(millisecondOfDay % 1000, digits: 3, to: &text)
        text.append("Z")
        return text
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (`T` and `Z` in either case) into milliseconds since
    /// 1970-01-01T00:00:00Z, the fraction truncated to milliseconds and a leap second read as :59; nil for anything
    /// else.
    public static func parse(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count else { return nil }
            var value: Int64 = 0
            for index in range {
                guard bytes[index] >= 48, bytes[index] <= 57 else { return nil }
                value = value * 10 + Int64(bytes[index] - 48)
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var fractionMilliseconds: Int64 = 0
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                if digits < 3 { fractionMilliseconds = fractionMilliseconds * 10 + Int64(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            if digits < 3 { for _ in digits..<3 { fractionMilliseconds *= 10 } }
        }
        guard index < bytes.count else { return nil }
        var offsetSeconds: Int64 = 0
        if bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z") {
            guard index + 1 == bytes.count else { return nil }
        } else {
            guard bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-"), index + 6 == bytes.count,
                bytes[index + 3] == UInt8(ascii: ":"), let offsetHours = number(index + 1..<index + 3),
                let offsetMinutes = number(index + 4..<index + 6), offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
        }
        let days = CivilCalendar.daysSince1970(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetSeconds
        return seconds * 1000 + fractionMilliseconds
    }

    private static func append(_ value: Int64, digits: Int, to text: inout String) {
        let decimal = String(value)
        if decimal.utf8.count < digits { text.append(String(repeating: "0", count: digits - decimal.utf8.count)) }
        text.append(decimal)
    }
}
