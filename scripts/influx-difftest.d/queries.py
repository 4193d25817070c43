"""Random InfluxQL queries over the general data set (tests/golden/influxdb-general/dataset.lp,
database `general`), each sent to InfluxDB 1.6 and to Fieldline and the answers compared.

The generator knows the data set's schema (`S`: measurements, tags and their values, fields,
their types and ranges; the data lies in 2021-03-01 00:00-02:00 UTC, `T0`): keep it in step
with tests/golden/influxdb-general/gen_dataset.py. Each query is sent with a random `epoch`
(none, h, m, s, ms, u, ns) and, one time in eight, chunked (`chunk_size` 0, 1, 2, 3, 5 or 100).

A different answer to a query with a row LIMIT is sent again without it: equal then, the limit
picked other rows among rows of equal time (`ties`). Differences by design (docs/epts.md,
tests/golden/*/harness.rs) are tagged `known`. The other differences are grouped (the functions
and clauses the query uses, and how the answers differ) and each group's shortest case is
reduced (clauses removed while it still differs) to a minimal reproduction.
"""

import json
import random
import re
import time

from common import (Deadline, clip, compare, documents, error_text, group_different, how_different,
                    jeq, mask_columns, parse)

S = {
    'cpu': {
        'tags': {'host': ['server01', 'server02', 'server03', 'server04'],
                 'region': ['us-east', 'us-west', 'eu-central', ''],
                 'cpu': ['cpu0', 'cpu1', 'cpu-total'], 'rack': ['r1'], 'env': ['prod']},
        'fields': {'usage_user': ('float', 2, 38), 'usage_system': ('float', 5, 9),
                   'usage_idle': ('float', 54, 97), 'procs': ('integer', 100, 121)},
        'w': 5},
    'plant': {
        'tags': {'line': ['L0', 'L1', 'L2', ''], 'machine': ['loom', 'press 2', 'press-1', 'mill=3', 'oven']},
        'fields': {'temp': ('float', 18, 71), 'rpm': ('integer', 0, 1240), 'running': ('boolean',),
                   'state': ('string', ['run', 'idle', 'fault'])},
        'w': 5},
    'net': {
        'tags': {'host': ['server01', 'server02'], 'interface': ['eth0', 'lo']},
        'fields': {'bytes_recv': ('integer', 5027, 1005485598), 'bytes_sent': ('integer', 1004350, 1564239),
                   'err_in': ('integer', 0, 1)},
        'w': 4},
    'events': {
        'tags': {'kind': ['alert', 'backup', 'deploy', 'legacy', 'login'], 'severity': ['crit', 'info', 'warn', '']},
        'fields': {'message': ('string', ['event 1', 'event 2', 'event 10']), 'code': ('integer', -3, 239),
                   'ok': ('boolean',)},
        'w': 2},
    'big': {'tags': {'kind': ['edge']}, 'fields': {'n': ('integer', -10, 10), 'f': ('float', -10, 10)}, 'w': 1},
    'room temp,east': {'tags': {'zone name': ['a=b, c'], 'sensör': ['°C']},
                       'fields': {'value': ('float', 20, 22), 'field with space': ('integer', 0, 9),
                                  'eq=comma,': ('boolean',), 'note': ('string', ['0: x'])},
                       'w': 1},
    'température': {'tags': {'pièce': ['cuisine', 'salle à manger']}, 'fields': {'valeur': ('float', 15, 25)}, 'w': 1},
}
NUMERIC = ('float', 'integer')
T0 = 1614556800  # 2021-03-01T00:00:00Z


def qi(name):  # quoted identifier
    return '"' + name.replace('\\', '\\\\').replace('"', '\\"') + '"'


def qs(s):  # string literal
    return "'" + s.replace('\\', '\\\\').replace("'", "\\'") + "'"


def ts(sec):
    t = time.gmtime(sec)
    frac = sec - int(sec)
    base = time.strftime('%Y-%m-%dT%H:%M:%S', t)
    if frac:
        base += ('%.3f' % frac)[1:]
    return base + 'Z'


