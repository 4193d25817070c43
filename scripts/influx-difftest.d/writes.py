"""Random and hand-written /write bodies, each written to InfluxDB 1.6 and to Fieldline into a
throwaway database (dropped and created again before each case, with one point stored first so
that the 2021-03-01 shard group exists: InfluxDB answers some conflicts otherwise on a shard
group's first write), the answers compared, then what was stored read back on both (SHOW
MEASUREMENTS, SERIES, FIELD KEYS, TAG KEYS and `SELECT * ... GROUP BY *` of each measurement,
epoch=ns) and compared.

Differences by design (docs/epts.md "/write", WRITES_DIFFERENT of
tests/golden/influxdb-general/harness.rs, tests/e2e/influxdb_golden.rs) are tagged `known`; the
others are grouped (how they differ and the parse errors named) and each group's shortest case
is reduced (lines removed while it still differs) to a minimal reproduction.
"""

import json
import random
import re
import time

from common import Deadline, clip, group_different, jeq, parse

READBACK = ['SHOW MEASUREMENTS', 'SHOW SERIES', 'SHOW FIELD KEYS', 'SHOW TAG KEYS']
SEED_POINT = 'zzseed x=1 1614556800000000000\n'


def qi(name):
    return '"' + name.replace('\\', '\\\\').replace('"', '\\"') + '"'


def same(a, b):
    """Two answers (status, body) equal: the same status and equal JSON, or the same text."""
    if a == b:
        return True
    if a[0] != b[0]:
        return False
    pa, pb = parse(a[1]), parse(b[1])
    if pa is None or pb is None:
        return a[1].strip() == b[1].strip()
    return jeq(pa, pb)


def measurements(server, db):
    try:
        d = json.loads(server.query('SHOW MEASUREMENTS', db=db, epoch='ns', method='POST')[1])
        return [v[0] for v in d['results'][0]['series'][0]['values']]
    except (ValueError, KeyError, IndexError, TypeError):
        return []


def run_case(servers, db, body, precision=None, pre=None, readback=True):
    """One case on both servers: {'body', 'precision', 'pre', 'write': {'ix', 'fl'}, 'diffs'}."""
    ix, fl = servers
    out = {'body': body, 'precision': precision, 'pre': pre, 'diffs': []}
    for s in servers:
        s.query(f'DROP DATABASE {qi(db)}', db=None, method='POST')
        s.query(f'CREATE DATABASE {qi(db)}', db=None, method='POST')
        s.write(SEED_POINT, db)
    if pre:
        a, b = ix.write(pre, db), fl.write(pre, db)
        if not same(a, b):
            out['diffs'].append({'step': 'pre', 'ix': a, 'fl': b})
    a, b = ix.write(body, db, precision), fl.write(body, db, precision)
    out['write'] = {'ix': a, 'fl': b}
    if not same(a, b):
        out['diffs'].append({'step': 'write', 'ix': a, 'fl': b})
    if readback:
        for rq in READBACK:
            a = ix.query(rq, db=db, epoch='ns', method='POST')
            b = fl.query(rq, db=db, epoch='ns', method='POST')
            if not same(a, b):
                out['diffs'].append({'step': rq, 'ix': a, 'fl': b})
        ms = sorted(set(measurements(ix, db)) | set(measurements(fl, db)))
        for m in ms[:10]:
            rq = f'SELECT * FROM {qi(m)} GROUP BY *'
            a = ix.query(rq, db=db, epoch='ns', method='POST')
            b = fl.query(rq, db=db, epoch='ns', method='POST')
            if not same(a, b):
                out['diffs'].append({'step': rq, 'ix': a, 'fl': b})
    return out

MEAS = ['m', 'm2', 'cpu', 'a\\,b', 'a\\ b', 'x=y', '"quoted"', 'température', 'm\\\\', 'back\\slash',
        'x' * 200, 'm#1', "o'k"]
TAGK = ['t', 'host', 'k\\ 1', 'k\\,2', 'k\\=3', 'é', 'z', 'a', 'tag"q', 'b\\\\', 'x' * 150]
TAGV = ['v', 'a b'.replace(' ', '\\ '), 'c\\,d', 'e\\=f', 'x\\y', 'ünï', '1', 'true', '"q"', 'v' * 250,
        'w\\\\', "it's"]
FIELDK = ['v', 'f', 'value', 'f\\ 1', 'f\\,2', 'f\\=3', 'fé', 'x' * 100, '"fq"', 'time2', 'back\\slash']
INTS = ['1i', '-1i', '0i', '-0i', '9223372036854775807i', '-9223372036854775808i', '42i', '+5i']
FLOATS = ['1', '1.0', '-0', '-0.0', '1e3', '1E3', '1e-3', '.5', '5.', '-1.5e+2', '3.14159265358979',
          '1.7976931348623157e308', '4.9e-324', '123456789012345678901234567890', '+1.5', '0.1']
