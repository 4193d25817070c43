#!/usr/bin/env python3
"""Writes dataset.lp: the general data set the golden InfluxDB 1.6 answers of this directory were
recorded against (written to database `general` with `POST /write?db=general`, nanosecond
timestamps, every one a whole millisecond, most whole seconds).

Shaped the way ordinary users write: several measurements, up to five tags, every field type
(float, integer - some above 2^53 -, boolean, string), tags and fields missing on some points,
InfluxDB's escapes in measurement, tag and field names and values, gaps, and a few points in 1980.
Seeded, so every run gives the same bytes (standard library only). Main window: 2021-03-01
00:00:00 to 02:00:00 UTC.
"""
import math
import os
import random
import sys

NS = 1_000_000_000
MS = 1_000_000
T0 = 1614556800 * NS  # 2021-03-01T00:00:00Z
T1 = T0 + 2 * 3600 * NS  # 02:00:00Z
MIN = 60 * NS
P1980 = 315532800 * NS  # 1980-01-01T00:00:00Z
BIG = 2**53  # 9007199254740992: integers above it are not exact as float64


def esc_meas(s):
    return s.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def esc_key(s):  # tag keys, tag values, field keys
    return esc_meas(s).replace("=", "\\=")


def fval(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}i"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(v)


def line(measurement, tags, fields, ts):
    """Tags sorted by key (as Telegraf writes them), fields in the given order; None values omitted."""
    tags = {k: v for k, v in tags.items() if v is not None}
    fields = [(k, v) for k, v in fields if v is not None]
    assert fields
    tagstr = "".join(f",{esc_key(k)}={esc_key(v)}" for k, v in sorted(tags.items()))
    fieldstr = ",".join(f"{esc_key(k)}={fval(v)}" for k, v in fields)
    return f"{esc_meas(measurement)}{tagstr} {fieldstr} {ts}"


def every(start, end, step, gaps=()):
    for ts in range(start, end, step):
        if not any(a <= ts < b for a, b in gaps):
            yield ts


