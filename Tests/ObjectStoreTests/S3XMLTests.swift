import Testing

@testable import ObjectStore

/// The small XML reader S3's answers go through.
@Suite("S3 XML reader")
struct S3XMLTests {
    @Test("namespaces, prolog, entities, character references, CDATA and empty elements are read")
    func readsS3Answers() throws {
        let text = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><!-- note -->
            <Contents><Key>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233; &#x1F600;</Key><Size>12</Size>
            <ETag>&quot;abc&quot;</ETag></Contents><Contents><Key><![CDATA[x<y]]></Key><Size>0</Size></Contents>
            <IsTruncated>false</IsTruncated><Prefix/></ListBucketResult>
            """
        let root = try S3XML(Array(text.utf8)).root
        #expect(root.name == "ListBucketResult")
        #expect(root.value("Name") == "b")
        let contents = root.children("Contents")
        #expect(contents.count == 2)
        #expect(contents[0].value("Key") == "a & b <c> \"d\" 'e' é 😀")
        #expect(contents[0].value("ETag") == "\"abc\"")
        #expect(contents[1].value("Key") == "x<y")
        #expect(root.child("Prefix")?.text == "")
        #expect(root.value("IsTruncated") == "false")
    }

    @Test(
        "malformed answers are an invalidResponse error",
        arguments: ["", "<a><b></a>", "<a>", "<a>&bogus;</a>", "<a>x & y</a>", "<a><![CDATA[x</a>"])
    func malformed(text: String) {
        #expect(throws: ObjectStoreError.self) { try S3XML(Array(text.utf8)) }
    }

    @Test("escaping for request bodies round-trips through the reader")
    func escaping() throws {
        let value = "\"etag\" & <x>"
        let root = try S3XML(Array("<ETag>\(S3XML.escape(value))</ETag>".utf8)).root
        #expect(root.text == value)
    }

    @Test("form decoding of url-encoded listing keys treats + as a space and %2B as a plus")
    func formDecoding() {
        #expect(S3Client.formDecode("a+b%2Bc%2F%C3%BC") == "a b+c/ü")
        #expect(S3Client.formDecode("bad%zz") == nil)
        #expect(S3Client.formDecode("bad%C3") == nil)
    }
}
