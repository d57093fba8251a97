// The web UI: server-rendered HTML pages over the same store calls as the admin API, signed in with an admin key
// and held by a server-side session. This file is its HTML builder: every text and attribute value passes through
// one escaping function, so no view can emit markup from data by accident.

/// A piece of an HTML document: escaped text or an element. Built with `HTMLBuilder`, rendered by `render()`.
///
/// There is deliberately no way to insert raw markup from a value: names, qualified names, log text and error
/// messages may hold `<`, quotes or any Unicode, and all of it ends up as text.
public struct Node: Sendable {
    enum Content: Sendable {
        case text(String)
        case element(name: StaticString, attributes: [Attribute], children: [Node])
        /// An element with no end tag (`input`, `meta`, `link`, `br`).
        case void(name: StaticString, attributes: [Attribute])
    }

    let content: Content

    /// Text, escaped when rendered.
    public static func text(_ text: String) -> Node { Node(content: .text(text)) }

    /// Appends the node's markup to `output`.
    func render(into output: inout String) {
        switch content {
        case .text(let text):
            HTML.escape(text, into: &output)
        case .element(let name, let attributes, let children):
            HTML.openTag(name, attributes, into: &output)
            for child in children { child.render(into: &output) }
            output += "</"
            output += name.description
            output += ">"
        case .void(let name, let attributes):
            HTML.openTag(name, attributes, into: &output)
        }
    }
}

/// An attribute: a fixed name chosen in code and a value escaped when rendered. A nil value leaves it out, so
/// optional attributes (`selected`, `aria-current`) read naturally at the call site.
public struct Attribute: Sendable {
    let name: StaticString
    let value: String?

    public init(_ name: StaticString, _ value: String?) {
        self.name = name
        self.value = value
    }
}

/// Collects nodes from statements, `if`, `for` and plain strings (which become text).
@resultBuilder
public enum HTMLBuilder {
    public static func buildBlock(_ parts: [Node]...) -> [Node] { parts.flatMap { $0 } }
    public static func buildExpression(_ node: Node) -> [Node] { [node] }
    public static func buildExpression(_ nodes: [Node]) -> [Node] { nodes }
    public static func buildExpression(_ text: String) -> [Node] { [.text(text)] }
    public static func buildOptional(_ nodes: [Node]?) -> [Node] { nodes ?? [] }
    public static func buildEither(first nodes: [Node]) -> [Node] { nodes }
    public static func buildEither(second nodes: [Node]) -> [Node] { nodes }
    public static func buildArray(_ groups: [[Node]]) -> [Node] { groups.flatMap { $0 } }
}

/// Element constructors and the escaping rules.
public enum HTML {
    /// `<name attributes…>children</name>`.
    public static func element(
        _ name: StaticString, _ attributes: Attribute..., @HTMLBuilder children: () -> [Node] = { [] }
    ) -> Node {
        Node(content: .element(name: name, attributes: attributes, children: children()))
    }

    /// `<name attributes…>` with no content or end tag.
    public static func void(_ name: StaticString, _ attributes: Attribute...) -> Node {
        Node(content: .void(name: name, attributes: attributes))
    }

    /// A whole document: the doctype, then `root`.
    public static func document(_ root: Node) -> String {
        var output = "<!DOCTYPE html>\n"
        root.render(into: &output)
        return output
    }

    /// Escapes text for element content and double-quoted attribute values alike: `&`, `<`, `>`, `"` and `'`.
    /// NUL, which parsers replace anyway, becomes U+FFFD here so the output never depends on that rule.
    public static func escape(_ text: String, into output: inout String) {
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&quot;"
            case "'": output += "&#39;"
            case "\u{0}": output += "\u{FFFD}"
            default: output.unicodeScalars.append(scalar)
            }
        }
    }

    /// `text` escaped, as a new string (tests and attribute helpers).
    public static func escape(_ text: String) -> String {
        var output = ""
        escape(text, into: &output)
        return output
    }

    static func openTag(_ name: StaticString, _ attributes: [Attribute], into output: inout String) {
        output += "<"
        output += name.description
        for attribute in attributes {
            guard let value = attribute.value else { continue }
            output += " "
            output += attribute.name.description
            output += "=\""
            escape(value, into: &output)
            output += "\""
        }
        output += ">"
    }

    /// Percent-encodes `text` for a query value or path segment: everything but RFC 3986's unreserved characters,
    /// so a qualified name with `/`, `&`, `#` or spaces survives a round trip through a link.
    public static func percentEncode(_ text: String) -> String {
        var output = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                output += "%"
                output.unicodeScalars.append(hex[Int(byte >> 4)])
                output.unicodeScalars.append(hex[Int(byte & 0x0f)])
            }
        }
        return output
    }

    /// A path with a query built from `parameters`, every value percent-encoded; empty values are left out.
    public static func link(_ path: String, _ parameters: KeyValuePairs<String, String?> = [:]) -> String {
        let query = parameters.compactMap { name, value -> String? in
            guard let value, !value.isEmpty else { return nil }
            return percentEncode(name) + "=" + percentEncode(value)
        }
        return query.isEmpty ? path : path + "?" + query.joined(separator: "&")
    }
}
