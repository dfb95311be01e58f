"""An HTTPS echo server on loopback for sec's broker tests (tests/support/https_echo.rs) and
its benchmark (bench/broker.sh). Python 3 stdlib only.

    python3 -u https_echo.py CERT KEY SEEN_FILE PORT_FILE [AVOID_FROM AVOID_TO]

Listens on 127.0.0.1 (a free port, outside [AVOID_FROM, AVOID_TO) when given), writes the
port to PORT_FILE once it accepts connections, and answers HTTP/1.1 with keep-alive:

- `/redirect?to=URL`: 302 with `Location: URL`;
- `/reflect`: the request's `Authorization` header value (text/plain, and a newline);
- any other path: JSON `{"method", "path", "headers"}` of the request (`headers` an object,
  a repeated header's values joined with ", ").

Every request is appended to SEEN_FILE as one JSON line: method, path, the `Host` header,
the TLS server name the client asked for (`sni`, null without one), the headers as
`[name, value]` pairs, `basic` (the decoded `[user, password]` of `Authorization: Basic`,
else null) and the body (UTF-8, undecodable bytes replaced). The file holds whatever
credentials reached the server, in plain text.
"""

import base64
import binascii
import http.server
import json
import os
import ssl
import sys
import threading
import urllib.parse

cert, key, seen_file, port_file = sys.argv[1:5]
avoid = range(int(sys.argv[5]), int(sys.argv[6])) if len(sys.argv) > 6 else range(0)
seen_lock = threading.Lock()

tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(cert, key)


def remember_sni(sock, name, _context):
    sock.sec_sni = name


tls.sni_callback = remember_sni


def basic_credentials(header):
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = (
            base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return None
    return [user, password]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An idle keep-alive connection is closed after this long.
    timeout = 60
    # Headers and body go out in separate writes: without TCP_NODELAY the body would wait
    # for the client's delayed ACK (40 ms), which a benchmark would measure.
    disable_nagle_algorithm = True

    def __getattr__(self, name):
        # Every method (GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD...) is served alike.
        if name.startswith("do_"):
            return self.serve
        raise AttributeError(name)

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def record(self, body):
        entry = {
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host"),
            "sni": getattr(self.connection, "sec_sni", None),
            "headers": [[name, value] for name, value in self.headers.items()],
            "basic": basic_credentials(self.headers.get("Authorization")),
            "body": body.decode("utf-8", "replace"),
        }
        with seen_lock, open(seen_file, "a", encoding="utf-8") as seen:
            seen.write(json.dumps(entry) + "\n")

    def reply(self, code, headers, body):
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def serve(self):
        body = self.read_body()
        self.record(body)
        path, _, query = self.path.partition("?")
        if path == "/redirect":
            target = urllib.parse.parse_qs(query).get("to", [""])[0]
            self.reply(302, [("Location", target), ("Content-Type", "text/plain")], b"")
        elif path == "/reflect":
            value = self.headers.get("Authorization", "")
            self.reply(200, [("Content-Type", "text/plain")], (value + "\n").encode("utf-8"))
        else:
            headers = {}
            for name, value in self.headers.items():
                headers[name] = headers[name] + ", " + value if name in headers else value
            echo = {"method": self.command, "path": self.path, "headers": headers}
            self.reply(
                200,
                [("Content-Type", "application/json")],
                (json.dumps(echo) + "\n").encode("utf-8"),
            )

    def log_message(self, format, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), format % args))


class Server(http.server.ThreadingHTTPServer):
    # The TLS handshake runs on the connection's own thread, so a slow or broken client
    # never holds up the others.
    def finish_request(self, request, client_address):
        try:
            conn = tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            sys.stderr.write("TLS handshake with %s failed: %s\n" % (client_address[0], e))
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            conn.close()


while True:
    server = Server(("127.0.0.1", 0), Handler)
    if server.server_address[1] not in avoid:
        break
    server.server_close()
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(port_file + ".tmp", port_file)
sys.stderr.write("listening on 127.0.0.1:%d\n" % server.server_address[1])
server.serve_forever()
