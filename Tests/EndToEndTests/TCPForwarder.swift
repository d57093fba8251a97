import Foundation
import OutpostTesting

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP forwarder on a loopback port, in front of a server a test wants to take away and bring back (kill the
/// forwarder, start another on the same port) or to slow down: it can hold back the first connection that opens
/// with an HTTP `PUT` before passing it on — an upload that reaches the server only after its grant expired. In
/// front of several servers it is a round-robin load balancer: each new connection goes to the next one.
///
/// A small Python program (the tests already run python3 for moto), started as a child process and killed when
/// released. It prints `held` when it held a connection back, and `upstream PORT` for each connection it passes on.
final class TCPForwarder: @unchecked Sendable {
    // `process` is set once in init and then only read.
    private let process: Process
    let port: Int
    let outputPath: String

    private static let program = """
        import socket, sys, threading, time
        listen_port, delay = int(sys.argv[1]), float(sys.argv[3])
        upstream_ports = [int(port) for port in sys.argv[2].split(',')]
        held = []
        connections = []
        lock = threading.Lock()

        def pipe(source, target):
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    target.sendall(data)
            except OSError:
                pass
            finally:
                try:
                    target.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        def handle(client):
            first = client.recv(65536)
            if not first:
                client.close()
                return
            if delay > 0 and first.startswith(b'PUT '):
                with lock:
                    hold = not held
                    held.append(1)
                if hold:
                    print('held', flush=True)
                    time.sleep(delay)
            with lock:
                upstream_port = upstream_ports[len(connections) % len(upstream_ports)]
                connections.append(1)
            print('upstream', upstream_port, flush=True)
            upstream = socket.create_connection(('127.0.0.1', upstream_port))
            upstream.sendall(first)
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
            pipe(client, upstream)

        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(('127.0.0.1', listen_port))
        server.listen(64)
        while True:
            connection, _ = server.accept()
            threading.Thread(target=handle, args=(connection,), daemon=True).start()
        """

    /// Forwards `port` (a free loopback port when nil) to `upstreamPort`, holding the first `PUT` back for
    /// `delay` when it is not zero.
    convenience init(
        port: Int? = nil, upstreamPort: Int, holdingFirstPutFor delay: Duration = .zero, directory: String
    ) throws {
        try self.init(port: port, upstreamPorts: [upstreamPort], holdingFirstPutFor: delay, directory: directory)
    }

    /// Forwards `port` (a free loopback port when nil) to `upstreamPorts`, one connection to each in turn.
    init(
        port: Int? = nil, upstreamPorts: [Int], holdingFirstPutFor delay: Duration = .zero, directory: String
    ) throws {
        guard !upstreamPorts.isEmpty else { throw EndToEndFailure("a TCP forwarder needs an upstream port") }
        self.port = try port ?? FreePort.find()
        outputPath = directory + "/forwarder-\(self.port).log"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c", Self.program, String(self.port), upstreamPorts.map(String.init).joined(separator: ","),
            String(delay.components.seconds),
        ]
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while !FreePort.isListening(self.port) {
            guard Date() < deadline else { throw EndToEndFailure("the TCP forwarder did not start") }
            usleep(20_000)
        }
    }

    var url: String { "http://127.0.0.1:\(port)" }
    /// What the proxy printed.
    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