BOOLS = ['t', 'T', 'true', 'True', 'TRUE', 'f', 'F', 'false', 'False', 'FALSE']
STRS = ['""', '"s"', '"with space"', '"with \\" quote"', '"with \\\\ backslash"', '"a,b=c"',
        '"unicode ✓"', '"tab\there"', '"x' + 'y' * 300 + '"', '"trailing\\\\"', '"back\\slash"',
        '"nl\\nnot"']
BAD_VALS = ['9223372036854775808i', '-9223372036854775809i', '1u', '1.5i', 'tRUE', 'yes', '1e309', 'NaN',
            'Inf', '0x10', '1_000', '"unterminated', '', '1ii', '--1', '1e', 'abc']
TS_NS = ['1614556801000000000', '1614556802000000000', '0', '-1', '1', '315532800000000000',
         '-9223372036854775806', '9223372036854775806', '-9223372036854775807', '9223372036854775807',
         '1614556801000000001', '-1000000000']
TS_BAD = ['9223372036854775808', '1.5', 'abc', '+1614556801000000000', '1614556801e9', '-9223372036854775808',
          '99999999999999999999']


class WriteGen:
    """Random /write bodies: 1-6 lines over a few measurements (escapes, long names, quotes,
    non-ASCII), 0-3 tags, 1-3 fields of every type and spelling (and bad values), timestamps
    at every precision (and bad ones, the int64 ends, no timestamp), then line-level mutations
    (blank and comment lines, spaces, tabs, CR, no fields, duplicate lines and tags, a bad
    timestamp), sometimes over stored data of a possibly conflicting type (`pre`)."""

    def __init__(self, r):
        self.r = r

    def ch(self, xs):
        return self.r.choice(xs)

    def p(self, x):
        return self.r.random() < x

    def value(self, kind=None):
        kind = kind or self.r.choices(['i', 'f', 'b', 's', 'bad'], weights=[4, 4, 2, 3, 1])[0]
        return {'i': INTS, 'f': FLOATS, 'b': BOOLS, 's': STRS, 'bad': BAD_VALS}[kind], kind

    def line(self, meas_pool, field_types, ts_kind, precision):
        m = self.ch(meas_pool)
        tags = []
        for _ in range(self.r.choices([0, 1, 2, 3], weights=[3, 4, 2, 1])[0]):
            tags.append(f'{self.ch(TAGK[:7] if self.p(0.8) else TAGK)}={self.ch(TAGV[:7] if self.p(0.8) else TAGV)}')
        fields = []
        for _ in range(self.r.choices([1, 2, 3], weights=[5, 3, 1])[0]):
            k = self.ch(FIELDK[:3] if self.p(0.7) else FIELDK)
            key = (m, k)
            if key in field_types and self.p(0.85):
                kind = field_types[key]
            else:
                kind = self.r.choices(['i', 'f', 'b', 's', 'bad'], weights=[4, 4, 2, 3, 1])[0]
                if kind != 'bad':
                    field_types.setdefault(key, kind)
            vals, _ = self.value(kind)
            fields.append(f'{k}={self.ch(vals)}')
        ln = m + ''.join(',' + t for t in tags) + ' ' + ','.join(fields)
        if ts_kind == 'none':
            pass
        else:
            if self.p(0.05):
                ts = self.ch(TS_BAD)
            elif precision in (None, 'n', 'ns', 'x'):
                ts = self.ch(TS_NS) if self.p(0.3) else str(1614556800000000000 + self.r.randrange(0, 3600) * 10**9)
            else:
                mul = {'u': 10**3, 'ms': 10**6, 's': 10**9, 'm': 60 * 10**9, 'h': 3600 * 10**9}[precision]
                base = 1614556800000000000 // mul
                ts = str(base + self.r.randrange(-3, 20)) if self.p(0.9) else self.ch(
                    ['0', '-1', str(9223372036854775807 // mul), str(9223372036854775807 // mul + 1),
                     str(-9223372036854775807 // mul)])
            ln += ' ' + ts
        return ln

    def body(self):
        precision = self.r.choices([None, 'n', 'ns', 'u', 'ms', 's', 'm', 'h', 'x'],
                                   weights=[8, 1, 1, 1, 1, 2, 1, 1, 1])[0]
        pool = self.r.sample(MEAS[:3], 2) if self.p(0.7) else self.r.sample(MEAS, 3)
        ft = {}
        lines = [self.line(pool, ft, 'ts', precision) for _ in range(self.r.randint(1, 6))]
        # line-level mutations
        for _ in range(self.r.choices([0, 1, 2], weights=[5, 3, 1])[0]):
            i = self.r.randrange(len(lines))
            mut = self.r.randrange(12)
            if mut == 0:
                lines.insert(i, '')
            elif mut == 1:
                lines.insert(i, '# comment ' + lines[i])
            elif mut == 2:
                lines[i] += ' '
            elif mut == 3:
                lines[i] = ' ' + lines[i]
            elif mut == 4:
                lines[i] += '\r'
            elif mut == 5:
                lines[i] = lines[i].replace(' ', '  ', 1)
            elif mut == 6:
                lines[i] = lines[i].replace(' ', '\t', 1)
            elif mut == 7:
                lines[i] = lines[i].split(' ')[0]  # no fields
            elif mut == 8:
                lines.insert(i, lines[i])  # duplicate line
            elif mut == 9:
                lines[i] = lines[i].replace(',', ',t=dup,t=', 1) if ',' in lines[i].split(' ')[0] else lines[i]
            elif mut == 10:
                lines[i] = lines[i].rsplit(' ', 1)[0] + ' ' + self.ch(TS_BAD)
            else:
                lines[i] = '   '
        body = '\n'.join(lines) + self.ch(['\n', '', '\n\n'] + ['\r\n'])
        pre = None
        if self.p(0.25):
            # stored data with possibly conflicting types
            m = pool[0]
            k = self.ch(FIELDK[:3])
            pre = f'{m},t=v {k}={self.ch(self.ch([INTS[:3], FLOATS[:3], BOOLS[:2], STRS[:2]]))} 1614556800000000000\n'
        return body, precision, pre


# The hand-written edge cases: (body, precision, pre).
FIXED = [
    # (body, precision, pre)
    ('m v=1 1614556801000000000\r\nm v=2 1614556802000000000\r\n', None, None),
    ('# only a comment\n', None, None),
    ('\n\n\n', None, None),
    ('m v=1,v=2i 1614556801000000000\n', None, None),
    ('m v=1i,v=2 1614556801000000000\n', None, None),
    ('m v="a",v=2 1614556801000000000\n', None, None),
    ('m,t=a,t=b v=1 1614556801000000000\n', None, None),
    ('m,t=a,t=a v=1 1614556801000000000\n', None, None),
    ('m v=1 1614556801000000000 \n', None, None),
    ('m v=1  1614556801000000000\n', None, None),
    ('m  v=1 1614556801000000000\n', None, None),
    ('m v=1 1614556801000000000 extra\n', None, None),
    ('m,t=a  v=1 1614556801000000000\n', None, None),
    ('m, v=1 1614556801000000000\n', None, None),
    ('m,=a v=1 1614556801000000000\n', None, None),
    ('m,t= v=1 1614556801000000000\n', None, None),
    ('m v=1,,w=2 1614556801000000000\n', None, None),
    ('m v=1, 1614556801000000000\n', None, None),
    ('m =1 1614556801000000000\n', None, None),
    (',t=a v=1 1614556801000000000\n', None, None),
    (' v=1 1614556801000000000\n', None, None),
    ('m\\ v=1 1614556801000000000\n', None, None),
    ('m v=1 1614556801000000000\\\n', None, None),
    ('m v="a\\"b" 1614556801000000000\n', None, None),
    ('m v="a\\\\" 1614556801000000000\n', None, None),
    ('m v="a\\\\\\"b" 1614556801000000000\n', None, None),
    ('m v="a\nb" 1614556801000000000\n', None, None),
    ('m v="multi\nline",w=1 1614556801000000000\n', None, None),
    ('m v="\\n\\t" 1614556801000000000\n', None, None),
    ('m,t=a\\ b\\,c\\=d v=1 1614556801000000000\n', None, None),
    ('m,t\\ k=a v=1 1614556801000000000\n', None, None),
    ('m,t="q" v=1 1614556801000000000\n', None, None),
    ('m,t=a\\\\ v=1 1614556801000000000\n', None, None),
    ('m,t=a\\ v=1 1614556801000000000\n', None, None),
    ('m\\,n,t=a v=1 1614556801000000000\n', None, None),
    ('m=n v=1 1614556801000000000\n', None, None),
    ('"m" v=1 1614556801000000000\n', None, None),
    ('m f\\ k=1 1614556801000000000\n', None, None),
    ('m f\\=k=1 1614556801000000000\n', None, None),
    ('m f\\,k=1 1614556801000000000\n', None, None),
    ('m "f"=1 1614556801000000000\n', None, None),
    ('m time=1 1614556801000000000\n', None, None),
    ('m,time=a v=1 1614556801000000000\n', None, None),
    ('m v=1,time=2 1614556801000000000\n', None, None),
    ('time v=1 1614556801000000000\n', None, None),
    ('m _field=1 1614556801000000000\n', None, None),
    ('m,_measurement=a v=1 1614556801000000000\n', None, None),
    ('m v=-0 1614556801000000000\n', None, None),
    ('m v=-0i 1614556801000000000\n', None, None),
    ('m v=+1 1614556801000000000\n', None, None),
    ('m v=.5 1614556801000000000\n', None, None),
    ('m v=5. 1614556801000000000\n', None, None),
    ('m v=1e3 1614556801000000000\n', None, None),
    ('m v=1E+3 1614556801000000000\n', None, None),
    ('m v=1e-400 1614556801000000000\n', None, None),
    ('m v=1e309 1614556801000000000\n', None, None),
    ('m v=NaN 1614556801000000000\n', None, None),
    ('m v=nan 1614556801000000000\n', None, None),
    ('m v=Inf 1614556801000000000\n', None, None),
    ('m v=-inf 1614556801000000000\n', None, None),
    ('m v=0x1F 1614556801000000000\n', None, None),
    ('m v=1_0 1614556801000000000\n', None, None),
    ('m v=01 1614556801000000000\n', None, None),
    ('m v=007i 1614556801000000000\n', None, None),
    ('m v=1.5i 1614556801000000000\n', None, None),
    ('m v=1e3i 1614556801000000000\n', None, None),
    ('m v=i 1614556801000000000\n', None, None),
    ('m v=-i 1614556801000000000\n', None, None),
    ('m v=9223372036854775807i 1614556801000000000\n', None, None),
    ('m v=9223372036854775808i 1614556801000000000\n', None, None),
    ('m v=-9223372036854775808i 1614556801000000000\n', None, None),
    ('m v=-9223372036854775809i 1614556801000000000\n', None, None),
    ('m v=1u 1614556801000000000\n', None, None),
    ('m v=18446744073709551615u 1614556801000000000\n', None, None),
    ('m v=t,w=T,x=true,y=True,z=TRUE 1614556801000000000\n', None, None),
    ('m v=f,w=F,x=false,y=False,z=FALSE 1614556801000000000\n', None, None),
    ('m v=tRue 1614556801000000000\n', None, None),
    ('m v=fALSE 1614556801000000000\n', None, None),
    ('m v=truee 1614556801000000000\n', None, None),
    ('m v=yes 1614556801000000000\n', None, None),
    ('m v="" 1614556801000000000\n', None, None),
    ('m v=" 1614556801000000000\n', None, None),
    ('m v="a 1614556801000000000\nm v="b" 1614556802000000000\n', None, None),
    ('m v="' + 'x' * 70000 + '" 1614556801000000000\n', None, None),
    ('m' * 70000 + ' v=1 1614556801000000000\n', None, None),
    ('m,t=' + 'v' * 70000 + ' v=1 1614556801000000000\n', None, None),
    ('m ' + 'f' * 70000 + '=1 1614556801000000000\n', None, None),
    ('m v=1 1614556801\n', 's', None),
    ('m v=1 1614556801000\n', 'ms', None),
    ('m v=1 1614556801000000\n', 'u', None),
    ('m v=1 1614556801000000000\n', 'n', None),
    ('m v=1 1614556801000000000\n', 'ns', None),
    ('m v=1 26909280\n', 'm', None),
    ('m v=1 448488\n', 'h', None),
    ('m v=1 1614556801000000000\n', 'bogus', None),
    ('m v=1 1614556801000000000\n', '', None),
    ('m v=1 1614556801000000000\n', 'S', None),
    ('m v=1 1614556801000000000\n', 'MS', None),
    ('m v=1 1614556801000000000\n', 'rfc3339', None),
    ('m v=1 9999999999999\n', 's', None),
    ('m v=1 9223372036\n', 's', None),
    ('m v=1 9223372037\n', 's', None),
    ('m v=1 -9223372036\n', 's', None),
    ('m v=1 153722867\n', 'm', None),
    ('m v=1 153722868\n', 'm', None),
    ('m v=1 2562047\n', 'h', None),
    ('m v=1 2562048\n', 'h', None),
    ('m v=1 9223372036854775806\n', None, None),
    ('m v=1 9223372036854775807\n', None, None),
    ('m v=1 9223372036854775808\n', None, None),
    ('m v=1 -9223372036854775806\n', None, None),
    ('m v=1 -9223372036854775807\n', None, None),
    ('m v=1 -9223372036854775808\n', None, None),
    ('m v=1 -9223372036854775809\n', None, None),
    ('m v=1 1.5\n', None, None),
    ('m v=1 +1614556801000000000\n', None, None),
    ('m v=1 -0\n', None, None),
    ('m v=1 01614556801000000000\n', None, None),
    ('m v=1 1614556801000000000\nm v=2i 1614556802000000000\n', None, None),
    ('m v=1i 1614556801000000000\nm v=2 1614556802000000000\nm v=3i 1614556803000000000\n', None, None),
    ('m,t=a v=1i 1614556801000000000\nm,t=b v=2 1614556802000000000\n', None, None),
    ('m,t=a v=1i 1614556801000000000\nm,t=b v=2 1614556802000000000\nm,t=c w=1 1614556803000000000\n', None, None),
    ('m v=1,s="x" 1614556801000000000\nm v 1\nm v=2i 1614556802000000000\n', None, None),
    ('m v=1,s="x" 1614556801000000000\nm v=2i 1614556802000000000\n', None, None),
    ('m,t=a v=1,s="x" 1614556801000000000\nm v=2i 1614556802000000000\n', None, None),
    ('m,t=a v=1 1614556801000000000\nm v=2i 1614556802000000000\n', None, None),
    ('m v=1 1614556801000000000\nm2 v=2i 1614556802000000000\nm v=true 1614556803000000000\n', None, None),
    ('m v=2i 1614556802000000000\n', None, 'm v=1 1614556800000000000\n'),
    ('m,t=new v=2i 1614556802000000000\n', None, 'm v=1 1614556800000000000\n'),
    ('m v=2i,w=1 1614556802000000000\n', None, 'm v=1 1614556800000000000\n'),
    ('m w=1 1614556801000000000\nm v=2i 1614556802000000000\nm w=3 1614556803000000000\n', None, 'm v=1 1614556800000000000\n'),
    ('m v=2i 1614556802000000000\nm v=3i 1614556803000000000\n', None, 'm v=1 1614556800000000000\n'),
    ('m v=2i 1614556802000000000\nbad\n', None, 'm v=1 1614556800000000000\n'),
    ('bad\nm v=2i 1614556802000000000\n', None, 'm v=1 1614556800000000000\n'),
    ('m v=2 315532800000000000\n', None, 'm v=1i 1614556800000000000\n'),
    ('m v="s" 1614556802000000000\n', None, 'm v=true 1614556800000000000\n'),
    ('m v=1 1614556802000000000\n', None, 'm v=true 1614556800000000000\n'),
    ('m v=1 1614556801000000000\nm v=2 1614556801000000000\n', None, None),
    ('m v=1 1614556801000000000\nm w=2 1614556801000000000\n', None, None),
    ('m v=1 1614556801000000000\n', None, 'm v=5,w=6 1614556801000000000\n'),
    ('m,b=2,a=1 v=1 1614556801000000000\nm,a=1,b=2 w=2 1614556801000000000\n', None, None),
    ('m v=1 1614556801000000000\nbad line\nm v=2 1614556802000000000\n', None, None),
    ('bad\nbad2 x\nbad3 x=\n', None, None),
    ('m v=1 1614556801000000000\nm v=1u 1614556802000000000\n', None, None),
    ('m v=1 1614556801000000000\nm v=9223372036854775808i 1614556802000000000\n', None, None),
    ('m v=1 1614556801000000000\nm v=1 99999999999999999999\n', None, None),
    ('m v=1 1614556801000000000\nm,t=a,t=b v=1 1614556802000000000\n', None, None),
    ('m v=1 1614556801000000000\nm v=1,v=2 1614556802000000000\n', None, None),
    ('m,t=a v=1 1614556801000000000\nm,t=a w=1 1614556801000000000\nm,t=a v=2 1614556801000000000\n', None, None),
    ('m v=1\n', None, None),
    ('m v=1 \n', None, None),
    ('m\tv=1 1614556801000000000\n', None, None),
    ('m v=1\t1614556801000000000\n', None, None),
    ('  m v=1 1614556801000000000\n', None, None),
    ('\tm v=1 1614556801000000000\n', None, None),
    ('#m v=1 1614556801000000000\nm v=2 1614556802000000000\n', None, None),
    ('  # indented comment\nm v=2 1614556802000000000\n', None, None),
    ('m v=2 1614556802000000000 # trailing comment\n', None, None),
    ('m,t=#a v=2 1614556802000000000\n', None, None),
    ('m v=2 1614556802000000000\r\n\r\n', None, None),
    ('m v=2 1614556802000000000\r', None, None),
    ('m v=2\r 1614556802000000000\n', None, None),
    ('m,t=a\r v=2 1614556802000000000\n', None, None),
    ('m v="a\r\nb" 1614556802000000000\n', None, None),
    ('m\\\nn v=1 1614556801000000000\n', None, None),
    ('m v=1,w="x",x=1i,y=t 1614556801000000000\nm v=2 1614556802000000000\n', None, None),
    ('m,t=a\\,b v=1 1614556801000000000\n', None, None),
    ('m,t=a\\"b v=1 1614556801000000000\n', None, None),
    ('m v="\\a\\b" 1614556801000000000\n', None, None),
    ('m\\"x v=1 1614556801000000000\n', None, None),
    ('m,t=a v=1 1614556801000000000\nM,t=a v=1 1614556801000000000\nm,T=a v=1 1614556801000000000\n', None, None),
    ('m,t=a v=1 1614556801000000000\nm,t=A v=1 1614556801000000000\n', None, None),
    ('m v=1 -62135596800000000000\n', None, None),
    ('m v=1 -1\nm v=2 0\nm v=3 1\n', None, None),
    ('m v=1 -9223372036854775806\n', None, None),
    ('m,t=\\  v=1 1614556801000000000\n', None, None),
    ('m,t=a,u=\\  v=1 1614556801000000000\n', None, None),
    ('m v=1 1614556801000000000\n' * 3, None, None),
    ('m,t=' + ','.join(f'k{i}=v' for i in range(3)) + ' v=1 1614556801000000000\n', None, None),
    ('m,' + ','.join(f'k{i:03d}=v' for i in range(300)) + ' v=1 1614556801000000000\n', None, None),
    ('m ' + ','.join(f'f{i:04d}=1' for i in range(1200)) + ' 1614556801000000000\n', None, None),
]




# ------------------------------------------------------------------------- known differences

PRECISION_NS = {None: 1, '': 1, 'n': 1, 'ns': 1, 'u': 10**3, 'ms': 10**6, 's': 10**9,
                'm': 60 * 10**9, 'h': 3600 * 10**9}
WEEK_NS = 7 * 86400 * 10**9
MONDAY_NS = 4 * 86400 * 10**9  # 1970-01-05, a Monday: InfluxDB's shard groups are weeks from Monday


def shard_groups(text, precision):
    """The weeks (InfluxDB's default shard groups) the points of a body fall in; a line without
    a timestamp is stamped now."""
    mul = PRECISION_NS.get(precision, 1)
    weeks = set()
    for line in text.split('\n'):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        last = line.rsplit(' ', 1)[-1]
        ns = int(last) * mul if re.fullmatch(r'-?\d{1,19}', last) and ' ' in line.split('=', 1)[-1] \
            else time.time_ns()
        weeks.add((ns - MONDAY_NS) // WEEK_NS)
    return weeks


def duplicate_field_keys(body):
    """A SHOW FIELD KEYS answer lists a key twice in one measurement (once per shard group)."""
    d = parse(body)
    try:
        for s in d['results'][0].get('series', []):
            keys = [v[0] for v in s['values']]
            if len(keys) != len(set(keys)):
                return True
    except (TypeError, KeyError, IndexError):
        pass
    return False


def rows_by_series(body):
    """{(name, tags): (columns, rows)} of a one-statement answer; a tag with an empty value is
    no tag (InfluxDB's GROUP BY * lists the keys a refused point created, empty)."""
    d = parse(body)
    out = {}
    try:
        for s in d['results'][0].get('series', []) or []:
            tags = {k: v for k, v in (s.get('tags') or {}).items() if v != ''}
            out[(s.get('name'), json.dumps(tags, sort_keys=True))] = (s['columns'], s['values'])
    except (TypeError, KeyError, IndexError):
        return None
    return out


def influx_has_more(ix, fl):
    """InfluxDB's answer holds Fieldline's and more (series, measurements, tag or field keys,
    columns a refused point created): Fieldline's equals InfluxDB's projected on its columns,
    rows holding nothing but time left out."""
    a, b = rows_by_series(ix[1]), rows_by_series(fl[1])
    if a is None or b is None or ix[0] != fl[0]:
        return False
    for key, (cols, rows) in b.items():
        if key not in a:
            return False
        icols, irows = a[key]
        if not set(cols) <= set(icols):
            return False
        idx = [icols.index(c) for c in cols]
        proj = [[r[i] for i in idx] for r in irows]
        if cols and cols[0] == 'time':
            proj = [r for r in proj if any(v is not None for v in r[1:])]
        if cols and cols[0] != 'time':  # SHOW: a list of names, InfluxDB's may have more
            if not all(r in proj for r in rows):
                return False
        elif not jeq(proj, rows):
            return False
    return True


def untimed(text):
    """Whether a body has a line without a timestamp (each server stamps it with its clock)."""
    for line in text.split('\n'):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        last = line.rsplit(' ', 1)[-1]
        if not (re.fullmatch(r'-?\d{1,19}', last) and ' ' in line.split('=', 1)[-1]):
            return True
    return False


def backslash_before_separator(text):
    """A line whose measurement has a backslash before an escaped comma or space (`m\\,k`):
    InfluxDB's scanner takes the comma as escaped, then indexes a name its reads never find."""
    return any(re.search(r'\\\\[, ]', line.split(' ', 1)[0] + ' ')
               for line in text.split('\n'))


def known_difference(res):
    """Why a write case differs by design, or None."""
    wi, wf = res['write']['ix'], res['write']['fl']
    steps = {d['step'] for d in res['diffs']}
    if backslash_before_separator(res['body']) or backslash_before_separator(res['pre'] or ''):
        return ("a measurement with a backslash before an escaped comma or space: InfluxDB 1.6 "
                "answers 204 and indexes a series its SELECT and SHOW FIELD KEYS never find, "
                "Fieldline stores it readable (docs/epts.md)")
    if all(s.startswith('SELECT') for s in steps) and untimed(res['body']) and wi == wf:
        return "a line without a time is stamped with each server's own clock"
    if wi[1].strip() == '{"error":"field type conflict"}' and 'field type conflict' in wf[1]:
        return ("a point that repeats a field with another type as a new shard group's first "
                "write: InfluxDB 1.6 fails that shard group's whole write (400 field type "
                "conflict), Fieldline refuses the point alone (docs/epts.md)")
    if 'points beyond retention policy' in wf[1] and 'points beyond retention policy' not in wi[1]:
        return ("retention: Fieldline keeps at most the subscription's retention (100,000 days "
                "here), InfluxDB forever (tests/e2e/influxdb_golden.rs: FINITE)")
    if 'too many fields' in wf[1] and 'too many fields' not in wi[1]:
        return 'at most 1,000 fields per point in Fieldline (docs/epts.md, limits)'
    conflict_fl = 'field type conflict' in wf[1]
    conflict_ix = 'field type conflict' in wi[1]
    weeks = shard_groups(res['body'], res['precision']) | shard_groups(res['pre'] or '', None)
    ix_dups = any(d['step'] == 'SHOW FIELD KEYS' and duplicate_field_keys(d['ix'][1])
                  for d in res['diffs'])
    if len(weeks) > 1 and ((conflict_fl and not conflict_ix) or ix_dups):
        return ("field types per measurement in Fieldline, per shard group (week) in InfluxDB "
                "(harness WRITES_DIFFERENT: write_conflict_other_shard)")
    if conflict_ix and conflict_fl and wi[0] == wf[0]:
        rest = [d for d in res['diffs'] if d['step'] not in ('write', 'pre')]
        if 'write' in steps and not rest:
            return ("which conflicting field the error names, when a body conflicts both with "
                    "stored types and within itself (docs/epts.md, /write)")
        if 'write' not in steps and rest and all(influx_has_more(d['ix'], d['fl']) for d in rest):
            return ("InfluxDB keeps the series and fields of a point it refused for a type "
                    "conflict, Fieldline nothing of it (harness WRITES_DIFFERENT: "
                    "write_del_drop_series_retype_check, write_edge_dup_check_fields)")
    rest = [d for d in res['diffs'] if d['step'] not in ('write', 'pre')]
    if wi == wf and 'invalid field name' in wi[1] and rest \
            and all(influx_has_more(d['ix'], d['fl']) for d in rest):
        return ("InfluxDB keeps the series of a point it refused for a field named time, "
                "Fieldline nothing of it (docs/epts.md)")
    return None


# ------------------------------------------------------------------------------ grouping

def reasons(text):
    """The kinds of error an answer names, names and numbers left out."""
    d = parse(text)
    err = d.get('error') if isinstance(d, dict) else None
    if not isinstance(err, str):
        return set()
    # The line a parse error quotes may itself hold a line break (an unterminated string).
    err = re.sub(r"unable to parse '.*?': (?=[a-z])", 'parse: ', err, flags=re.S)
    out = set()
    for line in err.split('\n'):
        line = re.sub(r'^partial write: ', '', line)
        line = re.sub(r' dropped=\d+$', '', line)
        line = re.sub(r'"[^"]*"', '_', line)
        line = re.sub(r'type \w+', 'type _', line)
        line = re.sub(r'-?\d+', 'N', line)
        out.add(line[:80])
    return out


def how_different(res):
    steps = [d['step'] for d in res['diffs']]
    wi, wf = res['write']['ix'], res['write']['fl']
    if wi[0] != wf[0]:
        how = f'write status {wi[0]} vs {wf[0]}'
    elif 'write' in steps:
        how = 'write answer differs'
    elif 'pre' in steps:
        how = 'writing the stored data differs'
    else:
        how = 'stored data differs (' + ', '.join(sorted(
            {'SELECT' if s.startswith('SELECT') else s for s in steps})) + ')'
    return how


def signature(case):
    """How a case differs: for a write answer, the errors only one side names; for stored data,
    what reads differ and whether a point was refused for a type conflict."""
    wi, wf = case['write']['ix'][1], case['write']['fl'][1]
    if case['how'].startswith('write'):
        ri, rf = reasons(wi), reasons(wf)
        if ri == rf:
            return f"{case['how']} :: the same kinds of error, other lines or counts"
        return (f"{case['how']} :: only InfluxDB names [{'; '.join(sorted(ri - rf))}], "
                f"only Fieldline [{'; '.join(sorted(rf - ri))}]")
    conflict = ' after a type conflict' if 'field type conflict' in wi + wf else ''
    return case['how'] + conflict


def categorize(res):
    if not res['diffs']:
        return 'equal', None, None
    known = known_difference(res)
    if known:
        return 'known', known, None
    return 'different', None, how_different(res)


def reduce_case(servers, db, case, deadline, attempts=15):
    """Fewer lines, and no stored data first, while the case still differs the same way."""
    body, precision, pre = case['body'], case['precision'], case['pre']
    how = case['how']

    def still(b, p):
        res = run_case(servers, db, b, precision, p)
        cat, _, how2 = categorize(res)
        return cat == 'different' and how2 == how, res

    best = (body, pre, case)
    tries = 0
    if pre and not deadline.passed():
        tries += 1
        ok, res = still(body, None)
        if ok:
            best = (body, None, res)
    lines = best[0].split('\n')
    i = 0
    while i < len(lines) and tries < attempts and not deadline.passed():
        if len([ln for ln in lines if ln.strip()]) <= 1 and lines[i].strip():
            i += 1
            continue
        cand = lines[:i] + lines[i + 1:]
        tries += 1
        ok, res = still('\n'.join(cand), best[1])
        if ok:
            lines = cand
            best = ('\n'.join(cand), best[1], res)
        else:
            i += 1
    return best[2]


# ------------------------------------------------------------------------------------ run

def show(res):
    print('BODY     :', repr(res['body'][:400]), 'precision=', res['precision'], 'pre=', repr(res['pre']))
    print('WRITE IX :', res['write']['ix'][0], clip(res['write']['ix'][1]))
    print('WRITE FL :', res['write']['fl'][0], clip(res['write']['fl'][1]))
    for d in res['diffs']:
        if d['step'] == 'write':
            continue
        print('  DIFF', d['step'])
        print('    IX:', d['ix'][0], clip(d['ix'][1], 1500))
        print('    FL:', d['fl'][0], clip(d['fl'][1], 1500))


def one(servers, db, body, precision=None, pre=None):
    """One body written to both servers, everything printed."""
    res = run_case(servers, db, body, precision, pre)
    cat, known, how = categorize(res)
    show(res)
    print('=>', cat, f'({known or how})' if known or how else '')
    return cat


def cases_to_run(n, seed, edge_cases):
    """The hand-written edge cases (`edge_cases` of them evenly spread, None: all), then n
    random bodies."""
    fixed = list(FIXED)
    if edge_cases is not None and edge_cases < len(fixed):
        step = len(fixed) / edge_cases if edge_cases else 0
        fixed = [fixed[int(k * step)] for k in range(edge_cases)]
    out = [('edge', c) for c in fixed]
    g = WriteGen(random.Random(seed))
    out += [('random', g.body()) for _ in range(n)]
    return out


def run(servers, report, db, n, seed, minutes, edge_cases=None, reduce_minutes=3, max_groups=30):
    different = []
    deadline = Deadline(minutes * 60)
    todo = cases_to_run(n, seed, edge_cases)
    for i, (kind, (body, precision, pre)) in enumerate(todo):
        if deadline.passed():
            print(f'writes: stopped after {minutes} minutes ({i} of {len(todo)})')
            break
        res = run_case(servers, db, body, precision, pre)
        cat, known, how = categorize(res)
        case = dict(res, i=i, kind=kind, category=cat, known=known, how=how)
        for d in case['diffs']:
            d['ix'] = [d['ix'][0], d['ix'][1][:4000]]
            d['fl'] = [d['fl'][0], d['fl'][1][:4000]]
        case['body'] = body[:20000]
        report.add('writes', case)
        if cat == 'different':
            different.append(case)
    print(report.summary('writes'))
    for line in report.known_reasons('writes'):
        print(line)
    groups = group_different(different, signature)
    if not groups:
        return
    print(f'\n{len(groups)} distinct write differences (minimal reproductions):')
    rdeadline = Deadline(min(reduce_minutes, minutes) * 60)
    for g, (sig, cases) in enumerate(groups):
        rep = min(cases, key=lambda c: (len(c['body']) + len(c['pre'] or ''), c['i']))
        res = reduce_case(servers, db, rep, rdeadline) if g < max_groups else rep
        print(f'\n[{g + 1}] {len(cases)} case(s): {sig}')
        show(res)
        cmd = f"scripts/influx-difftest --body {shell_quote(res['body'])}"
        if res['precision'] is not None:
            cmd += f" --precision {shell_quote(res['precision'])}"
        if res['pre']:
            cmd += f" --pre {shell_quote(res['pre'])}"
        print('  re-run   :', cmd)


def shell_quote(s):
    """A shell word; \\n, \\r and \\t written as escapes, which --body and --pre read back."""
    s = s.replace('\\', '\\\\').replace('\n', '\\n').replace('\r', '\\r').replace('\t', '\\t')
    return "'" + s.replace("'", "'\\''") + "'"


def unescape(s):
    """What shell_quote wrote: \\n, \\r, \\t and \\\\ read back."""
    return re.sub(r'\\([\\nrt])', lambda m: {'n': '\n', 'r': '\r', 't': '\t', '\\': '\\'}[m.group(1)], s)
