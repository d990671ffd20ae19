#!/usr/bin/env python3
"""A latency probe for bench/tls.sh: one kept-alive HTTPS connection to
127.0.0.1:PORT that asks for PATH every INTERVAL ms for SECONDS seconds (an
open loop: a slow answer does not slow the asking) and prints
"p50_ms p99_ms max_ms count". The server's certificate is not checked (the
bench made it); every reply must be a 200 with the whole body."""
import socket
import ssl
import sys
import time


def main():
    port, path, seconds, interval_ms = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode()
    latencies = []
    start = time.monotonic()
    next_at = start
    buf = b""
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += interval_ms / 1000.0
        sent = time.monotonic()
        sock.sendall(request)
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, _, rest = buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            sys.exit("not a 200: %r" % head[:80])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += sock.recv(65536)
        buf = rest[length:]
        latencies.append((time.monotonic() - sent) * 1000.0)
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print("%.3f %.3f %.3f %d" % (pick(0.50), pick(0.99), latencies[-1], len(latencies)))


if __name__ == "__main__":
    main()
