internal import Foundation

/// RFC 3339 timestamps as the protocol writes them (UTC, milliseconds) and as it may read them (with or without
/// fractional seconds).
enum Timestamps {
    static func now() -> String { format(Date()) }

    static func format(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    static func parse(_ text: String) -> Date? {
        let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return (try? fractional.parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
    }
}
