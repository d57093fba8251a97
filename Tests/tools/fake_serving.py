"""What the project's fake servers (fake_snowflake, fake_tableau, fake_gcp) share: serving an HTTP(S) server on loopback with
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


def bind(handler, host: str, port: int, tls_cert=None, tls_key=None):
    """A bound (not yet serving) threading HTTP server and its scheme."""
    cls = type("BoundServer", (Server,), {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET})
    server = cls((host, port), handler)
    scheme = "http"
    if tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(tls_cert, tls_key)
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"
    return server, scheme


def serve(handler, args, extra_servers=(), before_ready=None, on_stop=None) -> int:
    """Binds a threading HTTP server to args.host/args.port with `handler`, announces it and serves until stopped.
    extra_servers: other bound servers served alongside and stopped with it; before_ready(port) runs after binding
    and before the readiness line; on_stop() runs once serving has ended."""
    server, scheme = bind(handler, args.host, args.port, args.tls_cert, args.tls_key)
    port = server.server_address[1]
    if before_ready:
        before_ready(port)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    host = f"[{args.host}]" if ":" in args.host else args.host
    for extra in extra_servers:
        threading.Thread(target=extra.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    print(f"LISTENING {scheme}://{host}:{port}", flush=True)

    def stop(*_):
        def down():
            for extra in extra_servers:
                extra.shutdown()
            server.shutdown()
        threading.Thread(target=down, daemon=True).start()
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
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        if on_stop:
            on_stop()
    return 0
