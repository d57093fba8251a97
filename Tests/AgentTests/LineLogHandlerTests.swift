import Foundation
import Testing

@testable import Agent

@Suite("Agent log lines")
struct LineLogHandlerTests {
    @Test func everyLineFeedIsEscapedSoAMessageStaysOneLine() {
        #expect(LineLogHandler.escapingLineFeeds("plain") == "plain")
        #expect(LineLogHandler.escapingLineFeeds("a\nb") == "a\\nb")
        #expect(LineLogHandler.escapingLineFeeds("a\r\nb\n") == "a\r\\nb\\n")
        // A line feed followed by a combining mark is one Character to Swift and to NSString's search; it is
        // still a line break in the log file.
        #expect(LineLogHandler.escapingLineFeeds("x\n\u{301}y") == "x\\n\u{301}y")
        #expect(LineLogHandler.escapingLineFeeds("naïve\nè") == "naïve\\nè")
    }
}
