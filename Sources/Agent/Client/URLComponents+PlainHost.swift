internal import Foundation

extension URLComponents {
    /// `host`, without Foundation's IDNA decoding when the host cannot need it.
    ///
    /// `host` passes every host through ICU's UTS #46 transcoder, whose first use loads ICU's normalisation data:
    /// about a megabyte that a long-running agent would keep resident for a host name like `outpost.example.com`.
    /// A host of ASCII characters with no percent escape and no `xn--` (punycode) label decodes to itself, so it is
    /// returned as written; any other host goes through `host`, so the result is always `host`'s.
    var plainHost: String? {
        guard let encoded = encodedHost else { return host }
        let bytes = encoded.utf8
        let needsDecoding =
            bytes.count > 2048 || bytes.contains { $0 >= 0x80 || $0 == UInt8(ascii: "%") }
            || encoded.lowercased().split(separator: ".", omittingEmptySubsequences: false).contains {
                $0.hasPrefix("xn--")
            }
        return needsDecoding ? host : encoded
    }
}
