import OutpostProtocol
import Testing

@testable import ControlPlane

@Suite("Web UI: HTML builder and form decoding")
struct UIHTMLTests {
    @Test(
        "text and attribute values are escaped, whatever they hold",
        arguments: [
            ("plain", "plain"),
            ("<script>", "&lt;script&gt;"),
            ("a & b", "a &amp; b"),
            ("\"quoted\" 'single'", "&quot;quoted&quot; &#39;single&#39;"),
            ("&amp;", "&amp;amp;"),
            ("Größe 😀 ℵ", "Größe 😀 ℵ"),
            ("nul\u{0}byte", "nul\u{FFFD}byte"),
        ])
    func escaping(input: String, expected: String) {
        #expect(HTML.escape(input) == expected)
    }

    @Test("elements render attributes in order, drop nil ones, and escape both names' values and content")
    func rendering() {
        let node = HTML.element(
            "a", Attribute("href", "/x?a=1&b=\"2\""), Attribute("title", nil), Attribute("data-x", "<y>")
        ) {
            "<b>bold</b>"
            HTML.void("br")
            for item in ["1", "2"] { HTML.element("i") { item } }
        }
        var output = ""
        node.render(into: &output)
        #expect(
            output
                == "<a href=\"/x?a=1&amp;b=&quot;2&quot;\" data-x=\"&lt;y&gt;\">&lt;b&gt;bold&lt;/b&gt;<br><i>1</i><i>2</i></a>"
        )
        #expect(HTML.document(HTML.element("p") { "x" }) == "<!DOCTYPE html>\n<p>x</p>")
    }

    @Test("links percent-encode every reserved character of their query values and skip empty ones")
    func links() {
        #expect(HTML.percentEncode("a/b c&d=e#f?g%h+i~j.k_l-m") == "a%2Fb%20c%26d%3De%23f%3Fg%25h%2Bi~j.k_l-m")
        #expect(HTML.percentEncode("ü😀") == "%C3%BC%F0%9F%98%80")
        #expect(
            HTML.link("/ui/catalog/asset", ["kind": "table", "q": nil, "empty": "", "qualifiedName": "s/\"t\""])
                == "/ui/catalog/asset?kind=table&qualifiedName=s%2F%22t%22")
    }

    @Test("form bodies decode + and %XX, keep invalid escapes, and read UTF-8 safely")
    func formDecoding() {
        let form = FormFields(parsing: Array("a=1+2&b=%3Cx%3E&c=%zz%4&d&e=%C3%BC&a=second&f=%FF".utf8))
        #expect(form["a"] == "1 2")
        #expect(form["b"] == "<x>")
        #expect(form["c"] == "%zz%4")
        #expect(form["d"] == "")
        #expect(form["e"] == "ü")
        #expect(form["f"] == "\u{FFFD}")
        #expect(form["missing"] == nil)
        #expect(form.pairs.filter { $0.name == "a" }.map(\.value) == ["1 2", "second"])
        #expect(FormFields(parsing: Array("x=%20%20padded%0A+".utf8)).trimmed("x") == "padded")
        #expect(FormFields(parsing: Array("".utf8)).pairs.isEmpty)
    }

    @Test("the connection form maps secrets lines and filter lines, and names the field it cannot map")
    func connectionForm() throws {
        var form = ConnectionForm()
        form.name = "pg"
        form.sourceKind = "postgresql"
        form.sourceURL = "postgres://reader@db/sales"
        form.secrets = "password = env:PG_PASSWORD\r\n\r\n sslrootcert=file:/ca.pem "
        form.filters["includeSchemas"] = "public\r\n  sales_*  \n"
        let request = try form.request()
        #expect(request.secrets == ["password": "env:PG_PASSWORD", "sslrootcert": "file:/ca.pem"])
        #expect(request.filters?.includeSchemas == ["public", "sales_*"])
        #expect(request.filters?.excludeTables == nil)
        #expect(request.delivery == DeliverySettings(mode: .direct))
        #expect(request.schedule == nil)

        form.secrets = "password env:X"
        #expect(throws: APIError.self) { try form.request() }
        form.secrets = "a = env:X\na = env:Y"
        #expect(throws: APIError.self) { try form.request() }
    }

    @Test("same-origin checks compare the Origin's host and port with the request's authority")
    func origins() {
        #expect(UIOrigin.authority(of: "https://Outpost.Example.com:8443/ui?x") == "outpost.example.com:8443")
        #expect(UIOrigin.authority(of: "http://127.0.0.1:8080") == "127.0.0.1:8080")
        #expect(UIOrigin.authority(of: "null") == nil)
        #expect(UIOrigin.authority(of: "http://user@evil.example") == nil)
        #expect(UIToken.equal("abc", "abc"))
        #expect(!UIToken.equal("abc", "abd"))
        #expect(!UIToken.equal("", ""))
        #expect(UIToken.isWellFormed(UIToken.make()))
        #expect(UIToken.make() != UIToken.make())
    }
}