def series(rnd):
    # cpu: Telegraf-like. server01 has cpu0, cpu1 and cpu-total; server02 (gap 00:40-01:00) and
    # server03 (five tags: cpu, env, host, rack, region) only cpu-total; server04 writes no region
    # tag. Every 60 s. usage_system is missing on every 7th point; usage_idle on server04.
    hosts = [
        ("server01", {"region": "us-east"}, ["cpu0", "cpu1", "cpu-total"], ()),
        ("server02", {"region": "us-west"}, ["cpu-total"], [(T0 + 40 * MIN, T0 + 60 * MIN)]),
        ("server03", {"region": "eu-central", "rack": "r1", "env": "prod"}, ["cpu-total"], ()),
        ("server04", {}, ["cpu-total"], ()),
    ]
    for host, extra, cpus, gaps in hosts:
        for cpu in cpus:
            for i, ts in enumerate(every(T0, T1, MIN, gaps)):
                user = round(20 + 15 * math.sin(i / 9) + rnd.uniform(-3, 3), 3)
                system = None if i % 7 == 3 else round(5 + rnd.uniform(0, 4), 3)
                idle = None if host == "server04" else round(100 - user - (system or 0), 3)
                procs = 100 + (i * 3) % 17 + rnd.randint(0, 5)
                yield line("cpu", dict(host=host, cpu=cpu, **extra),
                           [("usage_user", user), ("usage_system", system), ("usage_idle", idle),
                            ("procs", procs)], ts)

    # plant: line/machine tags; temp float, rpm integer, running boolean, state string. Every 30 s.
    # "press 2" (a space) has rpm counting up from just above 2^53; "mill=3" (an equals sign)
    # writes no temp from 00:30 to 00:45 and no `running`/`state` on every 5th point; the
    # `line` tag is missing on the oven.
    for machine, ln in [("press-1", "L1"), ("press 2", "L1"), ("mill=3", "L2"), ("oven", None)]:
        rpm_big = BIG + 1
        for i, ts in enumerate(every(T0, T1, 30 * NS, [(T0 + 70 * MIN, T0 + 80 * MIN)] if machine == "oven" else ())):
            running = (i // 20) % 3 != 2
            temp = round(60 + 10 * math.cos(i / 15) + rnd.uniform(-1, 1), 2)
            if machine == "mill=3" and T0 + 30 * MIN <= ts < T0 + 45 * MIN:
                temp = None
            if machine == "press 2":
                rpm = rpm_big
                rpm_big += rnd.randint(0, 3)
            else:
                rpm = (1200 + rnd.randint(-40, 40)) if running else 0
            state = "run" if running else rnd.choice(["idle", "idle", "fault"])
            if machine == "oven" and i == 17:
                state = 'say "hi", \\ bye'
            if machine == "mill=3" and i % 5 == 4:
                running = state = None
            yield line("plant", {"line": ln, "machine": machine},
                       [("temp", temp), ("rpm", rpm), ("running", running), ("state", state)], ts)

    # net: counters (integers) per host/interface, every 60 s; eth0 of server01 resets to 0 at 01:00.
    for host in ["server01", "server02"]:
        for iface in ["eth0", "lo"]:
            recv, sent = 10**9 if iface == "eth0" else 5000, 10**6
            for i, ts in enumerate(every(T0, T1, MIN)):
                if host == "server01" and iface == "eth0" and ts == T0 + 60 * MIN:
                    recv = 0
                recv += rnd.randint(1000, 90000) if iface == "eth0" else rnd.randint(0, 100)
                sent += rnd.randint(100, 9000)
                err = 1 if rnd.random() < 0.05 else 0
                yield line("net", {"host": host, "interface": iface},
                           [("bytes_recv", recv), ("bytes_sent", sent), ("err_in", err)], ts)

    # Escapes: a measurement with a space and a comma, tag keys and values with spaces, commas and
    # equals signs, field keys likewise, string values with quotes and backslashes, non-ASCII.
    for i, ts in enumerate(every(T0, T0 + 30 * MIN, 3 * MIN)):
        yield line("room temp,east", {"zone name": "a=b, c", "sensör": "°C"},
                   [("value", round(21 + rnd.uniform(-1, 1), 2)), ("field with space", i),
                    ("eq=comma,", i % 2 == 0), ("note", f'{i}: "quoted" \\path\\')], ts)
    for i, ts in enumerate(every(T0, T0 + 30 * MIN, 5 * MIN)):
        yield line("température", {"pièce": "salle à manger" if i % 2 else "cuisine"},
                   [("valeur", round(19.5 + i / 4, 2))], ts)

    # events: sparse and irregular; string, integer and boolean fields, some missing; a few in 1980.
    times = sorted(rnd.sample(range(T0 // MS, T1 // MS), 40))
    kinds = ["deploy", "alert", "login", "backup"]
    for i, tms in enumerate(times):
        kind = kinds[i % 4]
        yield line("events", {"kind": kind, "severity": ["info", "warn", "crit"][i % 3] if kind == "alert" else None},
                   [("message", f"event {i}"), ("code", None if kind == "login" else 200 + i),
                    ("ok", None if i % 6 == 5 else i % 4 != 1)], tms * MS)
    for i, ts in enumerate([P1980, P1980 + 3600 * NS, P1980 + 86400 * NS + 123 * MS,
                            P1980 + 180 * 86400 * NS]):
        yield line("events", {"kind": "legacy"},
                   [("message", f"from 1980 #{i}"), ("code", -i), ("ok", i % 2 == 0)], ts)
    yield line("plant", {"line": "L0", "machine": "loom"},
               [("temp", 18.5), ("rpm", 60), ("running", True), ("state", "run")], P1980 + 7200 * NS)

    # big: integers at and around 2^53 and int64's ends, one series, every 10 minutes.
    vals = [BIG - 1, BIG, BIG + 1, BIG + 3, 2**62, 2**63 - 1, -(2**63) + 1, -(2**63), -BIG - 1, 123456789012345678,
            0, -1]
    for i, v in enumerate(vals):
        yield line("big", {"kind": "edge"}, [("n", v), ("f", float(v))], T0 + i * 10 * MIN)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "dataset.lp")
    rnd = random.Random(20210301)
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for l in series(rnd):
            f.write(l + "\n")


if __name__ == "__main__":
    main()
