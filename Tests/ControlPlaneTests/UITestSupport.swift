// Helpers for the web UI's router-level tests: a signed-in browser's cookie and CSRF token, form posts, and
// reading Set-Cookie headers.

import ControlPlane
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// What a signed-in browser holds: the session cookie and the page's CSRF token.
struct UIBrowserSession {
    var cookie: String
    var csrf: String
}

/// Form bodies and page scraping shared by the UI tests.
enum UIForms {
    /// `application/x-www-form-urlencoded` text of `fields`, in order.
    static func encode(_ fields: [(String, String)]) -> [UInt8] {
        Array(fields.map { HTML.percentEncode($0.0) + "=" + HTML.percentEncode($0.1) }.joined(separator: "&").utf8)
    }

    /// The value of the first hidden `csrf` field in a page.
    static func csrf(in page: String) throws -> String {
        let marker = "name=\"csrf\" value=\""
        guard let start = page.range(of: marker) else { throw FixtureError("no csrf field in the page") }
        return String(page[start.upperBound...].prefix(64))
    }

    /// `name=value` of the Set-Cookie header for `name`, and the whole header.
    static func cookie(_ name: String, in response: TestResponse) -> (pair: String, header: String)? {
        for header in response.headers[values: .setCookie] where header.hasPrefix(name + "=") {
            return (String(header.prefix { $0 != ";" }), header)
        }
        return nil
    }
}

extension TestClientProtocol {
    /// GET with the session cookie.
    func page(_ uri: String, session: UIBrowserSession?) async throws -> TestResponse {
        var headers = HTTPFields()
        if let session { headers[.cookie] = session.cookie }
        return try await executeRequest(uri: uri, method: .get, headers: headers, body: nil)
    }

    /// POSTs a form with the cookie; `csrf` nil leaves the token out, `origin` sets the Origin header.
    func post(
        _ uri: String, session: UIBrowserSession?, fields: [(String, String)], csrf: String?, origin: String? = nil,
        cookie: String? = nil
    ) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let cookie = cookie ?? session?.cookie { headers[.cookie] = cookie }
        if let origin { headers[.origin] = origin }
        let body = UIForms.encode((csrf.map { [("csrf", $0)] } ?? []) + fields)
        return try await executeRequest(uri: uri, method: .post, headers: headers, body: ByteBuffer(bytes: body))
    }

    /// Signs in through the form with `key`; fails the test unless it leads to a session.
    func signIn(key: String) async throws -> UIBrowserSession {
        let form = try await page("/ui/sign-in", session: nil)
        guard let signInCookie = UIForms.cookie("outpost_signin", in: form) else {
            throw FixtureError("the sign-in page set no outpost_signin cookie")
        }
        let response = try await post(
            "/ui/sign-in", session: nil, fields: [("key", key)], csrf: try UIForms.csrf(in: form.text),
            cookie: signInCookie.pair)
        guard response.status == .seeOther, let session = UIForms.cookie("outpost_session", in: response) else {
            throw FixtureError("sign-in answered \(response.status): \(response.text)")
        }
        let overview = try await page("/ui", session: UIBrowserSession(cookie: session.pair, csrf: ""))
        return UIBrowserSession(cookie: session.pair, csrf: try UIForms.csrf(in: overview.text))
    }
}
