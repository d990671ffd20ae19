#!/usr/bin/env python3
"""What a browser user sees, in a real browser: Debian's chromium, headless,
driven through chromedriver's WebDriver protocol (HTTP + JSON, so only the
standard library is needed here), against the real fc-master on port 0.

It loads / (index.html renders), a directory listing (a click on a link whose
name needs escaping brings the file's bytes; a click on the Size header sorts;
no dotfile; a bidi override and bytes that are not UTF-8 shown as escapes; no
size or date wraps at 420 px), /.git/ (never listed), and /.fc/cache as HTML
(the table shows what was served, but no dotfile), and the same page over
HTTPS (a certificate made here, trusted through
--ignore-certificate-errors-spki-list), reached by --redirect-https from
http://localhost. Screenshots go to
--out. Exits 77 (ctest: skipped), saying why, where chromium or chromedriver
is missing or the browser cannot start; 0 when every check passed.
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SKIP = 77
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver element key


class WebDriver:
    """The few WebDriver commands this test needs."""

    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port
        self.session = None

    def call(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s %s: %s" % (method, path, e.read()[:400].decode(errors="replace")))

    def start(self, user_data_dir, spki=None):
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=900,600", "--user-data-dir=" + user_data_dir]
        if spki:
            args.append("--ignore-certificate-errors-spki-list=" + spki)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM, "args": args}}}}
        self.session = self.call("POST", "/session", caps, timeout=60)["sessionId"]

    def cmd(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.session, path), body)

    def go(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": []})

    def click_link(self, text):
        element = self.cmd("POST", "/element", {"using": "link text", "value": text})
        self.cmd("POST", "/element/%s/click" % element[ELEMENT], {})

    def resize(self, width, height):
        self.cmd("POST", "/window/rect", {"width": width, "height": height})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def quit(self):
        if self.session:
            try:
                self.call("DELETE", "/session/" + self.session, timeout=10)
            except Exception:  # the browser may be gone already
                pass


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def eq(self, what, got, want):
        if got == want:
            self.passed += 1
        else:
            self.failed += 1
            print("FAILED: %s: got %r, want %r" % (what, got, want))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificate(work):
    """A self-signed ECDSA P-256 certificate for localhost, and the base64
    SHA-256 of its public key (what Chromium's SPKI list names)."""
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, check=True,
                         capture_output=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der, check=True,
                            capture_output=True).stdout
    return cert, key, base64.b64encode(digest).decode()


