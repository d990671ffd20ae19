#!/usr/bin/env python3
"""Opens N idle TCP connections to 127.0.0.1:PORT, holds them for SECONDS, closes them.

Used by bench/run.sh to measure a worker's memory with many idle connections.
Loopback only; bounded by N and SECONDS."""
import resource
import socket
import sys
import time

port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 100), hard))
conns = []
for _ in range(count):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    s.send(b"F")  # one byte of an fc request: accepted (TCP_DEFER_ACCEPT), then idle
    conns.append(s)
print(f"holding {len(conns)} connections", flush=True)
time.sleep(seconds)
for s in conns:
    s.close()
