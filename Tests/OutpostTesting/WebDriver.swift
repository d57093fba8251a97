public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A real `chromedriver` driving headless Chromium, started for a test and stopped when released.
///
/// Both come from Debian (`apt-get install chromium chromium-driver`); a test that needs them fails, never skips.
/// The driver speaks W3C WebDriver over plain HTTP on a loopback port, so `WebDriverSession` drives it with
/// AsyncHTTPClient and JSON — no Selenium.
public final class ChromeDriver: @unchecked Sendable {
    // `process` is set once in init and only read afterwards.
    private let process: Process
    /// `http://127.0.0.1:PORT`.
    public let url: String

    public init() throws {
        guard let executable = ChildProcess.which("chromedriver") else {
            throw WebDriverError("chromedriver is not installed: apt-get install -y chromium chromium-driver")
        }
        guard ChildProcess.which("chromium") != nil else {
            throw WebDriverError("chromium is not installed: apt-get install -y chromium chromium-driver")
        }
        let port = try FreePort.find()
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--port=\(port)", "--allowed-ips=127.0.0.1", "--log-level=SEVERE"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        url = "http://127.0.0.1:\(port)"
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if FreePort.isListening(port) { return }
            usleep(50_000)
        }
        kill(process.processIdentifier, SIGKILL)
        throw WebDriverError("chromedriver did not start listening on \(url) within 20 s")
    }

    deinit {
        // SIGKILL, not SIGTERM: the driver inherits the test process's blocked signal mask, so a SIGTERM would stay
        // pending forever. The browser it started was closed with the session; the driver holds no state.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Starts a driver, opens a window, runs `body` with it, and closes window, client and driver again (also when
    /// `body` throws).
    public static func withSession<Result>(
        width: Int = 1280, height: Int = 900, _ body: (WebDriverSession) async throws -> Result
    ) async throws -> Result {
        let driver = try ChromeDriver()
        // The driver process lives as long as this value: keep it until the end, whichever way that comes.
        defer { withExtendedLifetime(driver) {} }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let session = try await driver.session(client: client, width: width, height: height)
            let result: Result
            do {
                result = try await body(session)
            } catch {
                try? await session.close()
                throw error
            }
            try await session.close()
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Opens a headless Chromium window of `width`×`height` (flags per TESTING.md: root needs `--no-sandbox`).
    public func session(client: HTTPClient, width: Int = 1280, height: Int = 900) async throws -> WebDriverSession {
        let capabilities: [String: Any] = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "goog:chromeOptions": [
                        "binary": ChildProcess.which("chromium") ?? "/usr/bin/chromium",
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--window-size=\(width),\(height)", "--no-first-run", "--no-default-browser-check",
                        ],
                    ],
                ]
            ]
        ]
        let value = try await WebDriverSession.call(client, .POST, url + "/session", capabilities)
        guard let object = value as? [String: Any], let id = object["sessionId"] as? String else {
            throw WebDriverError("new session answered without a sessionId: \(value)")
        }
        return WebDriverSession(client: client, base: url + "/session/" + id)
    }
}

/// One browser window driven over W3C WebDriver.
public struct WebDriverSession: Sendable {
    /// A located element: its WebDriver reference.
    public struct Element: Sendable {
        public let id: String
    }

    let client: HTTPClient
    let base: String

    /// Loads `url` and waits until the page has loaded.
    public func navigate(to url: String) async throws {
        _ = try await Self.call(client, .POST, base + "/url", ["url": url])
    }

    public func currentURL() async throws -> String {
        try await Self.call(client, .GET, base + "/url") as? String ?? ""
    }

    public func title() async throws -> String {
        try await Self.call(client, .GET, base + "/title") as? String ?? ""
    }

    /// The first element matching the CSS selector; throws when none does.
    public func element(_ selector: String) async throws -> Element {
        let value = try await Self.call(
            client, .POST, base + "/element", ["using": "css selector", "value": selector])
        return try Self.element(from: value)
    }

    /// Every element matching the CSS selector.
    public func elements(_ selector: String) async throws -> [Element] {
        let value = try await Self.call(
            client, .POST, base + "/elements", ["using": "css selector", "value": selector])
        return try (value as? [Any] ?? []).map(Self.element(from:))
    }

    public func click(_ element: Element) async throws {
        _ = try await Self.call(client, .POST, base + "/element/\(element.id)/click", [String: Any]())
    }

