#!/usr/bin/env python3
"""Replays queries.toml against a running InfluxDB 1.x and writes one answers/<name>.json per case.

Usage: record.py http://127.0.0.1:PORT   (run by scripts/record-influx-golden, which starts the
server, creates the `fieldline` database and writes dataset.lp first). Standard library only.
"""
import gzip
import http.client
import json
import os
import re
import sys
import tomllib
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
# Headers that change on every request (or whose value depends on how the body was chunked).
VOLATILE = {"date", "request-id", "x-request-id"}
NAME = re.compile(r"^[a-z0-9_]+$")


def build_request(case):
    """The exact request of a case: its defaults made explicit (see README.md)."""
    method = case.get("method", "GET")
    path = case.get("path", "/query")
    params = {}
    if path == "/query" and not case.get("no_db"):
        params["db"] = case.get("db", "fieldline")
    if "q" in case:
        params["q"] = case["q"]
    params.update(case.get("params", {}))
    params = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    target = path + ("?" + urllib.parse.urlencode(params) if params else "")
    headers = dict(case.get("headers", {}))
    body = None
    if "form" in case:
        body = urllib.parse.urlencode(case["form"]).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif "body" in case:
        body = case["body"].encode()
        if case.get("gzip"):
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
    req = {"method": method, "path": path, "params": params, "target": target, "headers": headers}
    if "form" in case:
        req["form"] = case["form"]
    if "body" in case:
        req["body"] = case["body"]
        if case.get("gzip"):
            req["body_encoding"] = "gzip"
    return req, body


def send(base, req, body):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request(req["method"], req["target"], body=body, headers=req["headers"])
        resp = conn.getresponse()
        data = resp.read()  # de-chunked: the bytes a client sees
        return resp.status, resp.getheaders(), data
    finally:
        conn.close()


def parse_body(text):
    """One JSON document -> its value; otherwise None."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def answer(case, req, status, headers, data):
    chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers)
    hdrs = {}
    for k, v in headers:
        if k.lower() in VOLATILE or (chunked and k.lower() == "content-length"):
            continue
        if k.lower() == "allow":  # influxd lists the methods in random (Go map) order
            v = ", ".join(sorted(m.strip() for m in v.split(",")))
        hdrs[k] = v
    if any(k.lower() == "content-encoding" and v == "gzip" for k, v in headers):
        data = gzip.decompress(data)  # recorded decompressed; the header says it was gzip
    text = data.decode("utf-8", errors="replace")
    out = {"name": case["name"]}
    if case.get("note"):
        out["note"] = case["note"]
    if case.get("time_dependent"):
        out["time_dependent"] = True
    if case.get("exact_floats"):
        out["exact_floats"] = True
    out.update({"request": req, "status": status, "headers": hdrs})
    parsed = parse_body(text) if text.strip() else None
    if parsed is not None:
        out["body"] = parsed
    else:
        out["body"] = text
        docs = [l for l in text.split("\n") if l.strip()]
        if len(docs) > 1 and all(parse_body(l) is not None for l in docs):
            out["body_documents"] = [json.loads(l) for l in docs]
    # The exact text, for byte-for-byte comparisons (number formatting, \u003c escapes, newlines).
    out["body_raw"] = text
    return out


def dump(value, indent=0):
    """JSON with one line per row: arrays of scalars stay on one line, the rest is indented."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    scalar = lambda v: not isinstance(v, (dict, list))
    enc = lambda v: json.dumps(v, ensure_ascii=False)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{enc(k)}: {dump(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if all(scalar(v) for v in value):
            return "[" + ", ".join(enc(v) for v in value) + "]"
        return "[\n" + ",\n".join(inner + dump(v, indent + 1) for v in value) + "\n" + pad + "]"
    return enc(value)


def record(url, cases, outdir):
    """Replays `cases` in order against the server at `url` and writes answers/<name>.json for
    each into `outdir`, removing answers of cases that left the corpus."""
    seen = set()
    for c in cases:
        if not NAME.match(c["name"]) or c["name"] in seen:
            sys.exit(f"bad or duplicate case name: {c['name']!r}")
        seen.add(c["name"])
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):  # answers of cases that left the corpus must not linger
        if f.endswith(".json") and f[:-5] not in seen:
            os.remove(os.path.join(outdir, f))
    for c in cases:
        req, body = build_request(c)
        status, headers, data = send(url, req, body)
        out = answer(c, req, status, headers, data)
        with open(os.path.join(outdir, c["name"] + ".json"), "w", encoding="utf-8", newline="\n") as f:
            f.write(dump(out) + "\n")
    print(f"recorded {len(cases)} cases into {os.path.relpath(outdir)}", file=sys.stderr)


def main():
    with open(os.path.join(HERE, "queries.toml"), "rb") as f:
        cases = tomllib.load(f)["case"]
    record(sys.argv[1], cases, os.path.join(HERE, "answers"))


if __name__ == "__main__":
    main()
