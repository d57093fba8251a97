// RFC 3339 rendering and parsing of the control plane's timestamps for API bodies: CivilTime's codec (UTC,
// milliseconds), the one every part of Outpost writes.

internal import CivilTime

extension Timestamp {
    /// `2025-01-31T12:34:56.789Z`.
    public var rfc3339: String { RFC3339.format(millisecondsSince1970: milliseconds) }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; nil for anything else.
    public init?(rfc3339 text: String) {
        guard let milliseconds = RFC3339.parse(text) else { return nil }
        self.init(milliseconds: milliseconds)
    }
}
