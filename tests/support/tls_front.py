"""A TLS front for a plain-TCP server on loopback (tests/support/tls.rs): terminates TLS and
passes the bytes through, both ways, to 127.0.0.1:BACKEND_PORT. Python 3 stdlib only.

    python3 -u tls_front.py CERT KEY BACKEND_PORT PORT_FILE [AVOID_FROM AVOID_TO]

Listens on 127.0.0.1 (a free port, outside [AVOID_FROM, AVOID_TO) when given) and writes the
port to PORT_FILE once it accepts connections. One thread a connection, which alone reads
and writes its TLS socket (OpenSSL's objects are not for two threads at once); when either
side closes, both are closed.
"""

import os
import select
import socket
import ssl
import sys
import threading

cert, key, backend_port, port_file = sys.argv[1:5]
backend_port = int(backend_port)
avoid = range(int(sys.argv[5]), int(sys.argv[6])) if len(sys.argv) > 6 else range(0)

tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(cert, key)


def serve(conn, address):
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(60)
        client = tls.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        sys.stderr.write("TLS handshake with %s failed: %s\n" % (address[0], e))
        conn.close()
        return
    try:
        backend = socket.create_connection(("127.0.0.1", backend_port), timeout=60)
        backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as e:
        sys.stderr.write("cannot reach the backend 127.0.0.1:%d: %s\n" % (backend_port, e))
        client.close()
        return
    try:
        while True:
            ready = [client] if client.pending() else select.select([client, backend], [], [], 120)[0]
            if not ready:
                return
            for source in ready:
                data = source.recv(65536)
                if not data:
                    return
                (backend if source is client else client).sendall(data)
    except (ssl.SSLError, OSError) as e:
        sys.stderr.write("connection from %s ended: %s\n" % (address[0], e))
    finally:
        backend.close()
        client.close()


while True:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    if listener.getsockname()[1] not in avoid:
        break
    listener.close()
listener.listen(64)
port = listener.getsockname()[1]
with open(port_file + ".tmp", "w") as f:
    f.write(str(port))
os.replace(port_file + ".tmp", port_file)
sys.stderr.write("listening on 127.0.0.1:%d, passing to 127.0.0.1:%d\n" % (port, backend_port))
while True:
    conn, address = listener.accept()
    threading.Thread(target=serve, args=(conn, address), daemon=True).start()
