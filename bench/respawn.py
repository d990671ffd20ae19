#!/usr/bin/python3
"""Worker replacement time under load, measured from outside.

  bench/respawn.py [--kills 30] [--clients 6] [--users default,root] [BINARY ...]

For each fc-master binary (default build/fc-master) and each user setting
(`default`: no --user, so a master started as root drops to nobody, as
installed; `root`: --user root): serve a cached 20 MB file
to `clients` curl loops on loopback, SIGKILL a random worker `kills` times, and
time (a) kill -> the replacement's pid appears among the master's children and
(b) kill -> the replacement logs "serving". Prints p50, p99 and max of both.
The old floor, measured under the same load after each kill: how long a
SIGKILLed dummy child of this script (one thread, and five threads idle as a
worker's are) takes until its parent can reap it, and how long a fork + exec
of a trivial program takes until it runs. A replacement that waits for the
reap cannot serve sooner than the first; fc's master replaces a worker at its
first thread's exit instead (master/src/death_watch.h), from a standby forked
ahead of need, so it can.
The observer runs SCHED_FIFO (as root) and wakes on the servers' log pipe, so
that its own wake-up behind the load does not count.
Several binaries and users are measured alternately, kill by kill, so they share the
machine's noise. Bounded: every loop has a count; all traffic is on 127.0.0.1.
"""
import argparse
import os
import random
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def children(pid):
    """The master's workers: its children but the standby (not a worker until it takes a slot) and fc-populate."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = set(int(x) for x in f.read().split())
    except OSError:
        return set()
    workers = set()
    for k in kids:
        try:
            with open("/proc/%d/comm" % k) as f:
                if f.read().strip() not in ("fc-standby", "fc-populate"):
                    workers.add(k)
        except OSError:
            pass
    return workers


class Server:
    def __init__(self, binary, user, root, tmp):
        self.log = os.path.join(tmp, "master-%d.log" % random.randrange(1 << 30))
        args = [binary, "--root", root, "--port", "0", "--workers", "4", "--quiet"] + EXTRA
        if user != "default" and "--user" in subprocess.run([binary, "--help"], capture_output=True,
                                                            text=True).stdout:
            args += ["--user", user]
        # The master's and workers' log lines come through a pipe, so that the
        # "serving" line wakes this script the moment it is written.
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.set_blocking(self.proc.stderr.fileno(), False)
        self.text = ""
        line = self.proc.stdout.readline().decode()
        self.port = int(line.rsplit(":", 1)[1])
        for _ in range(2):  # cache it (fc's policy admits a big file on its second request)
            subprocess.run(["curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/big.bin" % self.port])
        # One process group per client loop, so that pause() stops its curl too.
        self.curls = [subprocess.Popen(start_new_session=True, args=["sh", "-c", "for i in $(seq 100000); do curl -s -o /dev/null "
                                        "http://127.0.0.1:%d/big.bin || true; done" % self.port])
                      for _ in range(CLIENTS)]

    def pause(self, paused):
        for c in self.curls:
            os.killpg(c.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def drain(self, timeout=0.0):
        """Appends what the log pipe holds to self.text, waiting up to `timeout` s for it."""
        fd = self.proc.stderr.fileno()
        if select.select([fd], [], [], timeout)[0]:
            try:
                self.text += os.read(fd, 1 << 16).decode(errors="replace")
            except BlockingIOError:
                pass

    def kill_one(self):
        before = children(self.proc.pid)
        victim = random.choice(sorted(before))
        self.drain()
        seen = len(self.text)
        start = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        pid_ms = serving_ms = reaped_ms = None
        while time.monotonic() - start < 5:
            # Woken by the next log line, or every 0.5 ms to look for the new pid.
            self.drain(0.0005)
            now_ms = (time.monotonic() - start) * 1000
            text = self.text[seen:]
            if reaped_ms is None and "(pid %d)" % victim in text:
                reaped_ms = now_ms
            m = re.search(r"fc-worker\[(\d+)\] slot \d+ serving", text)
            if m and int(m.group(1)) != victim:
                serving_ms = now_ms
            if pid_ms is None and children(self.proc.pid) - before:
                pid_ms = (time.monotonic() - start) * 1000
            if serving_ms is not None:
                break
        if pid_ms is None:
            pid_ms = serving_ms
        if os.environ.get("RESPAWN_DEBUG"):
            print("victim %d: master logged the death at %s ms, new pid at %s ms, serving at %s ms"
                  % (victim, reaped_ms, pid_ms, serving_ms), file=sys.stderr)
        return pid_ms, serving_ms

    def stop(self):
        for c in self.curls:
            os.killpg(c.pid, signal.SIGKILL)
        self.proc.terminate()
        self.proc.wait(timeout=20)


DUMMY_THREADS = ("import threading, time\n"
                 "for _ in range(4): threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()\n"
                 "print('ready', flush=True)\ntime.sleep(1000)\n")


def floor_once(threads):
    """SIGKILL -> reaped of a dummy child (1 or 5 threads), and fork+exec -> running."""
    if threads == 1:
        child = subprocess.Popen(["python3", "-c", "print('ready', flush=True)\nimport time\ntime.sleep(1000)"],
                                 stdout=subprocess.PIPE)
    else:
        child = subprocess.Popen(["python3", "-c", DUMMY_THREADS], stdout=subprocess.PIPE)
    child.stdout.readline()
    time.sleep(0.05)
    start = time.monotonic()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    reaped_ms = (time.monotonic() - start) * 1000
    start = time.monotonic()
    subprocess.run(["/bin/true"])
    spawn_ms = (time.monotonic() - start) * 1000
    return reaped_ms, spawn_ms


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    global CLIENTS, EXTRA
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--extra", default="", help="more fc-master options, space-separated")
    ap.add_argument("--users", default="default,root",
                    help="comma-separated: default (no --user: root drops to nobody) and/or a user name")
    ap.add_argument("binaries", nargs="*", default=[os.path.join(os.path.dirname(__file__), "..", "build", "fc-master")])
    args = ap.parse_args()
    CLIENTS = args.clients
    EXTRA = args.extra.split()
    # The observer must not wait behind the load it measures: as root it runs
    # SCHED_FIFO (it sleeps in select() and waitpid() between its looks; what
    # it starts runs at the defaults), so
    # a figure is the server's time, not this script's wake-up.
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(10))
        observer = "SCHED_FIFO"
    except (PermissionError, AttributeError):
        observer = "SCHED_OTHER (not root: figures include this script's own wake-up delay)"
    tmp = tempfile.mkdtemp(prefix="fc-respawn-")
    os.chmod(tmp, 0o755)  # readable by the user the default drops to
    root = os.path.join(tmp, "root")
    os.makedirs(root, mode=0o755)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(os.urandom(20_000_000))
    os.chmod(os.path.join(root, "big.bin"), 0o644)
    setups = [(b, u) for b in args.binaries for u in args.users.split(",")]
    servers = [Server(b, u, root, tmp) for b, u in setups]
    results = {b: ([], []) for b in setups}
    floors = {1: [], 5: []}
    spawns = []
    try:
        time.sleep(1)
        for _ in range(args.kills):
            for b, s in zip(setups, servers):
                # Only this server's clients run while its worker is killed:
                # the setups share the machine's noise, not each other's load.
                for other in servers:
                    other.pause(other is not s)
                time.sleep(0.3)
                pid_ms, serving_ms = s.kill_one()
                if pid_ms is not None:
                    results[b][0].append(pid_ms)
                if serving_ms is not None:
                    results[b][1].append(serving_ms)
                time.sleep(0.3)
                for threads in (1, 5):  # the floor, under this server's load
                    reaped_ms, spawn_ms = floor_once(threads)
                    floors[threads].append(reaped_ms)
                    spawns.append(spawn_ms)
    finally:
        for s in servers:
            s.stop()
        subprocess.run(["rm", "-rf", tmp])
    print("| build | user | kills | kill -> new pid p50 / p99 / max | kill -> serving p50 / p99 / max |")
    print("|---|---|---|---|---|")
    for b in setups:
        a, s = results[b]
        fmt = lambda v: "%.1f / %.1f / %.1f ms" % (statistics.median(v), pct(v, 99), max(v)) if v else "n/a"
        user = "default (nobody)" if b[1] == "default" and os.geteuid() == 0 else b[1]
        print("| %s | %s | %d | %s | %s |" % (b[0], user, len(a), fmt(a), fmt(s)))
    fmt = lambda v: "%.1f / %.1f / %.1f ms" % (statistics.median(v), pct(v, 99), max(v)) if v else "n/a"
    print("observer: %s" % observer)
    print("floor under the same load: SIGKILL -> reaped, 1 thread %s, 5 threads %s; fork+exec+exit of /bin/true %s"
          % (fmt(floors[1]), fmt(floors[5]), fmt(spawns)))


if __name__ == "__main__":
    main()
