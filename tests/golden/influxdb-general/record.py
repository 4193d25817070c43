#!/usr/bin/env python3
"""Replays writes.toml, then queries.toml, against a running InfluxDB 1.x and writes one
answers/<name>.json per case (the names are unique across both files).

Usage: record.py http://127.0.0.1:PORT   (run by `scripts/record-influx-golden general`, which
starts the server, creates the `general` database and writes dataset.lp first). Standard library
only. The request building, the answer format and its JSON layout are those of
tests/golden/influxql/record.py, imported from there, so both corpora read the same way; only the
defaults differ: a case's `db` is `general` unless said, and a writes.toml case is a
`POST /write` unless it says otherwise, its `db` and `precision` keys becoming the query
parameters `db` and `precision` (in that order, before `params`).
"""
import importlib.util
import os
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "influxql_record", os.path.join(HERE, "..", "influxql", "record.py"))
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)

DEFAULT_DB = "general"


def normalise(case, is_write_file):
    """The case with this corpus's defaults made explicit, in the form base.build_request reads."""
    c = dict(case)
    if is_write_file:
        c.setdefault("method", "POST")
        c.setdefault("path", "/write")
    path = c.get("path", "/query")
    if path == "/query":
        c.setdefault("db", DEFAULT_DB)
    elif path == "/write":
        params = {}
        if not c.get("no_db"):
            params["db"] = c.get("db", DEFAULT_DB)
        if "precision" in c:
            params["precision"] = c["precision"]
        params.update(c.get("params", {}))
        c["params"] = params
    return c


def load(name, is_write_file):
    with open(os.path.join(HERE, name), "rb") as f:
        return [normalise(c, is_write_file) for c in tomllib.load(f)["case"]]


def main():
    cases = load("writes.toml", True) + load("queries.toml", False)
    base.record(sys.argv[1], cases, os.path.join(HERE, "answers"))


if __name__ == "__main__":
    main()
