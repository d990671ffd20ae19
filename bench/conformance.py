#!/usr/bin/python3
"""HTTP conformance, fc against nginx, request by request, on loopback.

  bench/conformance.py [--fc build/fc-master]

Starts nginx 1.22 (Debian's nginx-light) and fc on free loopback ports over the
same files, sends each request below on a fresh connection to both, and prints
a Markdown table: the request, then what each server answered (the status of
every response read within half a second, "close" when the server closed the
connection, and the field the row is about). README quotes its output.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HIDDEN = b"GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n"


def req(line, fields=b"", body=b""):
    return line + b"\r\nHost: x\r\n" + fields + b"\r\n" + body


ROWS = [
    ("GET with a body that is a request", req(b"GET /a.txt HTTP/1.1", b"Content-Length: %d\r\n" % len(HIDDEN), HIDDEN), None),
    ("two different Content-Length", req(b"GET /a.txt HTTP/1.1", b"Content-Length: 0\r\nContent-Length: %d\r\n" % len(HIDDEN), HIDDEN), None),
    ("Content-Length and Transfer-Encoding", req(b"PUT /a.txt HTTP/1.1", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), None),
    ("chunked GET", req(b"GET /a.txt HTTP/1.1", b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n"), None),
    ("obs-fold", req(b"GET /a.txt HTTP/1.1", b"X-A: 1\r\n folded\r\n"), None),
    ("space before colon", req(b"GET /a.txt HTTP/1.1", b"X-A : 1\r\n"), None),
    ("0x01 in a field value", req(b"GET /a.txt HTTP/1.1", b"X-A: a\x01b\r\n"), None),
    ("NUL in a field value", req(b"GET /a.txt HTTP/1.1", b"X-A: a\x00b\r\n"), None),
    ("bare CR in a field value", req(b"GET /a.txt HTTP/1.1", b"X-A: a\rb\r\n"), None),
    ("two Host fields", req(b"GET /a.txt HTTP/1.1", b"Host: y\r\n"), None),
    ("bare-LF line endings", b"GET /a.txt HTTP/1.1\nHost: x\n\n", None),
    ("leading empty line", b"\r\n" + req(b"GET /a.txt HTTP/1.1"), None),
    ("absolute-form target", req(b"GET http://x/a.txt HTTP/1.1"), None),
    ("BREW (unknown method)", req(b"BREW /a.txt HTTP/1.1"), None),
    ("PROPFIND", req(b"PROPFIND /a.txt HTTP/1.1"), None),
    ("get (lower case)", req(b"get /a.txt HTTP/1.1"), None),
    ("DELETE", req(b"DELETE /a.txt HTTP/1.1"), "Allow"),
    ("OPTIONS *", req(b"OPTIONS * HTTP/1.1"), "Allow"),
    ("OPTIONS /a.txt", req(b"OPTIONS /a.txt HTTP/1.1"), "Allow"),
    ("Range 0-3, If-Range other ETag", req(b"GET /a.txt HTTP/1.1", b"Range: bytes=0-3\r\nIf-Range: \"other\"\r\n"), "Content-Length"),
    ("Range 0-1,5-6 (close together)", req(b"GET /a.txt HTTP/1.1", b"Range: bytes=0-1,5-6\r\n"), "Content-Range"),
    ("Range 0-1,5000-5001", req(b"GET /big.bin HTTP/1.1", b"Range: bytes=0-1,5000-5001\r\n"), "Content-Type"),
    ("Range: 200 overlapping ranges", req(b"GET /a.txt HTTP/1.1", b"Range: bytes=" + b",".join(b"%d-%d" % (i % 20, i % 20 + 5) for i in range(200)) + b"\r\n"), "Content-Type"),
    ("Range: 17 ranges far apart", req(b"GET /big.bin HTTP/1.1", b"Range: bytes=" + b",".join(b"%d-%d" % (i * 1000, i * 1000) for i in range(17)) + b"\r\n"), "Content-Type"),
    ("Range past the end", req(b"GET /a.txt HTTP/1.1", b"Range: bytes=1000-\r\n"), "Content-Range"),
    ("If-Match other ETag", req(b"GET /a.txt HTTP/1.1", b"If-Match: \"other\"\r\n"), None),
    ("If-Unmodified-Since 1994", req(b"GET /a.txt HTTP/1.1", b"If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), None),
    ("If-Modified-Since, asctime, 2099", req(b"GET /a.txt HTTP/1.1", b"If-Modified-Since: Sun Nov  6 08:49:37 2099\r\n"), None),
    ("If-Modified-Since, RFC 850, 2037", req(b"GET /a.txt HTTP/1.1", b"If-Modified-Since: Friday, 06-Nov-37 08:49:37 GMT\r\n"), None),
    ("Connection: close, keep-alive", req(b"GET /a.txt HTTP/1.1", b"Connection: close, keep-alive\r\n"), "Connection"),
    ("HTTP/1.0 with keep-alive", b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "Connection"),
    ("HTTP/2.0 request line", req(b"GET /a.txt HTTP/2.0"), None),
    (".wasm", req(b"GET /m.wasm HTTP/1.1"), "Content-Type"),
    (".mp4", req(b"GET /v.mp4 HTTP/1.1"), "Content-Type"),
    (".webp", req(b"GET /i.webp HTTP/1.1"), "Content-Type"),
    (".woff2", req(b"GET /f.woff2 HTTP/1.1"), "Content-Type"),
    (".xml", req(b"GET /d.xml HTTP/1.1"), "Content-Type"),
    ("T.HTML", req(b"GET /T.HTML HTTP/1.1"), "Content-Type"),
    ("GET /.fc/health", req(b"GET /.fc/health HTTP/1.1"), None),
    ("GET /../etc/passwd", req(b"GET /../etc/passwd HTTP/1.1"), None),
    ("GET /./a.txt (alias)", req(b"GET /./a.txt HTTP/1.1"), None),
    ("GET / (no index.html)", req(b"GET / HTTP/1.1"), None),
    ("GET /docs/ (a directory)", req(b"GET /docs/ HTTP/1.1"), None),
    ("GET /docs (a directory, no slash)", req(b"GET /docs HTTP/1.1"), "Location"),
    ("GET /s.css, Accept-Encoding: gzip, .gz beside", req(b"GET /s.css HTTP/1.1", b"Accept-Encoding: gzip\r\n"), "Content-Encoding"),
]

# What a browser user sees, with the web features on: nginx with index.html,
# autoindex on, gzip_static on and gzip on (per request, for text/css and
# JavaScript); fc with --autoindex html --precompressed gzip --compress gzip,br.
WEB_NGINX = "autoindex on; gzip_static on; gzip on; gzip_types text/css application/javascript;"
WEB_FC = ["--autoindex", "html", "--precompressed", "gzip", "--compress", "gzip,br"]
GZ = b"Accept-Encoding: gzip\r\n"
WEB_ROWS = [
    ("GET / (index.html present)", req(b"GET /site/ HTTP/1.1"), "Content-Type"),
    ("GET /docs/ (listing)", req(b"GET /docs/ HTTP/1.1"), "Content-Type"),
    ("GET /docs?q=1 (no slash, a query)", req(b"GET /docs?q=1 HTTP/1.1"), "Location"),
    ("GET /s.css, gzip, .gz beside", req(b"GET /s.css HTTP/1.1", GZ), "Content-Encoding"),
    ("the same: Vary", req(b"GET /s.css HTTP/1.1", GZ), "Vary"),
    ("GET /s.css, gzip;q=0", req(b"GET /s.css HTTP/1.1", b"Accept-Encoding: gzip;q=0\r\n"), "Content-Encoding"),
    ("GET /s.css, no Accept-Encoding", req(b"GET /s.css HTTP/1.1"), "Content-Encoding"),
    ("HEAD /s.css, gzip", req(b"HEAD /s.css HTTP/1.1", GZ), "Content-Encoding"),
    ("GET /s.css, gzip, Range 0-3", req(b"GET /s.css HTTP/1.1", GZ + b"Range: bytes=0-3\r\n"), "Content-Range"),
    ("GET /app.js, gzip, no .gz", req(b"GET /app.js HTTP/1.1", GZ), "Content-Encoding"),
    ("GET /app.js, gzip, Range 0-3", req(b"GET /app.js HTTP/1.1", GZ + b"Range: bytes=0-3\r\n"), "Content-Range"),
    ("GET /app.js, br", req(b"GET /app.js HTTP/1.1", b"Accept-Encoding: br\r\n"), "Content-Encoding"),
    ("GET /.fc/cache (the cache list)", req(b"GET /.fc/cache HTTP/1.1"), "Content-Type"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nothing listens on port %d" % port)


def exchange(port, data, field):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(data)
    got, closed = b"", False
    s.settimeout(0.5)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            got += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    statuses, extra, pos = [], "", 0
    while got.startswith(b"HTTP/1.", pos):
        head_end = got.find(b"\r\n\r\n", pos)
        if head_end < 0:
            statuses.append(got[pos + 9:pos + 12].decode(errors="replace") + " (cut)")
            break
        statuses.append(got[pos + 9:pos + 12].decode(errors="replace"))
        length = 0
        for l in got[pos:head_end].split(b"\r\n")[1:]:
            name, _, value = l.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
            if field and not extra and name.strip().lower() == field.lower().encode():
                extra = value.strip().decode(errors="replace")
                if field == "Content-Type" and "boundary=" in extra:
                    extra = extra.split(";")[0]
        status = int(got[pos + 9:pos + 12])
        bodyless = data.startswith(b"HEAD") or status in (204, 304) or status < 200
        pos = head_end + 4 + (0 if bodyless else length)
    text = " ".join(statuses) if statuses else "(no reply)"
    if closed:
        text += ", close"
    if extra:
        text += " `%s: %s`" % (field, extra)
    return text


def start_pair(tmp, root, name, nginx_extra, fc_args, fc_bin, procs):
    """nginx and fc over `root` on free ports; returns (nginx_port, fc_port)."""
    nginx_port, fc_port = free_port(), free_port()
    conf = os.path.join(tmp, name + ".conf")
    with open(conf, "w") as f:
        f.write("""daemon off; worker_processes 1; pid %(t)s/%(n)s.pid; error_log %(t)s/error.log;
