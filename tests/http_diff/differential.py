#!/usr/bin/python3
"""Differential test of fc's HTTP/1.1 framing against h11, an independent parser.

Generates requests (valid ones, the classic smuggling shapes, and random
mutations of both), frames each with fc (the fc-http-frame helper, which runs
fc's own parser) and with h11 0.14 (Debian's python3-h11), and checks:

  * fc accepts no message that h11 rejects;
  * where both accept, they agree on where each message ends.

fc may refuse what h11 accepts (it is stricter on purpose: obs-fold, CTLs,
Content-Length with Transfer-Encoding, ...); those are counted and printed.
One divergence is intended and allowed: fc skips empty lines before a request
line (RFC 9112 §2.2 says a server SHOULD), h11 refuses them.

  differential.py --frame build/fc-http-frame [--cases 20000] [--seed 1]
Exit status 0: agreement; 1: a disagreement (printed); 77: h11 missing.
"""
import argparse
import random
import subprocess
import sys

try:
    import h11
except ImportError:
    print("skipped: python3-h11 is not installed (scripts/install-deps.sh installs it)")
    sys.exit(77)

METHODS = [b"GET", b"HEAD", b"PUT", b"POST", b"OPTIONS", b"DELETE", b"get", b"BREW", b"G\x00T"]
TARGETS = [b"/a", b"/a%20b?x=1", b"/", b"*", b"http://h/x", b"/a b", b"/\x80", b"a", b"//x"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 ", b"http/1.1"]
NOISE = [b"\x00", b"\r", b"\n", b" ", b"\t", b":", b",", b"\x01", b"\x7f", b"\x80", b"a", b"0", b"-"]


def pick(rng, clean, noisy, p_noisy=0.12):
    """Mostly a well-formed choice; sometimes one of the hostile ones."""
    return rng.choice(noisy) if rng.random() < p_noisy else rng.choice(clean)


def field_lines(rng, body):
    lines = []
    if rng.random() < 0.95:
        lines.append(b"Host: h")
    if rng.random() < 0.05:
        lines.append(b"Host: other")
    kind = rng.random()
    if kind < 0.5:
        lines.append(b"Content-Length: %d" % len(body))
    elif kind < 0.56:
        lines.append(rng.choice([b"Content-Length: %d" % (len(body) + 3), b"Content-Length: -1",
                                 b"Content-Length: %d, %d" % (len(body), len(body)),
                                 b"Content-Length : %d" % len(body), b"Content-Length:%d" % len(body)]))
    elif kind < 0.64:
        lines.append(b"Transfer-Encoding: " + rng.choice([b"chunked", b"Chunked", b"gzip", b"chunked, gzip",
                                                          b"xchunked", b" chunked"]))
    elif kind < 0.68:
        lines += [b"Content-Length: %d" % len(body), b"Transfer-Encoding: chunked"]
    elif kind < 0.72:
        lines += [b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 1)]
    for _ in range(rng.randrange(3)):
        lines.append(pick(rng, [b"Connection: keep-alive", b"Connection: close", b"Range: bytes=0-1",
                                b"X-A: b", b"X-A: \x80\xff", b"If-None-Match: \"x\"", b"Expect: 100-continue",
                                b"X: ", b"Accept: */*"],
                          [b"X-Fold: a\r\n b", b"Bad Name: v", b":x", b"X: a\x01b"]))
    rng.shuffle(lines)
    return lines


