#!/usr/bin/env python3
"""Prints each recorded body (or the files named) as the Python client `influxdb` 5.3 decodes it:
msgpack.unpackb(..., ext_hook) with extension 5 read as struct.unpack(">QI") = (seconds,
nanoseconds). A chunked body holds several documents, one after the other."""
import glob
import os
import struct
import sys

import msgpack


def ext_hook(code, data):
    if code == 5:
        return struct.unpack(">QI", data)
    return msgpack.ExtType(code, data)


here = os.path.dirname(os.path.abspath(__file__))
for path in sys.argv[1:] or sorted(glob.glob(os.path.join(here, "*.bin"))):
    meta = path[: -len(".bin")] + ".meta"
    if os.path.exists(meta) and "x-msgpack" not in open(meta).read():
        print(f"{os.path.basename(path)}: {open(path, 'rb').read()!r}")
        continue
    unpacker = msgpack.Unpacker(ext_hook=ext_hook, raw=False)
    with open(path, "rb") as f:
        unpacker.feed(f.read())
    docs = list(unpacker)
    print(f"{os.path.basename(path)}: {docs}")
