"""What the project's fake servers (fake_snowflake, fake_tableau) share: serving an HTTP(S) server on loopback with
the start-up contract their READMEs describe — TLS when asked, the port written to --port-file atomically, exactly
one readiness line `LISTENING http(s)://HOST:PORT` on stdout, SIGTERM/SIGINT to stop, and stopping when stdin
closes with --exit-on-stdin-eof (so a test that dies leaves nothing running)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import sys
import threading
from http.server import ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def add_arguments(parser) -> None:
    """The options of the start-up contract: --host (loopback; each fake refuses others), --port (0: a free one),
    --port-file, --tls-cert/--tls-key, --exit-on-stdin-eof."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")


def serve(handler, args) -> int:
    """Binds a threading HTTP server to args.host/args.port with `handler`, announces it and serves until stopped."""
    Server.address_family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    server = Server((args.host, args.port), handler)
    scheme = "http"
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"LISTENING {scheme}://{host}:{port}", flush=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_on_stdin_eof:
        def watch():
            try:
                while sys.stdin.buffer.read(65536):
                    pass
            finally:
                stop()
        threading.Thread(target=watch, daemon=True).start()
    server.serve_forever(poll_interval=0.2)
    return 0
