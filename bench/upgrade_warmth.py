#!/usr/bin/env python3
"""Hit ratio around a binary upgrade (SIGUSR2) and around a plain restart.

    /usr/bin/python3 bench/upgrade_warmth.py [--master build/fc-master]

2,000 files (4-60 KiB) under Zipf(0.9) popularity, a 32 MiB cache (the working
set does not fit), HTTP GETs on loopback. After 5,000 warm-up requests it
measures the hit ratio of 1,000 requests before and 1,000 after a binary
upgrade, then of the first 1,000 after a stop and start, from fc's own metrics
(fc_cache_hits_total and fc_cache_misses_total). Every body is checked.
Bounded: about 10,000 requests in all.
"""
import argparse, bisect, http.client, os, random, re, signal, subprocess, sys, tempfile, time


def zipf_sampler(n, s, rng):
    weights = [1.0 / (i + 1) ** s for i in range(n)]
    total = sum(weights)
    cumulative, acc = [], 0.0
    for w in weights:
        acc += w / total
        cumulative.append(acc)
    return lambda: min(bisect.bisect_left(cumulative, rng.random()), n - 1)


def start(master, root, extra):
    out = tempfile.NamedTemporaryFile(delete=False)
    err = open(out.name + ".err", "w")
    args = [master, "--root", root, "--port", "0", "--workers", "2", "--cache-size", "32M",
            "--metrics-listen", "127.0.0.1:0", "--access-log", "off"] + extra
    if os.geteuid() == 0:
        args += ["--user", "root"]
    proc = subprocess.Popen(args, stdout=out, stderr=err)
    for _ in range(200):
        text = open(out.name + ".err").read()
        m = re.search(r"metrics at http://127\.0\.0\.1:(\d+)", text)
        listening = open(out.name).read()
        p = re.search(r"listening on .*:(\d+)", listening)
        if m and p:
            return proc, int(p.group(1)), int(m.group(1)), out.name + ".err"
        time.sleep(0.05)
    sys.exit("fc-master did not start: " + open(out.name + ".err").read())


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    c.close()
    return int(re.search(r"^%s (\d+)" % name, body, re.M).group(1))


def run(port, metrics_port, names, contents, sample, count):
    h0, m0 = metric(metrics_port, "fc_cache_hits_total"), metric(metrics_port, "fc_cache_misses_total")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(count):
        i = sample()
        for attempt in range(2):
            try:
                conn.request("GET", "/" + names[i])
                r = conn.getresponse()
                body = r.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected):
                conn.close()  # an idle keep-alive connection closed by a draining worker
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        if r.status != 200 or body != contents[i]:
            sys.exit("wrong reply for %s: %d" % (names[i], r.status))
    conn.close()
    h1, m1 = metric(metrics_port, "fc_cache_hits_total"), metric(metrics_port, "fc_cache_misses_total")
    return (h1 - h0) / max(1, (h1 - h0) + (m1 - m0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--master", default="build/fc-master")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    root = tempfile.mkdtemp(prefix="fc-warmth-")
    names, contents = [], []
    for i in range(2000):
        size = rng.randint(4096, 61440)
        names.append("f%04d.bin" % i)
        contents.append(os.urandom(size))
        with open(os.path.join(root, names[-1]), "wb") as f:
            f.write(contents[-1])
    os.chmod(root, 0o755)
    sample = zipf_sampler(len(names), 0.9, rng)
    proc, port, mport, log = start(args.master, root, [])
    try:
        run(port, mport, names, contents, sample, 5000)
        before = run(port, mport, names, contents, sample, 1000)
        proc.send_signal(signal.SIGUSR2)
        for _ in range(400):
            if "stays with the new master" in open(log).read():
                break
            time.sleep(0.05)
        else:
            sys.exit("the upgrade did not complete:\n" + open(log).read())
        new_pid = int(re.search(r" as pid (\d+)", open(log).read()).group(1))
        proc.wait()
        after = run(port, mport, names, contents, sample, 1000)
        os.kill(new_pid, signal.SIGTERM)
        for _ in range(400):
            if not os.path.exists("/proc/%d" % new_pid):
                break
            time.sleep(0.05)
        proc, port, mport, log = start(args.master, root, [])
        restart = run(port, mport, names, contents, sample, 1000)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        subprocess.run(["rm", "-rf", root])
    print("hit ratio, 1,000 requests each (Zipf 0.9 over 2,000 files of 4-60 KiB, 32 MiB cache):")
    print("  before the upgrade   %.3f" % before)
    print("  after the upgrade    %.3f" % after)
    print("  after a restart      %.3f" % restart)


if __name__ == "__main__":
    main()
