#!/usr/bin/python3
"""Worker replacement time under load, measured from outside.

  bench/respawn.py [--kills 30] [--clients 6] [BINARY ...]

For each fc-master binary (default build/fc-master): serve a cached 20 MB file
to `clients` curl loops on loopback, SIGKILL a random worker `kills` times, and
time (a) kill -> the replacement's pid appears among the master's children and
(b) kill -> the replacement logs "serving". Prints p50, p99 and max of both.
Several binaries are measured alternately, kill by kill, so they share the
machine's noise. Bounded: every loop has a count; all traffic is on 127.0.0.1.
"""
import argparse
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return set(int(x) for x in f.read().split())
    except OSError:
        return set()


class Server:
    def __init__(self, binary, root, tmp):
        self.log = os.path.join(tmp, "master-%d.log" % random.randrange(1 << 30))
        args = [binary, "--root", root, "--port", "0", "--workers", "4", "--quiet"]
        if "--user" in subprocess.run([binary, "--help"], capture_output=True, text=True).stdout:
            args += ["--user", "root"]  # builds that drop root: keep it for the private scratch tree
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(self.log, "w"))
        line = self.proc.stdout.readline().decode()
        self.port = int(line.rsplit(":", 1)[1])
        for _ in range(2):  # cache it (fc's policy admits a big file on its second request)
            subprocess.run(["curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/big.bin" % self.port])
        self.curls = [subprocess.Popen(["sh", "-c", "for i in $(seq 100000); do curl -s -o /dev/null "
                                        "http://127.0.0.1:%d/big.bin || true; done" % self.port])
                      for _ in range(CLIENTS)]

    def kill_one(self):
        before = children(self.proc.pid)
        victim = random.choice(sorted(before))
        with open(self.log) as f:
            f.seek(0, 2)
            start = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            pid_ms = serving_ms = reaped_ms = None
            text = ""
            while time.monotonic() - start < 5:
                now = children(self.proc.pid)
                new = now - before
                if pid_ms is None and new:
                    pid_ms = (time.monotonic() - start) * 1000
                text += f.read()
                if reaped_ms is None and "(pid %d)" % victim in text:
                    reaped_ms = (time.monotonic() - start) * 1000
                if new and any(re.search(r"fc-worker\[%d\] slot \d+ serving" % p, text) for p in new):
                    serving_ms = (time.monotonic() - start) * 1000
                    break
                time.sleep(0.0002)
        if os.environ.get("RESPAWN_DEBUG"):
            print("victim %d: master logged the death at %s ms, new pid at %s ms, serving at %s ms"
                  % (victim, reaped_ms, pid_ms, serving_ms), file=sys.stderr)
        return pid_ms, serving_ms

    def stop(self):
        for c in self.curls:
            c.kill()
        self.proc.terminate()
        self.proc.wait(timeout=20)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    global CLIENTS
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("binaries", nargs="*", default=[os.path.join(os.path.dirname(__file__), "..", "build", "fc-master")])
    args = ap.parse_args()
    CLIENTS = args.clients
    tmp = tempfile.mkdtemp(prefix="fc-respawn-")
    root = os.path.join(tmp, "root")
    os.makedirs(root)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(os.urandom(20_000_000))
    servers = [Server(b, root, tmp) for b in args.binaries]
    results = {b: ([], []) for b in args.binaries}
    try:
        time.sleep(1)
        for _ in range(args.kills):
            for b, s in zip(args.binaries, servers):
                pid_ms, serving_ms = s.kill_one()
                if pid_ms is not None:
                    results[b][0].append(pid_ms)
                if serving_ms is not None:
                    results[b][1].append(serving_ms)
                time.sleep(0.3)
    finally:
        for s in servers:
            s.stop()
        subprocess.run(["rm", "-rf", tmp])
    print("| build | kills | kill -> new pid p50 / p99 / max | kill -> serving p50 / p99 / max |")
    print("|---|---|---|---|")
    for b in args.binaries:
        a, s = results[b]
        fmt = lambda v: "%.1f / %.1f / %.1f ms" % (statistics.median(v), pct(v, 99), max(v)) if v else "n/a"
        print("| %s | %d | %s | %s |" % (b, len(a), fmt(a), fmt(s)))


if __name__ == "__main__":
    main()
