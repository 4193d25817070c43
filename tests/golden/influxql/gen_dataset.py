#!/usr/bin/env python3
"""Writes dataset.lp: the fixed data set that the golden InfluxQL answers were recorded against.

Only lines of the shape Fieldline can serve: measurement = a channel's communicationId, tags
uuid/device/sensor/unit (unit omitted when empty)/network_id (optional), one float field `value`,
whole-millisecond timestamps (write it with precision=ms). Seeded, so every run gives the same
bytes. Window: 2020-07-21 10:00:00 to 13:00:00 UTC.
"""
import math
import os
import random
import sys

T0 = 1595325600000  # 2020-07-21T10:00:00Z in ms
T1 = T0 + 3 * 3600 * 1000  # 13:00:00Z
MIN = 60 * 1000

PRESS1 = "355f6856-e9a4-469f-8f22-3f8b037d064a"
PRESS2 = "8d2c1f0e-5b7a-4c3d-9e1f-2a4b6c8d0e1f"
FREEZER = "c0ffee00-1234-4abc-8def-0123456789ab"
GATEWAY = "0b7e3a52-6f1d-4e8a-b3c9-d5f7a9e1c2b4"


def esc_key(s):
    return s.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def esc_tag(s):
    return esc_key(s).replace("=", "\\=")


def line(measurement, tags, value, ts):
    tags = {k: v for k, v in tags.items() if v}  # an empty unit is omitted
    tagstr = "".join(f",{esc_tag(k)}={esc_tag(v)}" for k, v in sorted(tags.items()))
    return f"{esc_key(measurement)}{tagstr} value={value} {ts}"


def fmt(x):
    """Shortest text that reads back as the same float (integral values without a dot)."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def every_10s(start, end, gaps=()):
    for ts in range(start, end, 10 * 1000):
        if not any(a <= ts < b for a, b in gaps):
            yield ts


def series():
    rnd = random.Random(20200721)
    watt1 = dict(device="Press 1", sensor="Meter", unit="W", uuid=PRESS1)
    watt2 = dict(device="Press 2", sensor="Meter", unit="W", uuid=PRESS2, network_id="line-2")
    temp1 = dict(device="Press 1", sensor="Thermo", unit="°C", uuid=PRESS1)
    temp3 = dict(device="Freezer", sensor="Probe", unit="°C", uuid=FREEZER)
    pres2 = dict(device="Press 2", sensor="Hydraulic", unit="bar", uuid=PRESS2, network_id="line-2")
    vib = dict(device="Gateway 7", sensor="Vibration", unit="", uuid=GATEWAY)
    cnt = dict(device="Gateway 7", sensor="Counter", unit="pcs", uuid=GATEWAY)

    # Press 1 power: integral watts, the press idles (0 W) for a few minutes after 11:30.
    for ts in every_10s(T0, T1):
        m = (ts - T0) / MIN
        v = 0 if 90 <= m < 95 else 5000 + round(300 * math.sin(m / 7)) + rnd.randint(-50, 50)
        yield line("auto~watt", watt1, fmt(v), ts)
    # Press 2 power: full-precision floats, two outages (10:20-10:35, 11:50-12:10).
    for ts in every_10s(T0, T1, gaps=[(T0 + 20 * MIN, T0 + 35 * MIN), (T0 + 110 * MIN, T0 + 130 * MIN)]):
        yield line("auto~watt", watt2, fmt(2500 + rnd.gauss(0, 1) * 123.456), ts)
    # Press 1 oil temperature: two decimals.
    for ts in every_10s(T0, T1):
        m = (ts - T0) / MIN
        yield line("auto~temperature", temp1, fmt(round(40 + m / 12 + rnd.uniform(-0.5, 0.5), 2)), ts)
    # Freezer: negative, a defrost above 0 °C around 10:45, no data 11:00-11:07:30, ends at 12:00.
    for ts in every_10s(T0, T0 + 120 * MIN, gaps=[(T0 + 60 * MIN, T0 + 60 * MIN + 450 * 1000)]):
        m = (ts - T0) / MIN
        base = 1.5 if 44 <= m < 48 else -18.5
        yield line("auto~temperature", temp3, fmt(round(base + rnd.uniform(-1, 1), 3)), ts)
    # Press 2 hydraulic pressure: only 10:30 to 12:30, one decimal.
    for ts in every_10s(T0 + 30 * MIN, T0 + 150 * MIN):
        yield line("auto~pressure", pres2, fmt(round(180 + rnd.uniform(-5, 5), 1)), ts)
    # Gateway vibration, channel "1": irregular times with millisecond parts, no unit.
    times = sorted(rnd.sample(range(T0, T1), 250))
    for ts in times:
        yield line("1", vib, fmt(round(rnd.uniform(-1, 1), 4)), ts)
    # Gateway counter, channel "255": a handful of points, including extreme magnitudes.
    for ts, v in [(T0, 0), (T0 + 42 * MIN + 17123, 42), (T0 + 60 * MIN, -7), (T0 + 120 * MIN - 1, 1e21),
                  (T0 + 150 * MIN + 500, 1.5e-7), (T1 - 1, 123456789012)]:
        yield line("255", cnt, fmt(v), ts)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "dataset.lp")
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for l in series():
            f.write(l + "\n")


if __name__ == "__main__":
    main()
