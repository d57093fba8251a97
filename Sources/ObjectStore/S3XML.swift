/// A small reader for the XML S3 answers with: elements, text and the five predefined entities plus numeric
/// character references. Attributes, comments, processing instructions and CDATA are skipped or kept as text.
///
/// S3's answers are flat and bounded in size (the client collects at most a few MiB), so a tree is fine; a full
/// XML library would add a native dependency to a binary meant to be copied around.
struct S3XML: Sendable {
    /// One element: its local name (namespace prefix dropped), its text and its child elements.
    struct Element: Sendable {
        var name: String
        var text: String = ""
        var children: [Element] = []

        /// The first child with this name.
        func child(_ name: String) -> Element? { children.first { $0.name == name } }
        /// Every child with this name, in order.
        func children(_ name: String) -> [Element] { children.filter { $0.name == name } }
        /// The text of the first child with this name.
        func value(_ name: String) -> String? { child(name)?.text }
    }

    /// The document's root element.
    let root: Element

    /// Parses a document; throws `invalidResponse` when it is not well-formed enough to read.
    init(_ bytes: [UInt8]) throws(ObjectStoreError) {
        var stack: [Element] = []
        var root: Element?
        var index = 0
        let count = bytes.count
        func failure(_ why: String) -> ObjectStoreError {
            ObjectStoreError(.invalidResponse, "S3 answered with XML that cannot be read (\(why))")
        }
        while index < count {
            if bytes[index] != UInt8(ascii: "<") {
                var end = index
                while end < count, bytes[end] != UInt8(ascii: "<") { end += 1 }
                if !stack.isEmpty {
                    stack[stack.count - 1].text += try Self.decodeEntities(bytes[index..<end])
                }
                index = end
                continue
            }
            // Markup: declaration, comment, CDATA, closing or opening tag.
            if Self.hasPrefix(bytes, at: index, "<![CDATA[") {
                guard let end = Self.find(bytes, "]]>", from: index) else { throw failure("unterminated CDATA") }
                if !stack.isEmpty {
                    stack[stack.count - 1].text += String(decoding: bytes[(index + 9)..<end], as: UTF8.self)
                }
                index = end + 3
                continue
            }
            if Self.hasPrefix(bytes, at: index, "<!--") {
                guard let end = Self.find(bytes, "-->", from: index) else { throw failure("unterminated comment") }
                index = end + 3
                continue
            }
            guard let close = Self.find(bytes, ">", from: index) else { throw failure("unterminated tag") }
            let tag = bytes[(index + 1)..<close]
            index = close + 1
            if tag.first == UInt8(ascii: "?") || tag.first == UInt8(ascii: "!") { continue }
            if tag.first == UInt8(ascii: "/") {
                let name = Self.localName(tag.dropFirst())
                guard let element = stack.popLast(), element.name == name else {
                    throw failure("unexpected closing tag </\(name)>")
                }
                if stack.isEmpty { root = root ?? element } else { stack[stack.count - 1].children.append(element) }
                continue
            }
            let selfClosing = tag.last == UInt8(ascii: "/")
            let element = Element(name: Self.localName(selfClosing ? tag.dropLast() : tag))
            if selfClosing {
                if stack.isEmpty { root = root ?? element } else { stack[stack.count - 1].children.append(element) }
            } else {
                stack.append(element)
            }
        }
        guard stack.isEmpty, let root else { throw failure("no complete root element") }
        self.root = root
    }

    private static func localName(_ tag: ArraySlice<UInt8>) -> String {
        let name = tag.prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") && $0 != UInt8(ascii: "\n") }
        let local = name.lastIndex(of: UInt8(ascii: ":")).map { name[($0 + 1)...] } ?? name
        return String(decoding: local, as: UTF8.self)
    }

    private static func hasPrefix(_ bytes: [UInt8], at index: Int, _ prefix: String) -> Bool {
        let prefix = Array(prefix.utf8)
        return bytes.count - index >= prefix.count && Array(bytes[index..<(index + prefix.count)]) == prefix
    }

    private static func find(_ bytes: [UInt8], _ needle: String, from start: Int) -> Int? {
        let needle = Array(needle.utf8)
        var index = start
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0], Array(bytes[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }

    /// Replaces `&amp;` `&lt;` `&gt;` `&quot;` `&apos;` and `&#NN;` / `&#xHH;` in text.
    static func decodeEntities(_ bytes: ArraySlice<UInt8>) throws(ObjectStoreError) -> String {
        guard bytes.contains(UInt8(ascii: "&")) else { return String(decoding: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            guard bytes[index] == UInt8(ascii: "&") else {
                out.append(bytes[index])
                index += 1
                continue
            }
            guard let semicolon = bytes[index...].firstIndex(of: UInt8(ascii: ";")), semicolon - index <= 10 else {
                throw ObjectStoreError(.invalidResponse, "S3 answered with XML holding a bare '&'")
            }
            let entity = String(decoding: bytes[(index + 1)..<semicolon], as: UTF8.self)
            switch entity {
            case "amp": out.append(UInt8(ascii: "&"))
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            default:
                let scalar: UInt32?
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    scalar = UInt32(entity.dropFirst(2), radix: 16)
                } else if entity.hasPrefix("#") {
                    scalar = UInt32(entity.dropFirst(), radix: 10)
                } else {
                    scalar = nil
                }
                guard let value = scalar.flatMap(Unicode.Scalar.init) else {
                    throw ObjectStoreError(.invalidResponse, "S3 answered with XML holding an unknown entity")
                }
                out += Array(String(Character(value)).utf8)
            }
            index = semicolon + 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Escapes text for an element's content (`&`, `<`, `>`).
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