def chunked(body):
    return (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"


def message(rng):
    body = rng.choice([b"", b"", b"hello", b"GET /hidden HTTP/1.1\r\nHost: h\r\n\r\n"])
    lines = field_lines(rng, body)
    eol = pick(rng, [b"\r\n", b"\r\n", b"\n"], [b"\r", b"\n\r"], 0.05)
    method = pick(rng, METHODS[:6], METHODS[6:])
    target = pick(rng, TARGETS[:3] + TARGETS[4:5] + TARGETS[8:], TARGETS[3:4] + TARGETS[5:8])
    head = b" ".join([method, target, pick(rng, VERSIONS[:4], VERSIONS[4:])])
    data = eol.join([head] + lines) + eol + eol
    if any(l.startswith(b"Transfer-Encoding") for l in lines):
        data += chunked(body)
    else:
        data += body
    return data


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        if not data:
            break
        i = rng.randrange(len(data))
        op = rng.random()
        if op < 0.4:
            data[i:i + 1] = rng.choice(NOISE)
        elif op < 0.7:
            data[i:i] = rng.choice(NOISE)
        else:
            del data[i]
    return bytes(data)


def case(rng):
    msgs = [message(rng) for _ in range(rng.choice([1, 1, 2, 3]))]
    data = b"".join(msgs)
    return mutate(rng, data) if rng.random() < 0.35 else data


def h11_frame(data):
    """Message ends and the stop reason, as h11 reads a server's input."""
    ends, pos = [], 0
    while pos < len(data):
        skipped = pos
        while data.startswith(b"\r\n", skipped) or data.startswith(b"\n", skipped):
            skipped += 2 if data.startswith(b"\r\n", skipped) else 1  # the allowed divergence
        if skipped == len(data):
            return ends, "incomplete"  # (receive_data(b"") would mean EOF to h11)
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data[skipped:])
        try:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                return ends, "incomplete"
            if not isinstance(event, h11.Request):
                return ends, "reject"
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    return ends, "incomplete"
                if isinstance(event, h11.EndOfMessage):
                    break
                if not isinstance(event, h11.Data):
                    return ends, "reject"
        except h11.RemoteProtocolError:
            return ends, "reject"
        pos = len(data) - len(conn.trailing_data[0])
        ends.append(pos)
    return ends, "end"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame", required=True, help="path to fc-http-frame")
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cases = [case(rng) for _ in range(args.cases)]
    stdin = b"".join(b"%d\n" % len(c) + c for c in cases)
    out = subprocess.run([args.frame], input=stdin, capture_output=True, check=True, timeout=300)
    lines = out.stdout.decode().splitlines()
    assert len(lines) == len(cases), "fc-http-frame printed %d lines for %d cases" % (len(lines), len(cases))
    bad, stricter, agreed_messages, both_rejected = [], 0, 0, 0
    for data, line in zip(cases, lines):
        words = line.split()
        fc_ends, fc_stop = [int(w) for w in words[:-1]], words[-1]
        ref_ends, ref_stop = h11_frame(data)
        # fc's ends must be a prefix of h11's (a message fc accepts, h11 accepts, ending at the same byte).
        if fc_ends != ref_ends[:len(fc_ends)]:
            bad.append((data, fc_ends, fc_stop, ref_ends, ref_stop))
            continue
        agreed_messages += len(fc_ends)
        if len(fc_ends) < len(ref_ends) or (fc_stop in ("reject", "close") and ref_stop not in ("reject",)):
            stricter += 1
        elif fc_stop == "reject" and ref_stop == "reject":
            both_rejected += 1
    # The check must be able to fail: a framing that ignores bodies must disagree.
    wrong = subprocess.run([args.frame, "--ignore-body"], input=stdin, capture_output=True, check=True,
                           timeout=300).stdout.decode().splitlines()
    caught = sum(1 for data, line in zip(cases, wrong)
                 if [int(w) for w in line.split()[:-1]] != h11_frame(data)[0][:len(line.split()) - 1])
    if caught == 0:
        print("self-check failed: a parser that ignores Content-Length went unnoticed")
        return 1
    print("differential: %d cases (seed %d), %d messages framed alike, fc stricter in %d cases, "
          "both refused %d, disagreements %d (self-check: a body-ignoring framing disagrees in %d)"
          % (len(cases), args.seed, agreed_messages, stricter, both_rejected, len(bad), caught))
    for data, fc_ends, fc_stop, ref_ends, ref_stop in bad[:10]:
        print("  DISAGREE %r\n    fc: %s %s  h11: %s %s" % (data, fc_ends, fc_stop, ref_ends, ref_stop))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