class BaseGen:
    """Round 1: raw selects, aggregates (with and without GROUP BY time and fill), transformations
    over fields and over aggregates, selectors (top/bottom/distinct), arithmetic and casts,
    subqueries, regex FROM, SHOW statements."""

    def __init__(self, rnd):
        self.r = rnd

    def ch(self, xs):
        return self.r.choice(xs)

    def p(self, prob):
        return self.r.random() < prob

    def meas(self, need=None):
        ms = [m for m in S if need is None or any(v[0] in need for v in S[m]['fields'].values())]
        return self.r.choices(ms, weights=[S[m]['w'] for m in ms])[0]

    def field(self, m, types=None):
        fs = [f for f, v in S[m]['fields'].items() if types is None or v[0] in types]
        return self.ch(fs) if fs else None

    def ftype(self, m, f):
        return S[m]['fields'][f][0]

    # --- time
    def trange(self, need=False, p=0.6):
        if not need and not self.p(p):
            return None
        start = T0 + self.r.randrange(0, 120) * 60
        if self.p(0.2):
            start += self.r.choice([15, 30, 45, 7, 0.5])
        length = self.ch([60, 120, 300, 600, 900, 1200, 1800, 3600, 5400, 7200])
        end = start + length
        lo = self.ch(['>=', '>'])
        hi = self.ch(['<', '<='])
        if self.p(0.1):
            return f"time {lo} {int(start * 1e9)} AND time {hi} {int(end)}s"
        return f"time {lo} '{ts(start)}' AND time {hi} '{ts(end)}'"

    # --- where
    def tag_cond(self, m):
        tags = S[m]['tags']
        k = self.ch(list(tags))
        v = self.ch(tags[k])
        op = self.r.choices(['=', '!=', '=~', '!~'], weights=[5, 2, 2, 1])[0]
        if op in ('=~', '!~'):
            pat = self.ch([v[:3] if v else '^$', '^' + v[:4], v[-1:] + '$' if v else '.', '.*', '[12]', '^s'])
            pat = pat.replace('/', '\\/')
            return f"{qi(k)} {op} /{pat}/"
        return f"{qi(k)} {op} {qs(v)}"

    def field_cond(self, m):
        f = self.field(m)
        spec = S[m]['fields'][f]
        t = spec[0]
        if t in NUMERIC:
            lo, hi = spec[1], spec[2]
            v = self.r.uniform(lo, hi)
            v = int(v) if t == 'integer' or self.p(0.3) else round(v, 2)
            op = self.ch(['>', '<', '>=', '<=', '=', '!='])
            return f"{qi(f)} {op} {v}"
        if t == 'boolean':
            return f"{qi(f)} {self.ch(['=', '!='])} {self.ch(['true', 'false'])}"
        op = self.ch(['=', '!=', '=~'])
        v = self.ch(spec[1])
        if op == '=~':
            return f"{qi(f)} =~ /{v[:2]}/"
        return f"{qi(f)} {op} {qs(v)}"

    def where(self, m, need_time=False, fields_ok=True, p_time=0.6):
        parts = []
        n = self.r.choices([0, 1, 2], weights=[3, 4, 2])[0]
        for _ in range(n):
            if fields_ok and self.p(0.3):
                parts.append(self.field_cond(m))
            else:
                parts.append(self.tag_cond(m))
        if len(parts) == 2 and self.p(0.3):
            parts = [f"({parts[0]} OR {parts[1]})"]
        tr = self.trange(need=need_time, p=p_time)
        if tr:
            parts.append(tr)
        return (' WHERE ' + ' AND '.join(parts)) if parts else ''

    def group_tags(self, m, p=0.5):
        if not self.p(p):
            return []
        if self.p(0.2):
            return ['*']
        tags = list(S[m]['tags'])
        k = self.r.randint(1, min(2, len(tags)))
        return [qi(t) for t in self.r.sample(tags, k)]

    def interval(self):
        return self.ch(['1m', '2m', '5m', '7m', '10m', '15m', '20m', '30m', '1h', '90s', '45s'])

    def gbt(self):
        iv = self.interval()
        if self.p(0.25):
            iv += ', ' + self.ch(['1m', '5m', '-5m', '30s', '10m', '-1m'])
        return f"time({iv})"

    def fill(self):
        return self.r.choices(['', ' fill(null)', ' fill(none)', ' fill(previous)', ' fill(linear)', ' fill(0)',
                               ' fill(-1)', ' fill(2.5)'], weights=[4, 1, 2, 2, 2, 2, 1, 1])[0]

    def tail(self, series_many=True):
        s = ''
        if self.p(0.2):
            s += ' ORDER BY time DESC'
        if self.p(0.3):
            s += f' LIMIT {self.r.randint(1, 6)}'
            if self.p(0.4):
                s += f' OFFSET {self.r.randint(1, 4)}'
        if series_many and self.p(0.15):
            s += f' SLIMIT {self.r.randint(1, 3)}'
            if self.p(0.5):
                s += f' SOFFSET {self.r.randint(1, 2)}'
        return s

    # --- function calls
    AGG = ['count', 'sum', 'mean', 'median', 'mode', 'spread', 'stddev', 'min', 'max', 'first', 'last',
           'percentile', 'distinct', 'count_distinct']
    STRING_OK = ['count', 'first', 'last', 'mode', 'distinct', 'count_distinct']
    BOOL_OK = ['count', 'first', 'last', 'mode', 'distinct', 'count_distinct', 'min', 'max']

    def agg_call(self, m, fn=None, f=None):
        if f is None:
            f = self.field(m, NUMERIC) if self.p(0.85) else self.field(m)
            if f is None:
                f = self.field(m)
        t = self.ftype(m, f)
        if fn is None:
            pool = self.AGG if t in NUMERIC else (self.STRING_OK if t == 'string' else self.BOOL_OK)
            fn = self.ch(pool)
        if fn == 'percentile':
            return f"percentile({qi(f)}, {self.ch([0, 5, 25, 50, 50.5, 75, 90, 99, 100])})"
        if fn == 'count_distinct':
            return f"count(distinct({qi(f)}))"
        return f"{fn}({qi(f)})"

    def alias(self):
        return f' AS {qi(self.ch(["a", "x", "v"]) + str(self.r.randint(1, 9)))}' if self.p(0.15) else ''

    # --- query kinds
    def q_raw(self):
        m = self.meas()
        k = self.r.random()
        if k < 0.25:
            sel = '*'
        elif k < 0.35:
            sel = self.ch(['*::field', '*::tag, ' + qi(self.field(m)), '/^' + self.field(m)[:2] + '/'])
        else:
            fs = self.r.sample(list(S[m]['fields']), self.r.randint(1, min(3, len(S[m]['fields']))))
            cols = [qi(f) for f in fs]
            if self.p(0.3):
                cols.append(qi(self.ch(list(S[m]['tags']))))
            sel = ', '.join(cols)
        gt = self.group_tags(m, 0.3)
        q = f"SELECT {sel} FROM {qi(m)}{self.where(m, p_time=0.8)}"
        if gt:
            q += ' GROUP BY ' + ', '.join(gt)
        q += self.tail()
        if 'LIMIT' not in q and 'WHERE' not in q:
            q += ' LIMIT 20'
        return q

    def q_agg(self):
        m = self.meas(NUMERIC)
        calls = [self.agg_call(m) + self.alias() for _ in range(self.r.choices([1, 2, 3], weights=[6, 3, 1])[0])]
        # distinct/count_distinct alone only
        if any(c.startswith('distinct(') for c in calls):
            calls = calls[:1]
        gt = self.group_tags(m, 0.5)
        q = f"SELECT {', '.join(calls)} FROM {qi(m)}{self.where(m, p_time=0.5)}"
        if gt:
            q += ' GROUP BY ' + ', '.join(gt)
        q += self.tail()
        return q

    def q_agg_time(self):
        m = self.meas(NUMERIC)
        calls = [self.agg_call(m) + self.alias() for _ in range(self.r.choices([1, 2], weights=[7, 3])[0])]
        if any(c.startswith('distinct(') for c in calls):
            calls = calls[:1]
        gt = self.group_tags(m, 0.4)
        g = ', '.join([self.gbt()] + gt)
        q = f"SELECT {', '.join(calls)} FROM {qi(m)}{self.where(m, need_time=True)} GROUP BY {g}{self.fill()}"
        q += self.tail()
        return q

    TF = ['derivative', 'non_negative_derivative', 'difference', 'non_negative_difference', 'moving_average',
          'cumulative_sum', 'integral', 'elapsed', 'exponential_moving_average',
          'double_exponential_moving_average', 'triple_exponential_moving_average', 'relative_strength_index',
          'kaufmans_efficiency_ratio', 'kaufmans_adaptive_moving_average', 'chande_momentum_oscillator',
          'triple_exponential_derivative']

    def tf_call(self, inner):
        fn = self.r.choices(self.TF, weights=[4, 4, 3, 3, 3, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1])[0]
        if fn in ('derivative', 'non_negative_derivative', 'integral', 'elapsed'):
            if self.p(0.6):
                return f"{fn}({inner}, {self.ch(['1s', '1m', '10s', '30s', '1h', '5m', '1ms'])})"
            return f"{fn}({inner})"
        if fn == 'moving_average':
            return f"moving_average({inner}, {self.r.randint(1, 5)})"
        if fn in ('exponential_moving_average', 'double_exponential_moving_average',
                  'triple_exponential_moving_average', 'relative_strength_index', 'kaufmans_efficiency_ratio',
                  'kaufmans_adaptive_moving_average', 'triple_exponential_derivative'):
            return f"{fn}({inner}, {self.r.randint(2, 5)})"
        if fn == 'chande_momentum_oscillator':
            return f"{fn}({inner}, {self.r.randint(2, 5)})"
        return f"{fn}({inner})"

    def q_tf_raw(self):
        m = self.meas(NUMERIC)
        if m in ('big',):
            m = 'net'
        f = self.field(m, NUMERIC)
        call = self.tf_call(qi(f))
        # narrow the data to keep answers small
        w = ' WHERE ' + self.tag_cond(m)
        tr = self.trange(need=True)
        w += ' AND ' + tr
        if self.p(0.3):
            w += ' AND ' + self.field_cond(m)
        gt = self.group_tags(m, 0.4)
        q = f"SELECT {call}{self.alias()} FROM {qi(m)}{w}"
        if gt:
            q += ' GROUP BY ' + ', '.join(gt)
        q += self.tail()
        return q

    def q_tf_agg(self):
        m = self.meas(NUMERIC)
        if m == 'big':
            m = 'cpu'
        f = self.field(m, NUMERIC)
        inner = f"{self.ch(['mean', 'max', 'min', 'sum', 'count', 'last', 'first', 'median', 'spread'])}({qi(f)})"
        call = self.tf_call(inner)
        gt = self.group_tags(m, 0.4)
        g = ', '.join([self.gbt()] + gt)
        q = f"SELECT {call}{self.alias()} FROM {qi(m)}{self.where(m, need_time=True, fields_ok=False)} GROUP BY {g}{self.fill()}"
        q += self.tail()
        return q

    def q_sel(self):
        m = self.meas(NUMERIC)
        f = self.field(m, NUMERIC)
        n = self.r.randint(1, 5)
        k = self.r.random()
        if k < 0.4:
            fn = self.ch(['top', 'bottom'])
            call = f"{fn}({qi(f)}, {n})"
        elif k < 0.65:
            fn = self.ch(['top', 'bottom'])
            tag = self.ch(list(S[m]['tags']))
            call = f"{fn}({qi(f)}, {qi(tag)}, {n})"
        elif k < 0.8:
            fn = self.ch(['top', 'bottom'])
            tag = self.ch(list(S[m]['tags']))
            call = f"{fn}({qi(f)}, {n}), {qi(tag)}"
            if self.p(0.4):
                call += ', ' + qi(self.field(m))
        else:
            call = f"distinct({qi(self.field(m))})"
        w = self.where(m, p_time=0.7)
        gt = self.group_tags(m, 0.3)
        g = gt
        gbt = False
        if self.p(0.3):
            g = [self.gbt()] + gt
            gbt = True
            if 'time >' not in w:
                tr = self.trange(need=True)
                w = (w + ' AND ' + tr) if w else ' WHERE ' + tr
        q = f"SELECT {call} FROM {qi(m)}{w}"
        if g:
            q += ' GROUP BY ' + ', '.join(g)
        q += self.tail()
        return q

    def q_arith(self):
        m = self.meas(NUMERIC)
        fs = [f for f, v in S[m]['fields'].items() if v[0] in NUMERIC]
        a = self.ch(fs)
        b = self.ch(fs)
        ops = ['+', '-', '*', '/', '%']
        k = self.r.random()
        if k < 0.3:
            e = f"{qi(a)} {self.ch(ops)} {qi(b)}"
        elif k < 0.55:
            e = f"{qi(a)} {self.ch(ops)} {self.ch(['2', '0.5', '3', '-1', '100', '1e3'])}"
        elif k < 0.7:
            e = f"{qi(a)}::{self.ch(['integer', 'float', 'string', 'boolean'])}"
        elif k < 0.85:
            e = f"{self.ch(['abs', 'ceil', 'floor', 'round', 'sqrt', 'ln', 'log2', 'log10', 'exp', 'sin', 'cos', 'atan'])}({qi(a)})"
        else:
            e = f"({qi(a)} + {qi(b)}) * 2 - {qi(a)} / 4"
        if self.p(0.3):
            e2 = f"{self.ch(['max', 'min', 'mean', 'sum', 'last'])}({qi(a)}) {self.ch(ops)} {self.ch(['2', '10', qi('x')[0:0] + 'count(' + qi(b) + ')'])}"
            q = f"SELECT {e2} FROM {qi(m)}{self.where(m, p_time=0.5)}"
            gt = self.group_tags(m, 0.4)
            if gt:
                q += ' GROUP BY ' + ', '.join(gt)
            return q + self.tail()
        q = f"SELECT {e}{self.alias()} FROM {qi(m)}{self.where(m, p_time=0.9)}"
        gt = self.group_tags(m, 0.2)
        if gt:
            q += ' GROUP BY ' + ', '.join(gt)
        q += self.tail()
        if 'LIMIT' not in q:
            q += ' LIMIT 10'
        return q

    def q_sub(self):
        m = self.meas(NUMERIC)
        if m == 'big':
            m = 'cpu'
        f = self.field(m, NUMERIC)
        inner_fn = self.ch(['mean', 'max', 'min', 'sum', 'count', 'last', 'spread', 'median'])
        tags = list(S[m]['tags'])
        inner_tags = self.r.sample(tags, self.r.randint(0, min(2, len(tags))))
        tr = self.trange(need=True)
        k = self.r.random()
        if k < 0.6:
            g = [self.gbt()] + [qi(t) for t in inner_tags]
            inner = f"SELECT {inner_fn}({qi(f)}) AS {qi('v')} FROM {qi(m)} WHERE {tr} GROUP BY {', '.join(g)}{self.fill()}"
            outer_where = ''
        elif k < 0.8:
            g = [qi(t) for t in inner_tags]
            inner = f"SELECT {inner_fn}({qi(f)}) AS {qi('v')} FROM {qi(m)}{self.where(m, fields_ok=True)}"
            if g:
                inner += ' GROUP BY ' + ', '.join(g)
            outer_where = ''
        else:
            inner = f"SELECT {qi(f)} AS {qi('v')} FROM {qi(m)} WHERE {self.tag_cond(m)} AND {tr}"
            outer_where = ''
            if self.p(0.5):
                inner = inner.replace(f" AS {qi('v')}", f" AS {qi('v')}, " + qi(self.ch(tags)))
        ofn = self.ch(['max', 'min', 'mean', 'sum', 'count', 'last', 'first', 'stddev', 'spread', 'median'])
        ogt = []
        if inner_tags and self.p(0.5):
            ogt = [qi(self.ch(inner_tags))]
        if self.p(0.2):
            outer_where = f" WHERE {qi('v')} > {self.r.randint(0, 100)}"
        if self.p(0.15):
            q = f"SELECT {qi('v')} FROM ({inner}){outer_where}"
        else:
            q = f"SELECT {ofn}({qi('v')}) FROM ({inner}){outer_where}"
        if self.p(0.3):
            q += f" WHERE {tr}" if not outer_where else f" AND {tr}"
            ogt = [self.gbt()] + ogt
        if ogt:
            q += ' GROUP BY ' + ', '.join(ogt)
        q += self.tail(series_many=False)
        return q

    def q_regex_from(self):
        pat = self.ch(['^(cpu|net)$', '^(plant|big)$', 'e', '^t', 'temp', '.*', '^(events|big)$', 'n'])
        k = self.r.random()
        if k < 0.4:
            sel = self.ch(['count(*)', 'max(*)', 'first(*)', 'last(*)', 'mean(*)', 'sum(*)', 'min(*)'])
        elif k < 0.7:
            sel = self.ch(['"host", "procs", "bytes_recv"', '"rpm", "n"', '*', '"value", "valeur"'])
        else:
            sel = 'count(' + self.ch(['"procs"', '"rpm"', '"message"', '"n"', '/^b/', '/u/']) + ')'
        tr = self.trange(need=True)
        q = f"SELECT {sel} FROM /{pat}/ WHERE {tr}"
        if self.p(0.3):
            q += ' GROUP BY *' if self.p(0.5) else ' GROUP BY "host"'
        if not sel.startswith(('count', 'max', 'first', 'last', 'mean', 'sum', 'min')):
            q += f" LIMIT {self.r.randint(1, 4)}"
        return q

    def q_show(self):
        m = self.meas()
        k = self.r.randint(0, 7)
        frm = ''
        if self.p(0.6):
            frm = ' FROM ' + (qi(m) if self.p(0.7) else '/' + self.ch(['^c', 'e', '^(cpu|net)$', 't']) + '/')
        whr = ''
        if self.p(0.4):
            mm = m if frm.startswith(' FROM "') else self.ch(['cpu', 'plant', 'net'])
            whr = ' WHERE ' + self.tag_cond(mm)
        lim = ''
        if self.p(0.3):
            lim = f' LIMIT {self.r.randint(1, 4)}'
            if self.p(0.4):
                lim += f' OFFSET {self.r.randint(1, 3)}'
        if k == 0:
            w = ''
            if self.p(0.5):
                w = ' WITH MEASUREMENT ' + self.ch(['=~ /^c/', '= "cpu"', '=~ /e/', '!~ /t/', '=~ /^(plant|net)$/'])
            return f"SHOW MEASUREMENTS{w}{whr}{lim}"
        if k == 1:
            return f"SHOW SERIES{frm}{whr}{lim}"
        if k == 2:
            return f"SHOW TAG KEYS{frm}{whr}{lim}"
        if k == 3:
            tags = list(S[m]['tags'])
            key = self.ch([f'= {qi(self.ch(tags))}', f'!= {qi(self.ch(tags))}', '=~ /o/', '=~ /^h/',
                           f'IN ({qi(tags[0])}, {qi(self.ch(tags))})'])
            return f"SHOW TAG VALUES{frm} WITH KEY {key}{whr}{lim}"
        if k == 4:
            return f"SHOW FIELD KEYS{frm}{lim}"
        if k == 5:
            kind = self.ch(['SERIES', 'MEASUREMENT', 'TAG KEY', 'FIELD KEY'])
            ex = self.ch(['', ' EXACT'])
            return f"SHOW {kind}{ex} CARDINALITY{frm}{whr}"
        if k == 6:
            tags = list(S[m]['tags'])
            return f"SHOW TAG VALUES{self.ch(['', ' EXACT'])} CARDINALITY{frm} WITH KEY = {qi(self.ch(tags))}{whr}"
        return f"SHOW SERIES{frm}{whr}{lim}"


