import Foundation
import Testing

@testable import Agent

/// `URLComponents.plainHost` skips Foundation's IDNA decoding (it loads ICU's normalisation data) only where that
/// decoding cannot change the host: its result must always be `host`'s.
@Suite("URL hosts without IDNA decoding")
struct PlainHostTests {
    static let urls = [
        "https://outpost.example.com", "http://Example.COM:8080/x", "http://127.0.0.1:41643", "http://[::1]:80/",
        "https://[fe80::1%25eth0]:443", "http://user:pw@Host.Example:1/p?q#f", "http://foo..bar/", "http://-a.b/",
        "http://a-.b/", "http://ab--cd.example", "http://a.b./", "http://exa_mple.com", "http://localhost",
        "http://xn--nw2a.xn--j6w193g/", "http://XN--NW2A.example/", "http://a%41b.com/", "http://ex%2Eample",
        "http://ÄB.com", "http://見.香港/", "https://" + String(repeating: "a", count: 70) + ".example",
        "https://" + String(repeating: "abcdefgh.", count: 240) + "example", "file:///tmp/x", "sqlite:/data/x.db",
        "postgres://db:5432/app", "s3://bucket/key", "http://:8080", "http://@/",
    ]

    @Test(arguments: urls)
    func theHostIsWhatFoundationsHostIs(_ url: String) throws {
        let components = try #require(URLComponents(string: url))
        #expect(components.plainHost == components.host)
    }

    @Test func anASCIIHostIsTakenAsWritten() throws {
        let components = try #require(URLComponents(string: "https://CP.Example.com:8443/v1"))
        #expect(components.plainHost == "CP.Example.com")
    }
}