events { worker_connections 64; }
http { include /etc/nginx/mime.types; default_type application/octet-stream; access_log off;
  client_body_temp_path %(t)s/body; proxy_temp_path %(t)s/proxy; fastcgi_temp_path %(t)s/fcgi;
  uwsgi_temp_path %(t)s/uwsgi; scgi_temp_path %(t)s/scgi; %(x)s
  server { listen 127.0.0.1:%(p)d; root %(r)s; } }
""" % {"t": tmp, "n": name, "p": nginx_port, "r": root, "x": nginx_extra})
    procs.append(subprocess.Popen(["/usr/sbin/nginx", "-c", conf, "-p", tmp + "/", "-e", tmp + "/error.log"],
                                  stderr=subprocess.DEVNULL))
    procs.append(subprocess.Popen([fc_bin, "--root", root, "--port", str(fc_port), "--quiet", "--workers", "1"]
                                  + fc_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_listening(nginx_port)
    wait_listening(fc_port)
    return nginx_port, fc_port


def table(rows, nginx_port, fc_port, version):
    print("| request | %s | fc |" % version)
    print("|---|---|---|")
    for name, data, field in rows:
        answers = [exchange(port, data, field).replace(str(port), "PORT") for port in (nginx_port, fc_port)]
        print("| %s | %s | %s |" % (name, answers[0], answers[1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fc", default=os.path.join(os.path.dirname(__file__), "..", "build", "fc-master"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="fc-conformance-")
    procs = []
    try:
        root = os.path.join(tmp, "root")
        os.makedirs(root)
        for name, data in [("a.txt", b"0123456789abcdefghijklmnopqrstuvwxyz"), ("b.txt", b"SECRET b\n"),
                           ("m.wasm", b"w"), ("v.mp4", b"v"), ("i.webp", b"i"), ("f.woff2", b"f"),
                           ("d.xml", b"<d/>"), ("T.HTML", b"<p>"), ("big.bin", os.urandom(100000))]:
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        os.chmod(tmp, 0o755)
        os.makedirs(os.path.join(root, "docs"))
        os.makedirs(os.path.join(root, "site"))
        for name, data in [("docs/x.txt", b"x"), ("site/index.html", b"<h1>hi</h1>"),
                           ("s.css", b"body { color: red; }\n" * 40),
                           ("app.js", b"function f(a) { return a + 1; }\n" * 100)]:
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        subprocess.run(["gzip", "-9", "-k", "-n", os.path.join(root, "s.css")], check=True)
        os.chmod(tmp, 0o755)
        version = subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True).stderr.strip()
        version = version.replace("nginx version: ", "")
        table(ROWS, *start_pair(tmp, root, "plain", "", [], args.fc, procs), version)
        print()
        print("With the web features on: nginx `%s`; fc `%s`." % (WEB_NGINX, " ".join(WEB_FC)))
        print()
        table(WEB_ROWS, *start_pair(tmp, root, "web", WEB_NGINX, WEB_FC, args.fc, procs), version)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