    /// Types `text` into the element (after clearing it).
    public func type(_ text: String, into element: Element) async throws {
        _ = try await Self.call(client, .POST, base + "/element/\(element.id)/clear", [String: Any]())
        _ = try await Self.call(client, .POST, base + "/element/\(element.id)/value", ["text": text])
    }

    /// The element's rendered text.
    public func text(of element: Element) async throws -> String {
        try await Self.call(client, .GET, base + "/element/\(element.id)/text") as? String ?? ""
    }

    /// Runs `script` (a function body; `arguments[0]`… are `arguments`) and returns its result as JSON values.
    public func execute(_ script: String, arguments: [Any] = []) async throws -> Any {
        try await Self.call(client, .POST, base + "/execute/sync", ["script": script, "args": arguments])
    }

    /// A PNG of the viewport.
    public func screenshot() async throws -> [UInt8] {
        guard let text = try await Self.call(client, .GET, base + "/screenshot") as? String,
            let data = Data(base64Encoded: text)
        else { throw WebDriverError("the screenshot was not base64") }
        return Array(data)
    }

    /// Polls `condition` every 100 ms until it returns true; throws with `description` after `timeout`.
    public func wait(
        _ description: String, timeout: Duration = .seconds(15), until condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            if try await condition() { return }
            guard ContinuousClock.now < deadline else {
                throw WebDriverError(
                    "timed out after \(timeout) waiting for \(description) on \(try await currentURL())")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Closes the window and its browser.
    public func close() async throws {
        _ = try await Self.call(client, .DELETE, base, nil)
    }

    static func element(from value: Any) throws -> Element {
        guard let object = value as? [String: Any],
            let id = object["element-6066-11e4-a52e-4f735466cecf"] as? String
        else { throw WebDriverError("not an element reference: \(value)") }
        return Element(id: id)
    }

    /// Sends one command and returns its `value`; a WebDriver error becomes a `WebDriverError` with its message.
    static func call(_ client: HTTPClient, _ method: HTTPMethod, _ url: String, _ body: Any? = nil) async throws -> Any
    {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
        let json = try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView), options: [.fragmentsAllowed])
        let value = (json as? [String: Any])?["value"] ?? NSNull()
        guard response.status.code < 300 else {
            let error = value as? [String: Any]
            throw WebDriverError(
                "\(method.rawValue) \(url): \(error?["error"] ?? response.status.code) — \(error?["message"] ?? "")")
        }
        return value
    }
}

/// A WebDriver or browser failure, with the driver's own message.
public struct WebDriverError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Checks that bytes are a PNG with a non-empty image: the signature, and an IHDR with non-zero size.
public enum PNGCheck {
    public static func dimensions(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard bytes.count > 24, Array(bytes[0..<8]) == signature, Array(bytes[12..<16]) == Array("IHDR".utf8) else {
            return nil
        }
        func word(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        let width = word(16)
        let height = word(20)
        return width > 0 && height > 0 ? (width, height) : nil
    }
}

/// Where a browser walk's screenshots go: a temporary folder, or `OUTPOST_UI_SCREENSHOTS` to keep them for a look.
public final class ScreenshotFolder: @unchecked Sendable {
    // Used from the one test task only.
    private let temporary: TemporaryDirectory?
    public let path: String
    public private(set) var taken = 0

    public init() throws {
        if let kept = ProcessInfo.processInfo.environment["OUTPOST_UI_SCREENSHOTS"], !kept.isEmpty {
            try FileManager.default.createDirectory(atPath: kept, withIntermediateDirectories: true)
            temporary = nil
            path = kept
        } else {
            let directory = try TemporaryDirectory()
            temporary = directory
            path = directory.path
        }
    }

    /// Saves a screenshot as `NAME.png`; throws unless it is a PNG of at least 800×600 pixels and 10 kB (a page
    /// with something drawn on it, not a blank or broken capture).
    public func take(_ name: String, _ browser: WebDriverSession) async throws {
        let png = try await browser.screenshot()
        guard let size = PNGCheck.dimensions(png) else { throw WebDriverError("\(name).png is not a PNG") }
        guard size.width >= 800 && size.height >= 600 else {
            throw WebDriverError("\(name).png is only \(size.width)×\(size.height)")
        }
        guard png.count > 10_000 else { throw WebDriverError("\(name).png has only \(png.count) bytes") }
        try Data(png).write(to: URL(fileURLWithPath: path + "/" + name + ".png"))
        taken += 1
    }
}
