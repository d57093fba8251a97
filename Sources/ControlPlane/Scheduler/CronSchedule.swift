internal import CivilTime
public import ControlPlaneStorage

/// A standard five-field cron expression (minute, hour, day of month, month, day of week), evaluated in UTC.
///
/// The grammar is Vixie cron's: `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b-c`, month names
/// `jan`–`dec` and day names `sun`–`sat` (any case, also inside ranges), day of week 0–7 with both 0 and 7 meaning
/// Sunday, and the macros `@yearly` `@annually` `@monthly` `@weekly` `@daily` `@midnight` `@hourly`. As in Vixie
/// cron, when both the day of month and the day of week are restricted (neither field starts with `*`) a day
/// matches if *either* matches; otherwise both must. Expressions that can never fire (`0 0 30 2 *`) are refused
/// when parsed, so `next(after:)` always finds a time.
///
/// A value type without I/O: the scheduler asks it for the next slot, and tests check it without clocks.
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    /// Bit n set: minute n (0–59).
    let minutes: UInt64
    /// Bit n set: hour n (0–23).
    let hours: UInt32
    /// Bit n set: day n of the month (1–31).
    let daysOfMonth: UInt32
    /// Bit n set: month n (1–12).
    let months: UInt16
    /// Bit n set: weekday n (0 = Sunday … 6 = Saturday).
    let daysOfWeek: UInt8
    /// The day-of-month field started with `*` (Vixie's rule for combining the two day fields).
    let dayOfMonthIsStar: Bool
    /// The day-of-week field started with `*`.
    let dayOfWeekIsStar: Bool

    /// The expression as written (trimmed).
    public let expression: String

    public var description: String { expression }

    /// Parses `expression`; throws a `CronParseError` naming the field and what is wrong with it.
    public init(parsing expression: String) throws(CronParseError) {
        let trimmed = expression.trimmingWhitespace
        self.expression = trimmed
        var text = trimmed
        if trimmed.hasPrefix("@") {
            guard let expanded = Self.macros[trimmed.lowercased()] else {
                throw CronParseError(
                    "unknown schedule macro '\(trimmed)' (use @yearly, @annually, @monthly, @weekly, @daily, "
                        + "@midnight or @hourly)")
            }
            text = expanded
        }
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw CronParseError(
                "a schedule has five fields (minute hour day-of-month month day-of-week), not \(fields.count)")
        }
        minutes = try Self.parse(fields[0], field: .minute)
        hours = UInt32(try Self.parse(fields[1], field: .hour))
        daysOfMonth = UInt32(try Self.parse(fields[2], field: .dayOfMonth))
        months = UInt16(try Self.parse(fields[3], field: .month))
        var weekdays = try Self.parse(fields[4], field: .dayOfWeek)
        if weekdays & (1 << 7) != 0 { weekdays = (weekdays & ~(1 << 7)) | 1 }
        daysOfWeek = UInt8(weekdays)
        dayOfMonthIsStar = fields[2].hasPrefix("*")
        dayOfWeekIsStar = fields[4].hasPrefix("*")
        guard canFire else {
            throw CronParseError("the schedule '\(trimmed)' can never fire: no month has the days it names")
        }
    }

    /// The first instant strictly after `time` at which the schedule fires: always on a whole minute (UTC).
    /// Nil only if none exists within the next ten years, which a parsed schedule rules out.
    public func next(after time: Timestamp) -> Timestamp? {
        let minuteMilliseconds: Int64 = 60_000
        let floored =
            time.milliseconds >= 0
            ? time.milliseconds / minuteMilliseconds : (time.milliseconds - minuteMilliseconds + 1) / minuteMilliseconds
        var minute = floored + 1
        let limit = minute + 10 * 366 * 1440
        while minute < limit {
            let days = minute >= 0 ? minute / 1440 : (minute - 1439) / 1440
            let minuteOfDay = minute - days * 1440
            let (_, month, day) = CivilCalendar.date(daysSince1970: days)
            guard months & (1 << UInt16(month)) != 0 else {
                minute = Self.firstMinuteOfNextMonth(days: days)
                continue
            }
            guard matchesDay(day: day, weekday: Self.weekday(days: days)) else {
                minute = (days + 1) * 1440
                continue
            }
            let hour = minuteOfDay / 60
            guard hours & (1 << UInt32(hour)) != 0 else {
                minute = days * 1440 + (hour + 1) * 60
                continue
            }
            guard minutes & (1 << UInt64(minuteOfDay % 60)) != 0 else {
                minute += 1
                continue
            }
            return Timestamp(milliseconds: minute * minuteMilliseconds)
        }
        return nil
    }

    /// Whether the schedule fires at `time`'s minute.
    public func matches(_ time: Timestamp) -> Bool {
        let remainder = time.milliseconds % 60_000
        let minuteStart = time.milliseconds - (remainder >= 0 ? remainder : remainder + 60_000)
        return next(after: Timestamp(milliseconds: minuteStart - 1))?.milliseconds == minuteStart
    }

    // MARK: Evaluation

    private func matchesDay(day: Int64, weekday: Int64) -> Bool {
        let dayMatches = daysOfMonth & (1 << UInt32(day)) != 0
        let weekdayMatches = daysOfWeek & (1 << UInt8(weekday)) != 0
        if dayOfMonthIsStar || dayOfWeekIsStar { return dayMatches && weekdayMatches }
        return dayMatches || weekdayMatches
    }

    /// Some allowed month has an allowed day (29 February counts), or the weekday field can pick the days.
    private var canFire: Bool {
        if !dayOfMonthIsStar && !dayOfWeekIsStar { return true }
        let longest: [Int] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        for month in 1...12 where months & (1 << UInt16(month)) != 0 {
            let allowedDays = (UInt64(1) << UInt64(longest[month] + 1)) - 2
            if UInt64(daysOfMonth) & allowedDays != 0 { return true }
        }
        return false
    }

    /// 0 = Sunday; 1970-01-01 was a Thursday.
    private static func weekday(days: Int64) -> Int64 {
        let remainder = (days + 4) % 7
        return remainder >= 0 ? remainder : remainder + 7
    }

    private static func firstMinuteOfNextMonth(days: Int64) -> Int64 {
        let (year, month, _) = CivilCalendar.date(daysSince1970: days)
        let next = month == 12 ? (year + 1, Int64(1)) : (year, month + 1)
        return CivilCalendar.daysSince1970(year: next.0, month: next.1, day: 1) * 1440
    }

    // MARK: Parsing

    enum Field: String {
        case minute = "minute"
        case hour = "hour"
        case dayOfMonth = "day of month"
        case month = "month"
        case dayOfWeek = "day of week"

        var range: ClosedRange<Int> {
            switch self {
            case .minute: 0...59
            case .hour: 0...23
            case .dayOfMonth: 1...31
            case .month: 1...12
            case .dayOfWeek: 0...7
            }
        }

        var names: [String] {
            switch self {
            case .month: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
            case .dayOfWeek: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
            default: []
            }
        }

        /// The value the first name stands for.
        var firstNameValue: Int { self == .month ? 1 : 0 }
    }

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// One field as a bit set over its range.
    static func parse(_ text: String, field: Field) throws(CronParseError) -> UInt64 {
        var bits: UInt64 = 0
        for element in text.split(separator: ",", omittingEmptySubsequences: false) {
            let element = String(element)
            guard !element.isEmpty else {
                throw CronParseError("the \(field.rawValue) field '\(text)' has an empty list element")
            }
            let parts = element.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count <= 2 else {
                throw CronParseError("the \(field.rawValue) field '\(element)' has more than one step")
            }
            var low = field.range.lowerBound
            var high = field.range.upperBound
            if field == .dayOfWeek { high = 6 }
            let base = parts[0]
            if base != "*" {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
                guard bounds.count <= 2 else {
                    throw CronParseError("the \(field.rawValue) field '\(element)' is not a value or a range")
                }
                low = try value(bounds[0], field: field)
                high = bounds.count == 2 ? try value(bounds[1], field: field) : low
                guard low <= high else {
                    throw CronParseError(
                        "the \(field.rawValue) range '\(base)' runs backwards; write it as a list instead")
                }
                if parts.count == 2 && bounds.count == 1 {
                    throw CronParseError(
                        "the \(field.rawValue) step '\(element)' needs a range or '*' before the '/'")
                }
            }
            var step = 1
            if parts.count == 2 {
                guard let parsed = Int(parts[1]), parsed > 0, parts[1].allSatisfy(\.isASCIIDigit) else {
                    throw CronParseError("the \(field.rawValue) step in '\(element)' must be a positive number")
                }
                guard parsed <= field.range.upperBound else {
                    throw CronParseError("the \(field.rawValue) step in '\(element)' is larger than the field")
                }
                step = parsed
            }
            for value in stride(from: low, through: high, by: step) { bits |= 1 << UInt64(value) }
        }
        return bits
    }

    private static func value(_ text: String, field: Field) throws(CronParseError) -> Int {
        if let index = field.names.firstIndex(of: text.lowercased()) { return index + field.firstNameValue }
        guard !text.isEmpty, text.allSatisfy(\.isASCIIDigit), let number = Int(text) else {
            let names = field.names.isEmpty ? "" : " or a name (\(field.names.joined(separator: ", ")))"
            throw CronParseError(
                "'\(text)' is not a valid \(field.rawValue): use a number "
                    + "\(field.range.lowerBound)–\(field.range.upperBound)\(names)")
        }
        guard field.range.contains(number) else {
            throw CronParseError(
                "\(number) is out of range for the \(field.rawValue) "
                    + "(\(field.range.lowerBound)–\(field.range.upperBound))")
        }
        return number
    }
}

/// Why a cron expression was refused; the message names the field and is safe to show.
public struct CronParseError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String

    init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
