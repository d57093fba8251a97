import ControlPlaneStorage
import HTTPTypes
import Hummingbird

/// Session and CSRF tokens, and the cookies that carry them.
///
/// A token is 32 bytes from the system CSPRNG in hex; the store keeps only the session token's SHA-256. Cookies are
/// `HttpOnly` and `SameSite=Strict`, and with `secureCookies` also `Secure` with the `__Host-` name prefix, which
/// browsers only accept over HTTPS, for path `/` and without a domain — so no sibling host can plant one.
struct UICookies: Sendable {
    let secure: Bool

    /// The session cookie's name.
    var session: String { secure ? "__Host-outpost_session" : "outpost_session" }
    /// The sign-in form's double-submit cookie: the form has no session yet to bind its CSRF token to.
    var signIn: String { secure ? "__Host-outpost_signin" : "outpost_signin" }

    /// A `Set-Cookie` value for `name`; `maxAge` 0 deletes the cookie.
    func header(name: String, value: String, maxAge: Int) -> String {
        var text = "\(name)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict"
        if secure { text += "; Secure" }
        return text
    }

    /// The cookie's value in the request, if it has the shape of a token (anything else is ignored).
    func value(_ name: String, in request: Request) -> String? {
        guard let value = request.cookies[name]?.value, UIToken.isWellFormed(value) else { return nil }
        return value
    }
}

/// Random tokens and their comparison.
enum UIToken {
    /// 64 lower-case hex characters.
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = Array("0123456789abcdef".unicodeScalars)
        var text = ""
        for _ in 0..<4 {
            let word = generator.next()
            for shift in stride(from: 0, to: 64, by: 4) {
                text.unicodeScalars.append(hex[Int((word >> UInt64(shift)) & 0xf)])
            }
        }
        return text
    }

    /// What the store keeps of a session token.
    static func hash(_ token: String) -> String { APIKey.hash(of: token) }

    static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == 64
            && text.utf8.allSatisfy {
                ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                    || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f"))
            }
    }

    /// Compares in time independent of where the texts differ, so a token cannot be guessed byte by byte.
    static func equal(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8)
        let right = Array(rhs.utf8)
        guard left.count == right.count, !left.isEmpty else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}

/// Same-origin checks for state-changing requests, on top of the token.
enum UIOrigin {
    /// Whether a POST comes from a page of this server: an `Origin` header (or, without one, a `Referer`) must
    /// name the host the request was sent to. The scheme is not compared, so a TLS terminator in front does not
    /// break it; a request with neither header relies on its token alone (old browsers, privacy settings).
    static func isSameOrigin(_ request: Request) -> Bool {
        guard let host = request.head.authority?.lowercased() else { return false }
        if let origin = request.headers[.origin] {
            return authority(of: origin) == host
        }
        if let referer = request.headers[.referer] {
            return authority(of: referer) == host
        }
        return true
    }

    /// `host[:port]` of an absolute URL, lower-cased; nil for `null` and anything that is not `scheme://…`.
    static func authority(of url: String) -> String? {
        guard let start = url.firstRange(of: "://") else { return nil }
        let rest = url[start.upperBound...]
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<end]
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        return authority.lowercased()
    }
}