def start_fc(master, root, log_path, cert, key):
    log = open(log_path, "w")
    proc = subprocess.Popen([master, "--root", root, "--port", "0", "--workers", "1",
                             "--autoindex", "html", "--tls-listen", "127.0.0.1:0", "--tls-cert", cert,
                             "--tls-key", key, "--redirect-https"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        text = open(log_path).read()
        m = re.search(r"^listening on 127\.0\.0\.1:(\d+)", text, re.M)
        t = re.search(r"^https listening on 127\.0\.0\.1:(\d+)", text, re.M)
        if m and t:
            return proc, int(m.group(1)), int(t.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError("fc-master did not start: " + open(log_path).read())


def make_root(root):
    os.makedirs(os.path.join(root, "docs"))
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write('<!doctype html><meta charset="utf-8"><title>fc sample</title>'
                '<h1 id="greeting">Hello from fc</h1><p><a href="docs/">the docs</a></p>\n')
    files = {"a.txt": "alpha\n" * 3, "b c&d<e>.txt": "bytes of an awkward name\n",
             "zz big.txt": "z" * 5000 + "\n"}
    for name, text in files.items():
        with open(os.path.join(root, "docs", name), "w") as f:
            f.write(text)
    # What a listing must not show, or must show as it is (review items 2, 6).
    os.makedirs(os.path.join(root, ".git"))
    with open(os.path.join(root, ".git", "HEAD"), "w") as f:
        f.write("ref: refs/heads/main\n")
    with open(os.path.join(root, "docs", ".env"), "w") as f:
        f.write("SECRET=1\n")
    with open(os.path.join(root, "docs", "invoice\u202efdp.exe"), "w") as f:
        f.write("exe")
    with open(os.path.join(root.encode(), b"docs", b"bad\xff"), "wb") as f:
        f.write(b"ff")
    return files


def run(args, checks):
    work = tempfile.mkdtemp(prefix="fc-browser-")
    os.chmod(work, 0o755)  # as root, fc serves as nobody
    fc = driver_proc = driver = None
    try:
        root = os.path.join(work, "root")
        files = make_root(root)
        cert, key, spki = make_certificate(work)
        fc, port, tls_port = start_fc(args.master, root, os.path.join(work, "fc.log"), cert, key)
        url = "http://127.0.0.1:%d" % port
        driver_port = free_port()
        driver_proc = subprocess.Popen([CHROMEDRIVER, "--port=%d" % driver_port],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        driver = WebDriver(driver_port)
        deadline = time.time() + 20
        while True:
            try:
                if driver.call("GET", "/status", timeout=2).get("ready"):
                    break
            except (OSError, RuntimeError):
                pass
            if time.time() > deadline:
                print("SKIP: chromedriver did not become ready in 20 s")
                return SKIP
            time.sleep(0.1)
        try:
            driver.start(os.path.join(work, "profile"), spki)
        except (OSError, RuntimeError) as e:
            print("SKIP: headless chromium could not start: %s" % e)
            return SKIP

        # /: index.html renders.
        driver.go(url + "/")
        checks.eq("title of /", driver.js("return document.title"), "fc sample")
        checks.eq("heading of /", driver.js("return document.getElementById('greeting').textContent"),
                  "Hello from fc")
        driver.screenshot(os.path.join(args.out, "index.png"))

        # A listing: follow the index's link, then a file's link.
        driver.click_link("the docs")
        checks.eq("URL after the docs link", driver.js("return location.href"), url + "/docs/")
        names = driver.js("return Array.from(document.querySelectorAll('td a')).map(a => a.textContent)")
        checks.eq("names listed", names, ["../", "a.txt", "b c&d<e>.txt", "bad\\xFF",
                                          "invoice\\u202Efdp.exe", "zz big.txt"])
        page = driver.js("return document.body.innerText")
        checks.eq("no .env in the listing", ".env" in page, False)
        checks.eq("the name that is not UTF-8 is marked", "(not UTF-8)" in page, True)
        checks.eq("no raw U+202E on the page", "\u202e" in page, False)
        driver.screenshot(os.path.join(args.out, "listing.png"))
        # At 420 px a row's size and date stay on one line each (review item 8).
        driver.resize(420, 800)
        driver.go(url + "/docs/")
        wrapped = driver.js(
            "return Array.from(document.querySelectorAll('td:nth-child(2), td:nth-child(3)'))"
            ".filter(td => td.textContent.length > 0).filter(td => {"
            " const r = document.createRange(); r.selectNodeContents(td);"
            " const tops = new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top)));"
            " return tops.size > 1; }).map(td => td.textContent)")
        checks.eq("sizes and dates wrapped at 420 px", wrapped, [])
        driver.screenshot(os.path.join(args.out, "listing-420.png"))
        driver.resize(900, 600)
        # A dot-directory is never listed.
        driver.go(url + "/.git/")
        hidden = driver.js("return document.body.innerText")
        checks.eq("/.git/ is not listed", "HEAD" not in hidden and "never listed" in hidden, True)
        for name, text in files.items():
            driver.go(url + "/docs/")
            driver.click_link(name)
            body = driver.js("return document.body.innerText")
            checks.eq("bytes of %r in the browser" % name, body.rstrip("\n"), text.rstrip("\n"))
        # Sorting by size, largest first, through the header's links.
        driver.go(url + "/docs/")
        driver.click_link("Size")
        driver.click_link("Size \u25b2")
        order = driver.js("return Array.from(document.querySelectorAll('td a')).map(a => a.textContent)")
        checks.eq("names by size, descending", order, ["../", "zz big.txt", "b c&d<e>.txt", "a.txt",
                                                        "invoice\\u202Efdp.exe", "bad\\xFF"])

        # /.fc/cache as HTML: what was just served is there.
        for _ in range(3):
            urllib.request.urlopen(url + "/docs/a.txt", timeout=10).read()
            urllib.request.urlopen(url + "/docs/.env", timeout=10).read()
        driver.go(url + "/.fc/cache")
        checks.eq("title of the cache page", driver.js("return document.title"), "fc cache")
        cached = driver.js("return Array.from(document.querySelectorAll('tr td:first-child'))"
                           ".map(td => td.textContent)")
        checks.eq("docs/a.txt in the cache table", "docs/a.txt" in cached, True)
        checks.eq("no dotfile in the cache table", [c for c in cached if ".env" in c], [])
        checks.eq("the fill meter", driver.js("return document.getElementById('fill') !== null"), True)
        driver.screenshot(os.path.join(args.out, "cache.png"))

        # HTTPS: http://localhost is redirected (308) to the TLS port, and the
        # page is the same, over TLS, with HTTP/1.1 by ALPN.
        driver.go("http://localhost:%d/docs/" % port)
        checks.eq("the redirect lands on HTTPS", driver.js("return location.href"),
                  "https://localhost:%d/docs/" % tls_port)
        names = driver.js("return Array.from(document.querySelectorAll('td a')).map(a => a.textContent)")
        checks.eq("the listing over HTTPS", "a.txt" in (names or []), True)
        checks.eq("protocol of the navigation",
                  driver.js("return performance.getEntriesByType('navigation')[0].nextHopProtocol"), "http/1.1")
        driver.click_link("zz big.txt")
        checks.eq("bytes over HTTPS", driver.js("return document.body.innerText").rstrip("\n"),
                  files["zz big.txt"].rstrip("\n"))
        driver.screenshot(os.path.join(args.out, "https.png"))
        return 0
    finally:
        if driver:
            driver.quit()
        for proc in (driver_proc, fc):
            if proc and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", required=True, help="the fc-master to test")
    parser.add_argument("--out", required=True, help="directory for the screenshots")
    args = parser.parse_args()
    for tool in (CHROMIUM, CHROMEDRIVER):
        if not os.access(tool, os.X_OK):
            print("SKIP: %s is not installed (apt-get install chromium chromium-driver)" % tool)
            return SKIP
    os.makedirs(args.out, exist_ok=True)
    checks = Checks()
    rc = run(args, checks)
    if rc == SKIP:
        return SKIP
    print("screenshots in %s" % args.out)
    print("%d passed, %d failed" % (checks.passed, checks.failed))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
