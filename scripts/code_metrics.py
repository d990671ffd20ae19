#!/usr/bin/env python3
"""Size and complexity of fc's C++ sources, against the limits a newcomer can
read at a glance: no file over 450 lines, no function over 80 lines (option
tables excepted: a function whose first line carries the comment
`// code_metrics: table`), no function with a cyclomatic complexity over 25.

  python3 scripts/code_metrics.py [--all] [--top N]

Files are the tracked *.cc and *.h (git ls-files). Function extents come from
universal-ctags (`--fields=+ne`); complexity is 1 + the branches in the body
(if, for, while, case, catch, &&, ||, ?), counted with comments, strings and
character literals blanked out. Prints the worst offenders of each limit and
a closing line "N over: files F, functions' length L, complexity C"; exits 0
(a report, not a gate) unless --check, then 1 when anything is over.
"""
import argparse
import json
import re
import subprocess
import sys

FILE_LINES = 450
FUNCTION_LINES = 80
COMPLEXITY = 25
BRANCH = re.compile(r"\b(if|for|while|case|catch)\b|&&|\|\||\?")


def blank_noise(text):
    """Comments, string and char literals become spaces (line breaks kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if m:
                end = text.find(")" + m.group(1) + '"', i)
                j = n if end < 0 else end + len(m.group(1)) + 2
                out.append(re.sub(r"[^\n]", " ", text[i:j]))
                i = j
            else:
                out.append(c)
                i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (min(j + 1, n) - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    """(name, first line, last line) of each function defined in `path`."""
    out = subprocess.run(["ctags", "--output-format=json", "--fields=+ne", "--kinds-C++=f",
                          "--language-force=C++", "-f", "-", path],
                         capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        tag = json.loads(line)
        if tag.get("kind") == "function" and "end" in tag:
            name = tag["name"]
            if tag.get("scope"):
                name = tag["scope"] + "::" + name
            found.append((name, tag["line"], tag["end"]))
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=10, help="offenders listed per limit")
    ap.add_argument("--check", action="store_true", help="exit 1 when anything is over a limit")
    args = ap.parse_args()
    paths = subprocess.run(["git", "ls-files", "*.cc", "*.h"], capture_output=True, text=True,
                           check=True).stdout.split()
    long_files, long_functions, complex_functions = [], [], []
    for path in paths:
        text = open(path, encoding="utf-8", errors="replace").read()
        lines = text.count("\n")
        if lines > FILE_LINES:
            long_files.append((lines, path))
        raw = text.splitlines()
        clean = blank_noise(text).splitlines()
        for name, first, last in functions(path):
            length = last - first + 1
            table = "code_metrics: table" in raw[first - 1]
            if length > FUNCTION_LINES and not table:
                long_functions.append((length, "%s:%d %s" % (path, first, name)))
            body = "\n".join(clean[first - 1:last])
            complexity = 1 + len(BRANCH.findall(body))
            if complexity > COMPLEXITY:
                complex_functions.append((complexity, "%s:%d %s" % (path, first, name)))
    for title, rows, unit in (("files over %d lines" % FILE_LINES, long_files, "lines"),
                              ("functions over %d lines" % FUNCTION_LINES, long_functions, "lines"),
                              ("functions over complexity %d" % COMPLEXITY, complex_functions, "")):
        rows.sort(reverse=True)
        print("%s: %d" % (title, len(rows)))
        for value, where in rows[:args.top]:
            print("  %5d %s %s" % (value, unit, where) if unit else "  %5d %s" % (value, where))
    total = len(long_files) + len(long_functions) + len(complex_functions)
    print("%d over: files %d, functions' length %d, complexity %d (%d files read)"
          % (total, len(long_files), len(long_functions), len(complex_functions), len(paths)))
    return 1 if args.check and total else 0


if __name__ == "__main__":
    sys.exit(main())