class QueryGen(BaseGen):
    """Round 2 on top of round 1: WHERE mixing tags, fields and time with OR/AND and parentheses,
    regexes on fields, field-vs-field comparisons, math functions, nested arithmetic, GROUP BY
    time with offsets, fill(linear) over gaps, SHOW TAG VALUES / FIELD KEYS / CARDINALITY forms,
    error answers and several statements in one q."""

    # ------------------------------------------------ WHERE mixing
    def fcmp(self, m):
        """field compared with another field of the same measurement"""
        fs = [f for f, v in S[m]['fields'].items() if v[0] in NUMERIC]
        if len(fs) < 2:
            return self.field_cond(m)
        a, b = self.r.sample(fs, 2)
        op = self.ch(['>', '<', '>=', '<=', '=', '!='])
        if self.p(0.3):
            return f"{qi(a)} {op} {qi(b)} {self.ch(['*', '+', '-', '/'])} {self.ch(['2', '0.5', '10', '1'])}"
        return f"{qi(a)} {op} {qi(b)}"

    def str_cond(self, m):
        sf = [f for f, v in S[m]['fields'].items() if v[0] == 'string']
        if not sf:
            return self.tag_cond(m)
        f = self.ch(sf)
        k = self.r.randrange(5)
        if k == 0:
            return f"{qi(f)} =~ /{self.ch(['^ev', 'e', '1$', 'run|idle', '^$', '(?i)FAULT', '.'])}/"
        if k == 1:
            return f"{qi(f)} !~ /{self.ch(['^ev', 'u', '0'])}/"
        if k == 2:
            return f"{qi(f)} {self.ch(['>', '<', '>=', '<='])} {qs(self.ch(['event 1', 'idle', 'm', 'run']))}"
        return f"{qi(f)} {self.ch(['=', '!='])} {qs(self.ch(['run', 'idle', 'fault', 'event 10', 'event 2', '']))}"

    def bool_cond(self, m):
        bf = [f for f, v in S[m]['fields'].items() if v[0] == 'boolean']
        if not bf:
            return self.tag_cond(m)
        f = self.ch(bf)
        return f"{qi(f)} {self.ch(['=', '!=', '=', '='])} {self.ch(['true', 'false', 'TRUE', 'f', 't'])}"

    def tag_regex(self, m):
        tags = S[m]['tags']
        k = self.ch(list(tags))
        pat = self.ch(['^server0[12]$', 'cpu[0-9]', '^$', 'L1|L2', '(?i)PRESS', 'east$', '.+', 'a', '^(eth0|lo)$',
                       '\\d', 'mill=3', ' '])
        return f"{qi(k)} {self.ch(['=~', '!~'])} /{pat}/"

    def atom(self, m):
        k = self.r.random()
        if k < 0.3:
            return self.tag_cond(m)
        if k < 0.45:
            return self.tag_regex(m)
        if k < 0.65:
            return self.field_cond(m)
        if k < 0.75:
            return self.fcmp(m)
        if k < 0.87:
            return self.str_cond(m)
        return self.bool_cond(m)

    def bexpr(self, m, depth=0):
        if depth >= 2 or self.p(0.4):
            return self.atom(m)
        op = self.ch(['AND', 'OR', 'OR', 'AND'])
        a = self.bexpr(m, depth + 1)
        b = self.bexpr(m, depth + 1)
        e = f"{a} {op} {b}"
        return f"({e})" if self.p(0.8) else e

    def q_where_mix(self):
        m = self.ch(['cpu', 'plant', 'plant', 'events', 'events', 'net', 'room temp,east'])
        e = self.bexpr(m)
        tr = self.trange(p=0.5)
        w = f"({e}) AND {tr}" if tr and self.p(0.5) else (f"{tr} AND {e}" if tr else e)
        if self.p(0.5):
            f = self.field(m)
            sel = f"count({qi(f)})"
            gt = self.group_tags(m, 0.5)
            q = f"SELECT {sel} FROM {qi(m)} WHERE {w}"
            if gt:
                q += ' GROUP BY ' + ', '.join(gt)
            return q
        fs = self.r.sample(list(S[m]['fields']), min(2, len(S[m]['fields'])))
        q = f"SELECT {', '.join(qi(f) for f in fs)} FROM {qi(m)} WHERE {w}"
        if self.p(0.4):
            q += ' GROUP BY *'
        return q + ' LIMIT 15'

    # ------------------------------------------------ math
    MATH1 = ['abs', 'ceil', 'floor', 'round', 'sqrt', 'ln', 'log2', 'log10', 'exp', 'sin', 'cos', 'tan', 'asin',
             'acos', 'atan']

    def mathcall(self, inner):
        k = self.r.random()
        if k < 0.7:
            return f"{self.ch(self.MATH1)}({inner})"
        if k < 0.8:
            return f"pow({inner}, {self.ch(['2', '0.5', '-1', '3', '0'])})"
        if k < 0.9:
            return f"log({inner}, {self.ch(['2', '10', '0.5', '1'])})"
        return f"atan2({inner}, {self.ch(['1', '-1', '2.5', '0'])})"

    def q_math(self):
        m = self.ch(['cpu', 'net', 'big', 'plant', 'events'])
        fs = [f for f, v in S[m]['fields'].items() if v[0] in NUMERIC]
        a = self.ch(fs)
        k = self.r.random()
        tr = self.trange(need=True)
        if k < 0.45:
            inner = qi(a)
            if self.p(0.3):
                inner = f"{qi(a)} {self.ch(['-', '/', '*', '+'])} {self.ch(['100', '2', qi(self.ch(fs))])}"
            e = self.mathcall(inner)
            if self.p(0.25):
                e = f"{e} {self.ch(['*', '+', '-', '/'])} {self.ch(['2', '-1', self.mathcall(qi(self.ch(fs)))])}"
            cond = ' AND ' + self.tag_cond(m) if self.p(0.6) else ''
            return f"SELECT {e}{self.alias()} FROM {qi(m)} WHERE {tr}{cond} LIMIT {self.r.randint(1, 8)}"
        agg = self.ch(['mean', 'sum', 'max', 'min', 'count', 'last', 'first', 'median', 'spread', 'stddev'])
        inner = f"{agg}({qi(a)})"
        e = self.mathcall(inner)
        if self.p(0.3):
            e = f"({e} {self.ch(['*', '+', '-', '/'])} {self.ch(['2', '-1.5', 'max(' + qi(a) + ')'])}) * 2"
        if self.p(0.2):
            e = self.mathcall(e)
        gb = ''
        if self.p(0.5):
            gb = f" GROUP BY time({self.ch(['5m', '10m', '20m', '1h'])})"
            if self.p(0.4):
                gb += ', ' + qi(self.ch(list(S[m]['tags'])))
            gb += self.ch(['', '', ' fill(none)', ' fill(0)', ' fill(linear)'])
        elif self.p(0.4):
            gb = ' GROUP BY ' + qi(self.ch(list(S[m]['tags'])))
        return f"SELECT {e}{self.alias()} FROM {qi(m)} WHERE {tr}{gb}"

    # ------------------------------------------------ offsets and fill(linear)
    def q_offset(self):
        m = self.ch(['cpu', 'cpu', 'plant', 'net'])
        f = self.field(m, NUMERIC)
        iv = self.ch(['10m', '5m', '15m', '1h', '7m', '20m'])
        off = self.ch(['3m', '-3m', '1m', '-1m', '30s', '-90s', '9m', '-10m', '0s', '59m', '-61m', '1h', '2h'])
        agg = self.ch(['count', 'mean', 'max', 'sum', 'last', 'first', 'min'])
        start = T0 + self.r.randrange(0, 100) * 60 + self.ch([0, 0, 30, 17])
        end = start + self.ch([1200, 1800, 3600, 2700])
        w = f"time >= '{ts(start)}' AND time < '{ts(end)}'"
        if m == 'cpu' and self.p(0.5):
            w += f" AND \"host\" = '{self.ch(['server02', 'server01', 'server04'])}'"
        if m == 'plant' and self.p(0.5):
            w += f" AND \"machine\" = '{self.ch(['oven', 'mill=3', 'press-1'])}'"
        fill = self.ch(['', ' fill(linear)', ' fill(linear)', ' fill(none)', ' fill(previous)', ' fill(0)'])
        gt = ', ' + qi(self.ch(list(S[m]['tags']))) if self.p(0.3) else ''
        q = f"SELECT {agg}({qi(f)}) FROM {qi(m)} WHERE {w} GROUP BY time({iv}, {off}){gt}{fill}"
        if self.p(0.15):
            q += f' LIMIT {self.r.randint(1, 4)}'
        return q

    def q_linear(self):
        # gaps: cpu server02 00:40-01:00, plant oven 01:10-01:20, plant mill=3 temp 00:30-00:45
        k = self.r.randrange(3)
        if k == 0:
            m, cond, f, lo, hi = 'cpu', "\"host\" = 'server02'", self.ch(['procs', 'usage_user', 'usage_idle']), 30, 70
        elif k == 1:
            m, cond, f, lo, hi = 'plant', "\"machine\" = 'oven'", self.ch(['rpm', 'temp']), 60, 90
        else:
            m, cond, f, lo, hi = 'plant', "\"machine\" = 'mill=3'", 'temp', 20, 55
        if self.p(0.2):
            cond = cond.replace("= '", "=~ /").replace("'", "/").replace('/oven/', '/oven|mill/')
        agg = self.ch(['mean', 'max', 'min', 'sum', 'count', 'last', 'first'])
        iv = self.ch(['2m', '5m', '3m', '10m', '7m'])
        off = self.ch(['', '', ', 1m', ', -2m'])
        s = T0 + self.r.randint(lo, lo + 10) * 60
        e = T0 + self.r.randint(hi - 10, hi) * 60
        tr = f"time >= '{ts(s)}' AND time {self.ch(['<', '<='])} '{ts(e)}'"
        gt = ' , "machine"' if m == 'plant' and self.p(0.3) else ''
        tail = ' ORDER BY time DESC' if self.p(0.1) else ''
        if self.p(0.2):
            tail += f' LIMIT {self.r.randint(1, 5)}'
        sel = f"{agg}({qi(f)})"
        if self.p(0.2):
            sel = f"{agg}({qi(f)}) * 2 + 1"
        return f"SELECT {sel} FROM {qi(m)} WHERE {cond} AND {tr} GROUP BY time({iv}{off}){gt} fill(linear){tail}"

    # ------------------------------------------------ SHOW
    def q_show2(self):
        k = self.r.randrange(9)
        m = self.meas()
        tags = list(S[m]['tags'])
        frm = ''
        if self.p(0.6):
            frm = ' FROM ' + (qi(m) if self.p(0.6) else '/' + self.ch(['^c', 'e', '^(cpu|net)$', 't', 'p', '^b']) + '/')
        mm = m if frm.startswith(' FROM "') else self.ch(['cpu', 'plant', 'net', 'events'])
        whr = ''
        if self.p(0.5):
            c = self.tag_cond(mm) if self.p(0.7) else self.tag_regex(mm)
            if self.p(0.3):
                c = f"({c} OR {self.tag_cond(mm)})"
            if self.p(0.2):
                c = f"{c} AND {self.tag_cond(mm)}"
            whr = ' WHERE ' + c
        lim = ''
        if self.p(0.25):
            lim = f' LIMIT {self.r.randint(1, 4)}' + (f' OFFSET {self.r.randint(1, 3)}' if self.p(0.4) else '')
        if k <= 2:
            key = self.ch([f'IN ({", ".join(qi(t) for t in self.r.sample(tags, min(len(tags), self.r.randint(1, 3))))})',
                           '=~ /' + self.ch(['^h', 'o', '.*', 'e$', '^(host|cpu)$', 'n']) + '/',
                           '!~ /' + self.ch(['^h', 'o']) + '/', '= ' + qi(self.ch(tags)), '!= ' + qi(self.ch(tags))])
            return f"SHOW TAG VALUES{frm} WITH KEY {key}{whr}{lim}"
        if k == 3:
            fr = ' FROM ' + ('/' + self.ch(['^c', 'e', '^(cpu|net)$', 't', 'p', '^b', '.*', 'x', 'é']) + '/'
                             if self.p(0.7) else qi(m))
            return f"SHOW FIELD KEYS{fr}{lim}"
        if k == 4:
            return f"SHOW SERIES{self.ch(['', ' EXACT'])} CARDINALITY{frm}{whr}"
        if k == 5:
            w = ''
            if self.p(0.5):
                w = ' WITH MEASUREMENT ' + self.ch(['=~ /^c/', '= "cpu"', '=~ /e/', '!~ /t/', '= cpu'])
            return f"SHOW MEASUREMENT{self.ch(['', ' EXACT'])} CARDINALITY{w}{whr}"
        if k == 6:
            return f"SHOW TAG KEY{self.ch(['', ' EXACT'])} CARDINALITY{frm}{whr}"
        if k == 7:
            return f"SHOW FIELD KEY{self.ch(['', ' EXACT'])} CARDINALITY{frm}"
        return f"SHOW TAG VALUES{self.ch(['', ' EXACT'])} CARDINALITY{frm} WITH KEY {self.ch(['= ' + qi(self.ch(tags)), '=~ /o/', 'IN (' + qi(tags[0]) + ')'])}{whr}"

    # ------------------------------------------------ errors
    def q_error(self):
        m = self.meas(NUMERIC)
        f = self.field(m, NUMERIC)
        errs = [
            f"SELECT {qi(f)} FROM",
            f"SELECT FROM {qi(m)}",
            f"SELECT {qi(f)} {qi(m)}",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE {qi(f)} >",
            f"SELECT {qi(f)} FROM {qi(m)} GROUP",
            f"SELECT {qi(f)} FROM {qi(m)} LIMIT -1",
            f"SELECT {qi(f)} FROM {qi(m)} LIMIT x",
            f"SELECT {qi(f)} FROM {qi(m)} ORDER BY {qi(f)}",
            f"SELECT {qi(f)} FROM {qi(m)} ORDER BY time ASC, {qi(f)}",
            f"SELECT nosuchfn({qi(f)}) FROM {qi(m)}",
            f"SELECT foo({qi(f)}, 1) FROM {qi(m)}",
            f"SELECT mean() FROM {qi(m)}",
            f"SELECT mean({qi(f)}, 2) FROM {qi(m)}",
            f"SELECT count({qi(f)}, 1) FROM {qi(m)}",
            f"SELECT percentile({qi(f)}) FROM {qi(m)}",
            f"SELECT percentile({qi(f)}, 'a') FROM {qi(m)}",
            f"SELECT top({qi(f)}) FROM {qi(m)}",
            f"SELECT top({qi(f)}, 0) FROM {qi(m)}",
            f"SELECT bottom({qi(f)}, -1) FROM {qi(m)}",
            f"SELECT derivative({qi(f)}, 1) FROM {qi(m)}",
            f"SELECT derivative({qi(f)}, -1s) FROM {qi(m)}",
            f"SELECT moving_average({qi(f)}) FROM {qi(m)}",
            f"SELECT moving_average({qi(f)}, 0) FROM {qi(m)}",
            f"SELECT moving_average(mean({qi(f)}), 2) FROM {qi(m)}",
            f"SELECT difference(mean({qi(f)})) FROM {qi(m)} WHERE time >= '2021-03-01T00:00:00Z' AND time < '2021-03-01T00:10:00Z'",
            f"SELECT mean({qi(f)}), {qi(f)} FROM {qi(m)}",
            f"SELECT {qi(f)}, count({qi(f)}) FROM {qi(m)}",
            f"SELECT mean({qi(f)}) + {qi(f)} FROM {qi(m)}",
            f"SELECT {qi(f)} FROM {qi(m)} GROUP BY time(1m)",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE time >= '2021-03-01T00:00:00Z' AND time < '2021-03-01T00:10:00Z' GROUP BY time(1m)",
            f"SELECT mean({qi(f)}) FROM {qi(m)} GROUP BY time(0s)",
            f"SELECT mean({qi(f)}) FROM {qi(m)} GROUP BY time(-1m)",
            f"SELECT mean({qi(f)}) FROM {qi(m)} GROUP BY time(1m), time(2m)",
            f"SELECT mean({qi(f)}) FROM {qi(m)} WHERE time >= '2021-03-01T00:00:00Z' AND time < '2021-03-01T00:10:00Z' GROUP BY time(1m) fill(bogus)",
            f"SELECT mean({qi(f)}) FROM {qi(m)} WHERE time >= '2021-03-01T00:00:00Z' AND time < '2021-03-01T00:10:00Z' GROUP BY time(1m) fill()",
            f"SELECT mean({qi(f)}) FROM {qi(m)} WHERE time >= '2021-03-01T00:00:00Z' AND time < '2021-03-01T00:10:00Z' GROUP BY time(1m) fill('x')",
            f"SELECT mean({qi(f)}) FROM {qi(m)} fill(0)",
            f"SELECT * FROM nosuchmeasurement",
            f"SELECT nosuchfield FROM {qi(m)}",
            f"SELECT mean(nosuchfield) FROM {qi(m)}",
            f"SELECT count(nosuchfield) FROM {qi(m)}",
            f"SELECT mean(nosuchfield) FROM {qi(m)} WHERE time >= '2021-03-01T00:00:00Z' AND time < '2021-03-01T00:10:00Z' GROUP BY time(5m)",
            f"SELECT count(nosuchfield) FROM {qi(m)} WHERE time >= '2021-03-01T00:00:00Z' AND time < '2021-03-01T00:10:00Z' GROUP BY time(5m) fill(0)",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE nosuchtag = 'x'",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE time > 'notatime'",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE time > '2021-13-01T00:00:00Z'",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE time > 1614556800000000000 OR {qi(f)} > 1",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE time > 1 OR time < 2",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE {qi(f)} =~ 'abc'",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE {qi(f)} = /abc/",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE {qi(f)} =~ /[/",
            f"SHOW TAG VALUES FROM {qi(m)}",
            f"SHOW TAG VALUES WITH KEY",
            f"SHOW FIELD KEYS FROM",
            f"SHOW NONSENSE",
            f"SHOW SERIES LIMIT -1",
            f"SELECT {qi(f)} FROM {qi(m)} SLIMIT x",
            f"SELECT {qi(f)} FROM {qi(m)} OFFSET 1 LIMIT 1",
            f"SELECT {qi(f)} FROM {qi(m)};;",
            f";",
            f"",
            f"SELECT \"{f} FROM {qi(m)}",
            f"SELECT '{f}' FROM {qi(m)}",
            f"SELECT {qi(f)} FROM '{m}'",
            f"SELECT {qi(f)} + 'a' FROM {qi(m)} LIMIT 1",
            f"SELECT {qi(f)}::nosuchtype FROM {qi(m)} LIMIT 1",
            f"SELECT sum({qi(f)}) FROM {qi(m)} GROUP BY {qi(f)}",
            f"SELECT distinct(*) FROM {qi(m)}",
            f"SELECT distinct({qi(f)}), mean({qi(f)}) FROM {qi(m)}",
            f"SELECT top({qi(f)}, 2), bottom({qi(f)}, 2) FROM {qi(m)}",
            f"SELECT max({qi(f)}), top({qi(f)}, 2) FROM {qi(m)}",
            f"SELECT integral({qi(f)}, 0s) FROM {qi(m)}",
            f"SELECT elapsed({qi(f)}, 0s) FROM {qi(m)}",
            f"SELECT holt_winters({qi(f)}, 1, 1) FROM {qi(m)}",
            f"SELECT holt_winters(mean({qi(f)}), 1, 1) FROM {qi(m)}",
            f"SELECT sample({qi(f)}, 0) FROM {qi(m)}",
            f"SELECT abs() FROM {qi(m)}",
            f"SELECT abs({qi(f)}, 2) FROM {qi(m)}",
            f"SELECT pow({qi(f)}) FROM {qi(m)}",
            f"SELECT atan2({qi(f)}) FROM {qi(m)}",
            f"SELECT log({qi(f)}) FROM {qi(m)}",
            f"SELECT round({qi(f)}, 2) FROM {qi(m)}",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE {qi(f)} > now() - 1h",
            f"SELECT mean(mean({qi(f)})) FROM {qi(m)}",
            f"SELECT mean({qi(f)}) FROM (SELECT {qi(f)} FROM nosuch)",
            f"SELECT mean({qi(f)}) FROM (SELECT FROM {qi(m)})",
            f"SELECT {qi(f)} FROM {qi(m)} tz('Nowhere/City')",
            f"SELECT mean({qi(f)}) FROM {qi(m)} WHERE time >= '2021-03-01T00:00:00Z' AND time < '2021-03-01T00:10:00Z' GROUP BY time(1m) tz('UTC') LIMIT 1",
            f"SELECT {qi(f)} FROM {qi(m)} INTO x",
            f"DELETE FROM",
            f"DROP",
            f"CREATE DATABASE",
            f"SELECT {qi(f)} FROM nosuchdb..{qi(m)}",
            f"SELECT {qi(f)} FROM general.nosuchrp.{qi(m)}",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE \"host\" = 'a' AND",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE (\"host\" = 'a'",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE time >= '2021-03-01T00:00:00Z' AND time < '2021-03-01T00:10:00Z' GROUP BY time(1m) LIMIT 1",
            f"SELECT count(*) FROM {qi(m)} WHERE time >= '2021-03-01T00:00:00Z' AND time < '2021-03-01T00:05:00Z' GROUP BY time(1m)",
            f"SELECT * FROM {qi(m)} GROUP BY time(1m)",
            f"SELECT max(*), {qi(f)} FROM {qi(m)}",
            f"SELECT count({qi(f)}) FROM {qi(m)} WHERE time >= '2021-03-01T00:00:00Z' AND time < '2021-03-01T00:00:03Z' GROUP BY time(1ms) LIMIT 3",
            f"SELECT 1 FROM {qi(m)}",
            f"SELECT 1 + 1",
            f"SELECT now() FROM {qi(m)}",
            f"SELECT time FROM {qi(m)}",
            f"SELECT time, {qi(f)} FROM {qi(m)} LIMIT 1",
            f"SELECT {qi(f)}, {qi(f)} FROM {qi(m)} LIMIT 1",
            f"SELECT {qi(f)} AS time FROM {qi(m)} LIMIT 1",
            f"SELECT mean({qi(f)}) AS a, max({qi(f)}) AS a FROM {qi(m)}",
            f"select MEAN({qi(f)}) from {qi(m)}",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE \"host\" = \"server01\" LIMIT 1",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE 'server01' = \"host\" LIMIT 1",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE true LIMIT 1",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE false",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE 1 = 1 LIMIT 1",
            f"SELECT {qi(f)} FROM {qi(m)} WHERE {qi(f)} LIMIT 1",
        ]
        return self.ch(errs)

    # ------------------------------------------------ multi-statement
    def q_multi(self):
        parts = []
        for _ in range(self.r.randint(2, 3)):
            k = self.r.random()
            if k < 0.35:
                parts.append(self.q_agg())
            elif k < 0.55:
                parts.append(self.q_show2())
            elif k < 0.75:
                parts.append(self.q_error())
            else:
                parts.append(self.q_where_mix())
        sep = self.ch(['; ', ';', ' ;\n', ';'])
        q = sep.join(parts)
        if self.p(0.2):
            q += ';'
        return q

    # ------------------------------------------------ dashboards
    def q_dash(self):
        """What Grafana dashboards ask: rates of counters summed over series, energy from power,
        top-N over a subquery, nested subqueries, arithmetic between a subquery's columns,
        transformations and percentiles of a subquery's rows."""
        m = self.ch(['cpu', 'cpu', 'net', 'net', 'plant'])
        f = self.field(m, NUMERIC)
        tags = list(S[m]['tags'])
        tag = self.ch(tags)
        tr = self.trange(need=True)
        iv = self.ch(['1m', '5m', '10m', '30s', '15m'])
        fill = self.ch(['', '', ' fill(none)', ' fill(null)', ' fill(0)', ' fill(previous)'])
        agg = self.ch(['mean', 'max', 'last', 'sum', 'min'])
        k = self.r.randrange(9)
        if k == 0:  # the sum of per-series rates
            rate = self.ch(['non_negative_derivative', 'derivative', 'difference', 'non_negative_difference'])
            unit = f", {self.ch(['1s', '1m'])}" if 'derivative' in rate else ''
            inner = (f"SELECT {rate}({agg}({qi(f)}){unit}) AS {qi('r')} FROM {qi(m)} WHERE {tr} "
                     f"GROUP BY time({iv}), {qi(tag)}{fill}")
            q = f"SELECT {self.ch(['sum', 'mean', 'max'])}({qi('r')}) FROM ({inner}) WHERE {tr} GROUP BY time({iv})"
        elif k == 1:  # energy from power, per series or from a subquery's means
            unit = self.ch(['1h', '1m', '1s'])
            if self.p(0.5):
                q = f"SELECT integral({qi(f)}, {unit}) FROM {qi(m)} WHERE {tr} GROUP BY {qi(tag)}"
            else:
                inner = f"SELECT mean({qi(f)}) AS {qi('p')} FROM {qi(m)} WHERE {tr} GROUP BY time({iv}){fill}"
                q = f"SELECT integral({qi('p')}, {unit}) FROM ({inner})"
                if self.p(0.4):
                    q += f" WHERE {tr} GROUP BY time({self.ch(['30m', '1h'])})"
        elif k == 2:  # top-N series by an aggregate
            fn = self.ch(['top', 'bottom'])
            inner = f"SELECT {agg}({qi(f)}) AS {qi('v')} FROM {qi(m)} WHERE {tr} GROUP BY {qi(tag)}"
            q = f"SELECT {fn}({qi('v')}, {qi(tag)}, {self.r.randint(1, 3)}) FROM ({inner})"
        elif k == 3:  # top-N points a window of a subquery
            fn = self.ch(['top', 'bottom', 'max', 'first'])
            inner = (f"SELECT {agg}({qi(f)}) AS {qi('v')} FROM {qi(m)} WHERE {tr} "
                     f"GROUP BY time({iv}), {qi(tag)}{fill}")
            call = f"{fn}({qi('v')}, {self.r.randint(1, 3)})" if fn in ('top', 'bottom') else f"{fn}({qi('v')})"
            q = f"SELECT {call} FROM ({inner})"
            if self.p(0.5):
                q += f" GROUP BY {qi(tag)}"
        elif k == 4:  # two levels of subqueries
            inner = (f"SELECT {agg}({qi(f)}) AS {qi('v')} FROM {qi(m)} WHERE {tr} "
                     f"GROUP BY time({iv}), {qi(tag)}{fill}")
            mid = f"SELECT sum({qi('v')}) AS {qi('s')} FROM ({inner}) GROUP BY time({iv})"
            q = f"SELECT {self.ch(['max', 'mean', 'min', 'count', 'last'])}({qi('s')}) FROM ({mid})"
        elif k == 5:  # arithmetic between a subquery's columns
            fs = [x for x, v in S[m]['fields'].items() if v[0] in NUMERIC]
            a, b = self.r.sample(fs, 2) if len(fs) > 1 else (fs[0], fs[0])
            g = f" GROUP BY time({iv}){fill}" if self.p(0.7) else ''
            if g and self.p(0.4):
                g = f" GROUP BY time({iv}), {qi(tag)}{fill}"
            inner = f"SELECT mean({qi(a)}) AS {qi('a')}, {agg}({qi(b)}) AS {qi('b')} FROM {qi(m)} WHERE {tr}{g}"
            op = self.ch(['+', '-', '*', '/'])
            q = f"SELECT {qi('a')} {op} {qi('b')}{self.ch(['', ' * 100', ' / 2'])} FROM ({inner})"
        elif k == 6:  # a transformation of a subquery's rows
            fn = self.ch(['derivative', 'non_negative_derivative', 'difference', 'cumulative_sum',
                          'moving_average', 'elapsed'])
            arg = ', 2' if fn == 'moving_average' else (f", {self.ch(['1m', '1s'])}" if fn in ('derivative', 'elapsed') and self.p(0.5) else '')
            inner = f"SELECT {agg}({qi(f)}) AS {qi('v')} FROM {qi(m)} WHERE {tr} GROUP BY time({iv}){fill}"
            q = f"SELECT {fn}({qi('v')}{arg}) FROM ({inner})"
        elif k == 7:  # percentiles and spread of a subquery's rows
            fn = self.ch([f"percentile({qi('v')}, {self.ch([50, 90, 95, 99])})", f"spread({qi('v')})",
                          f"median({qi('v')})", f"stddev({qi('v')})", f"count({qi('v')})"])
            inner = f"SELECT {agg}({qi(f)}) AS {qi('v')} FROM {qi(m)} WHERE {tr} GROUP BY time({iv}), {qi(tag)}{fill}"
            q = f"SELECT {fn} FROM ({inner})"
            if self.p(0.4):
                q += f" GROUP BY {qi(tag)}"
        else:  # windows over a raw subquery
            inner = f"SELECT {qi(f)} AS {qi('v')} FROM {qi(m)} WHERE {tr}"
            if self.p(0.4):
                inner += f" AND {self.tag_cond(m)}"
            q = f"SELECT {agg}({qi('v')}) FROM ({inner}) WHERE {tr} GROUP BY time({iv}){fill}"
        if self.p(0.2):
            q += ' ORDER BY time DESC'
        if self.p(0.2):
            q += f' LIMIT {self.r.randint(1, 5)}'
        return q

    # ------------------------------------------------ a selector's ties under a subquery
    def q_sel_sub(self):
        """first()/last() without GROUP BY time in a subquery grouped by more tags than the
        outer statement: which of several series' points of one time the inner answer keeps."""
        m = self.ch(['cpu', 'net', 'plant'])
        f = self.field(m, ('float', 'integer'))
        tags = list(S[m]['tags'])
        inner_tags = self.r.sample(tags, self.r.randint(1, min(2, len(tags))))
        where = f" WHERE {self.trange(need=True)}" if self.p(0.8) else ''
        if where and self.p(0.2):
            where += f" AND {self.tag_cond(m)}"
        fn = self.ch(['first', 'last'])
        inner = (f"SELECT {fn}({qi(f)}) AS {qi('v')} FROM {qi(m)}{where} "
                 f"GROUP BY {', '.join(qi(t) for t in inner_tags)}")
        k = self.r.randrange(3)
        if k == 0:
            q = f"SELECT * FROM ({inner})"
        elif k == 1:
            q = f"SELECT {self.ch(['max', 'min', 'sum', 'count', 'first', 'last'])}({qi('v')}) FROM ({inner})"
        else:
            q = (f"SELECT {self.ch(['top', 'bottom'])}({qi('v')}, {qi(inner_tags[0])}, "
                 f"{self.r.randint(1, 3)}) FROM ({inner})")
        if len(inner_tags) > 1 and self.p(0.5):
            q += f" GROUP BY {qi(inner_tags[1])}"
        if self.p(0.2):
            q += ' ORDER BY time DESC'
        return q

    # Every kind of both rounds, with their weights. `dash` and `sel_sub` (weight 0 here, so that
    # a seed gives the queries it gave before they existed) are chosen with --kinds.
    KINDS = [('raw', 12), ('agg', 14), ('agg_time', 16), ('tf_raw', 12), ('tf_agg', 12), ('sel', 10),
             ('arith', 8), ('sub', 8), ('regex_from', 4), ('show', 6),
             ('where_mix', 22), ('math', 14), ('offset', 10), ('linear', 8), ('show2', 12), ('error', 16),
             ('multi', 6), ('dash', 0), ('sel_sub', 0)]

    def __init__(self, rnd, kinds=None):
        super().__init__(rnd)
        self.kinds = [(k, w or 1) for k, w in self.KINDS if k in kinds] if kinds else self.KINDS

    def query(self):
        """(kind, query text)."""
        kind = self.r.choices([k for k, _ in self.kinds], weights=[w for _, w in self.kinds])[0]
        return kind, getattr(self, 'q_' + kind)()


# ------------------------------------------------------------------------------ comparing

EPOCHS = [None, None, None, 'h', 'm', 's', 'ms', 'u', 'ns']
CHUNKS = [0, 1, 2, 3, 5, 100]


def both(servers, q, epoch=None, chunk=None):
    ix, fl = servers
    return ix.query(q, epoch=epoch, chunk=chunk), fl.query(q, epoch=epoch, chunk=chunk)


# The answers Fieldline refuses because they would be too large for it (docs/epts.md: "An
# answer is held in memory: at most 500,000 rows per statement"; holt_winters' fit).
SIZE_LIMITS = ('rows an answer may have', 'the answer would have more than', 'Fieldline fits')


def known_difference(q, ix, fl):
    """Why two different answers differ by design, or None. The reasons are those of
    docs/epts.md ("/query") and tests/golden/influxql/harness.rs (DIFFERENT)."""
    (si, bi), (sf, bf) = ix, fl
    if any(m in bf for m in SIZE_LIMITS):
        return 'answer size limit: Fieldline holds at most 500,000 rows per statement (docs/epts.md)'
    if si == sf == 200 and 'json: unsupported value' in bi and documents(bf) is not None:
        return ("a non-finite value: InfluxDB's body is no JSON (json: unsupported value), "
                "Fieldline answers null (docs/epts.md)")
    if si != sf or error_text(bi) is not None or error_text(bf) is not None:
        return None
    if 'integral(' in q and 'GROUP BY time' not in q and 'GROUP BY' in q:
        ri, rf = tagged_rows(bi), tagged_rows(bf)
        if ri is not None and ri == rf:
            return ("integral() grouped by tags without GROUP BY time: InfluxDB answers its series "
                    "in Go's map order (docs/epts.md)")
    pi, pf = parse(bi), parse(bf)
    if pi is None or pf is None:
        return None
    if re.search(r'\b(first|last)\(', q) and re.search(r'\b(first|last)\([^)]*\)\s*(AS "\w+"\s*)?,', q):
        keep = lambda c: c in ('time', 'first', 'last')  # noqa: E731
        if jeq(mask_columns(pi, keep), mask_columns(pf, keep)):
            return ("first()/last() with tags or fields beside them: InfluxDB's auxiliary "
                    "strings are not reproduced (docs/epts.md)")
    return None


def tagged_rows(body):
    """Every row of an answer (chunked or not) with its statement, name and tags, sorted: the
    same rows however the series are ordered, split or joined. None if a document is not JSON."""
    docs = documents(body)
    if docs is None:
        return None
    out = []
    for d in docs:
        for res in d.get("results", []) if isinstance(d, dict) else []:
            for s in res.get("series", []) or []:
                key = (res.get("statement_id"), s.get("name"), json.dumps(s.get("tags"), sort_keys=True))
                out.extend(json.dumps([key, row]) for row in s.get("values") or [])
    return sorted(out)


LIMIT_RE = re.compile(r' LIMIT \d+( OFFSET \d+)?(?=$| SLIMIT)')


def categorize(servers, q, epoch, chunk, ix, fl):
    """(category, known reason or None, how it differs or None) of one query's answers."""
    c = compare(ix, fl, chunk is not None)
    if c in ('equal', 'order-only', 'refused'):
        return c, None, None
    reason = known_difference(q, ix, fl)
    if reason:
        return 'known', reason, None
    # A row LIMIT/OFFSET over rows of equal time may pick other rows: without it, equal?
    if ' LIMIT ' in q and ';' not in q and q.count('SELECT') == 1:
        q2 = LIMIT_RE.sub('', q)
        if q2 != q:
            ix2, fl2 = both(servers, q2, epoch, chunk)
            if compare(ix2, fl2, chunk is not None) in ('equal', 'order-only'):
                return 'ties', None, None
    return 'different', None, how_different(ix, fl)


FUNC_RE = re.compile(r'\b([a-z_]+)\(')


def shape(q):
    """What a query uses, for grouping differences: its functions and main clauses."""
    if q.lstrip().startswith('SHOW'):
        parts = [' '.join(q.split()[:3])]
    else:
        funcs = sorted(set(f for f in FUNC_RE.findall(q) if f not in ('time', 'fill', 'tz')))
        parts = [','.join(funcs) or 'raw']
    for label, pat in [('GROUP BY time', r'GROUP BY time\('), ('fill', r'fill\([^)]*\)'),
                       ('DESC', r'ORDER BY time DESC'), ('subquery', r'FROM \(SELECT'),
                       ('several statements', r';\s*\S')]:
        m = re.search(pat, q)
        if m:
            parts.append(m.group(0).strip() if label == 'fill' else label)
    return ' | '.join(parts)


def signature(case):
    return f"{case['how']} :: {shape(case['q'])}"


# Reductions tried, in order, on a different case: each removes one thing.
REDUCTIONS = [
    (r' ORDER BY time DESC', ''),
    (r' SOFFSET \d+', ''), (r' SLIMIT \d+', ''), (r' OFFSET \d+', ''), (r' LIMIT \d+', ''),
    (r' AS "[^"]*"', ''),
    (r' fill\([^)]*\)', ''),
    (r', "[^"]*"(?=[^()]*$)', ''),            # the last GROUP BY tag
    (r' GROUP BY \*', ''),
    (r' AND "[^"]*" (=|!=|=~|!~|>|<|>=|<=) (\'[^\']*\'|/[^/]*/|[-\w.]+)', ''),  # a condition
    (r'"[^"]*" (=|!=|=~|!~|>|<|>=|<=) (\'[^\']*\'|/[^/]*/|[-\w.]+) AND ', ''),
]


def reduce_case(servers, case, deadline, attempts=25):
    """A smaller query (and no epoch or chunking) that still differs, as far as found within
    `attempts` tries: the case's minimal reproduction."""
    q, epoch, chunk, how = case['q'], case['epoch'], case['chunk'], case['how']

    def still(q2, e2, c2):
        ix, fl = both(servers, q2, e2, c2)
        cat, _, how2 = categorize(servers, q2, e2, c2, ix, fl)
        return cat == 'different' and how2 == how, ix, fl

    best = (q, epoch, chunk, case['ix'], case['fl'])
    tries = 0
    # First without the epoch, then not chunked.
    for drop in ('epoch', 'chunk'):
        e2, c2 = (None, best[2]) if drop == 'epoch' else (best[1], None)
        if (e2, c2) == (best[1], best[2]) or tries >= attempts or deadline.passed():
            continue
        tries += 1
        ok, ix, fl = still(best[0], e2, c2)
        if ok:
            best = (best[0], e2, c2, ix, fl)
    progress = True
    while progress and tries < attempts and not deadline.passed():
        progress = False
        for pat, rep in REDUCTIONS:
            if tries >= attempts or deadline.passed():
                break
            q2 = re.sub(pat, rep, best[0], count=1)
            if q2 == best[0]:
                continue
            tries += 1
            ok, ix, fl = still(q2, best[1], best[2])
            if ok:
                best = (q2, best[1], best[2], ix, fl)
                progress = True
    return best


# ------------------------------------------------------------------------------------ run

def one(servers, q, epoch=None, chunk=None):
    """Sends one query to both servers and prints both answers and the category."""
    ix, fl = both(servers, q, epoch, chunk)
    cat, known, how = categorize(servers, q, epoch, chunk, ix, fl)
    opts = ' '.join(x for x in [f'epoch={epoch}' if epoch else '',
                                f'chunked chunk_size={chunk}' if chunk is not None else ''] if x)
    print('QUERY    :', q, opts)
    print('INFLUXDB :', ix[0], ix[1].strip())
    print('FIELDLINE:', fl[0], fl[1].strip())
    print('=>', cat, f'({known or how})' if known or how else '')
    return cat


def run(servers, report, n, seed, minutes, reduce_minutes=3, max_groups=40, kinds=None):
    """n random queries (duplicates skipped; only those of `kinds` when it names some), within
    `minutes`; prints the summary and the distinct differences, each reduced to a minimal
    reproduction."""
    rnd = random.Random(seed)
    gen = QueryGen(rnd, kinds)
    seen = set()
    different = []
    deadline = Deadline(minutes * 60)
    for i in range(n):
        if deadline.passed():
            print(f'queries: stopped after {minutes} minutes ({i} of {n})')
            break
        kind, q = gen.query()
        epoch = rnd.choice(EPOCHS)
        chunk = rnd.choice(CHUNKS) if rnd.random() < 0.12 else None
        if (q, epoch, chunk) in seen:
            continue
        seen.add((q, epoch, chunk))
        ix, fl = both(servers, q, epoch, chunk)
        cat, known, how = categorize(servers, q, epoch, chunk, ix, fl)
        case = {'i': i, 'kind': kind, 'q': q, 'epoch': epoch, 'chunk': chunk, 'category': cat,
                'known': known, 'how': how, 'ix': [ix[0], ix[1][:4000]], 'fl': [fl[0], fl[1][:4000]]}
        report.add('queries', case)
        if cat == 'different':
            different.append(case)
    print(report.summary('queries'))
    for line in report.known_reasons('queries'):
        print(line)
    groups = group_different(different, signature)
    if not groups:
        return
    print(f'\n{len(groups)} distinct query differences (minimal reproductions):')
    rdeadline = Deadline(min(reduce_minutes, minutes) * 60)
    for g, (sig, cases) in enumerate(groups):
        rep = min(cases, key=lambda c: (len(c['q']), c['i']))
        if g < max_groups:
            q, epoch, chunk, ix, fl = reduce_case(servers, rep, rdeadline)
        else:
            q, epoch, chunk, ix, fl = rep['q'], rep['epoch'], rep['chunk'], rep['ix'], rep['fl']
        opts = ''.join([f' epoch={epoch}' if epoch else '',
                        f' chunked chunk_size={chunk}' if chunk is not None else ''])
        print(f'\n[{g + 1}] {len(cases)} case(s): {sig}')
        print(f'  query     : {q}{opts}')
        print(f'  influxdb  : {ix[0]} {clip(ix[1])}')
        print(f'  fieldline : {fl[0]} {clip(fl[1])}')
        print(f'  re-run    : scripts/influx-difftest --one {shell_quote(q)}'
              + (f' --epoch {epoch}' if epoch else '') + (f' --chunk {chunk}' if chunk is not None else ''))


def shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"
