"""What the query and write testers share: HTTP to both servers, the Fieldline account, loading
the data set, comparing answers (numbers, order, chunked documents), the categories and the
report. Standard library only.

Categories of a case (the `category` of each line of the cases file):
  equal       the same status and the same JSON (integers exactly, other numbers to 1e-9
              relative), or the same bytes
  order-only  equal once the rows of one time in a series are sorted (InfluxDB lists the rows
              of several series at one time in its merge order)
  ties        a LIMIT/OFFSET picked other rows among rows of equal time: the answers without
              it are equal or order-only
  refused     Fieldline refused the statement by name ("... not supported by Fieldline")
  known       a difference by design (docs/epts.md, tests/golden/*/harness.rs): `known` says
              which
  different   anything else: a difference to look at
"""

import base64
import json
import math
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 20  # seconds per request
EMAIL = "difftest@example.com"
PASSWORD = "difftest correct horse battery"

CATEGORIES = ["equal", "order-only", "ties", "refused", "known", "different"]


# ------------------------------------------------------------------------------------ HTTP

class Server:
    """One server: its base URL and, for Fieldline, the credentials InfluxDB clients send."""

    def __init__(self, name, base, authorization=None):
        self.name = name
        self.base = base.rstrip("/")
        self.authorization = authorization

    def request(self, method, path, params=(), body=None, headers=None):
        """(status, body text); status -1 and the exception's text when there is no answer."""
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(list(params))
        req = urllib.request.Request(url, method=method, data=body)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if self.authorization:
            req.add_header("Authorization", self.authorization)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except Exception as e:  # timeout, connection refused or reset
            return -1, f"EXC {type(e).__name__}: {e}"

    def query(self, q, db="general", epoch=None, chunk=None, method="GET"):
        """/query: `chunk` None is not chunked, 0 chunked with the default size, N chunk_size=N."""
        params = []
        if db:
            params.append(("db", db))
        params.append(("q", q))
        if epoch:
            params.append(("epoch", epoch))
        if chunk is not None:
            params.append(("chunked", "true"))
            if chunk:
                params.append(("chunk_size", str(chunk)))
        return self.request(method, "/query", params)

    def write(self, body, db, precision=None):
        params = [("db", db)]
        if precision is not None:
            params.append(("precision", precision))
        data = body.encode("utf-8") if isinstance(body, str) else body
        return self.request("POST", "/write", params, data)


def http_json(method, url, body=None, bearer=None):
    """A JSON request of the admin API; exits with its answer when it fails."""
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if bearer:
        req.add_header("Authorization", "Bearer " + bearer)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        fail(f"{method} {url}: {e.code} {e.read().decode('utf-8', 'replace')[:500]}")
    except OSError as e:
        fail(f"{method} {url}: {e}")


def fail(msg):
    print(f"influx-difftest: {msg}", file=sys.stderr)
    sys.exit(1)


def fieldline_account(base, operator_token):
    """Signs up an organization on a fresh host, lifts its limits with the operator's token
    (points per hour; retention of 100,000 days, so that the data set's 1970 and 1980 points
    are kept, as in tests/e2e/influxdb_golden.rs) and returns the HTTP Basic credentials of an
    API token, which /query and /write take (an Administrator's: CREATE DATABASE works)."""
    s = http_json("POST", base + "/api/v1/signup",
                  {"organization": "Difftest", "email": EMAIL, "password": PASSWORD})
    access, org = s["access_token"], s["organization"]
    sub = http_json("GET", base + "/api/v1/organization/subscription", bearer=access)
    sub.update({"pointsPerHour": 2 ** 62, "detailedRetentionDays": 100000,
                "aggregatedRetentionDays": 100000, "conduitTier": "enterprise"})
    http_json("PUT", f"{base}/api/v1/operator/organizations/{org}/subscription", sub,
              bearer=operator_token)
    tok = http_json("POST", base + "/api/v1/tokens",
                    {"kind": "conduit", "name": "difftest", "tier": "enterprise"}, bearer=access)
    return "Basic " + base64.b64encode(f"{EMAIL}:{tok['secret']}".encode()).decode()


def load_dataset(servers, path, db="general"):
    """CREATE DATABASE db on each server and the data set written to it (nanoseconds)."""
    with open(path, "rb") as f:
        data = f.read()
    for s in servers:
        st, body = s.request("POST", "/query", [("q", f'CREATE DATABASE "{db}"')])
        if st != 200 or '"error"' in body:
            fail(f"{s.name}: CREATE DATABASE {db}: {st} {body[:300]}")
        st, body = s.write(data, db)
        if st != 204:
            fail(f"{s.name}: writing {path}: {st} {body[:300]}")


# ------------------------------------------------------------------------------ comparison

def num_eq(a, b):
    """Integers exactly (both ints), other numbers to within 1e-9 relative, NaN equal to NaN:
    as tests/golden/influxdb-general/harness.rs compares."""
    if a == b:
        return True
    if isinstance(a, int) and isinstance(b, int):
        return False
    fa, fb = float(a), float(b)
    if math.isnan(fa) and math.isnan(fb):
        return True
    return abs(fa - fb) <= 1e-9 * max(abs(fa), abs(fb))


def jeq(a, b):
    """JSON values equal, numbers as num_eq says."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return num_eq(a, b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(jeq(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(jeq(x, y) for x, y in zip(a, b))
    return a == b


def parse(body):
    try:
        return json.loads(body)
    except ValueError:
        return None


def documents(body):
    """A chunked answer's JSON documents (one a line), or None if one is not JSON."""
    out = []
    for line in body.strip().split("\n"):
        if line.strip():
            d = parse(line)
            if d is None:
                return None
            out.append(d)
    return out


def _copy(doc):
    return json.loads(json.dumps(doc))


def _series(doc):
    """Every series of an answer document (results[*].series[*]), to edit in place."""
    if not isinstance(doc, dict):
        return
    for res in doc.get("results", []) or []:
        for s in res.get("series", []) or []:
            yield res, s


def sort_equal_times(doc):
    """A copy where the rows of equal time inside each series are sorted (an order-insensitive
    view of what InfluxDB lists in its merge order)."""
    doc = _copy(doc)
    for _, s in _series(doc):
        vals = s.get("values") or []
        out, i = [], 0
        while i < len(vals):
            j = i
            while j < len(vals) and vals[j][0] == vals[i][0]:
                j += 1
            out.extend(sorted(vals[i:j], key=lambda r: json.dumps(r, sort_keys=True)))
            i = j
        s["values"] = out
    return doc


def sort_series(doc):
    """sort_equal_times, and the series of each statement sorted by name and tags."""
    doc = sort_equal_times(doc)
    for res in doc.get("results", []) if isinstance(doc, dict) else []:
        if res.get("series"):
            res["series"].sort(key=lambda s: (s.get("name", ""),
                                              json.dumps(s.get("tags", {}), sort_keys=True)))
    return doc


def mask_columns(doc, keep):
    """A copy where every cell of a column whose name `keep(name)` refuses is None."""
    doc = _copy(doc)
    for _, s in _series(doc):
        cols = s.get("columns") or []
        drop = [i for i, c in enumerate(cols) if not keep(c)]
        for row in s.get("values") or []:
            for i in drop:
                if i < len(row):
                    row[i] = None
    return doc


def is_refusal(body):
    return "not supported by Fieldline" in body


def compare(ix, fl, chunked=False):
    """The category of two answers (status, body) before by-design tagging and tie checks:
    'equal', 'order-only', 'refused', 'series-order' or 'different'."""
    (si, bi), (sf, bf) = ix, fl
    if si == sf and bi == bf:
        return "equal"
    if is_refusal(bf):
        return "refused"
    if si != sf:
        return "different"
    if chunked:
        di, df = documents(bi), documents(bf)
        if di is None or df is None:
            return "different" if bi.strip() != bf.strip() else "equal"
        if jeq(di, df):
            return "equal"
        if len(di) == len(df) and all(jeq(sort_equal_times(a), sort_equal_times(b))
                                      for a, b in zip(di, df)):
            return "order-only"
        return "different"
    pi, pf = parse(bi), parse(bf)
    if pi is None or pf is None:
        return "equal" if bi.strip() == bf.strip() else "different"
    if jeq(pi, pf):
        return "equal"
    if jeq(sort_equal_times(pi), sort_equal_times(pf)):
        return "order-only"
    if jeq(sort_series(pi), sort_series(pf)):
        return "series-order"
    return "different"


def error_text(body):
    """The `error` of an answer (top level or the first statement's), else None."""
    d = parse(body)
    if isinstance(d, dict):
        if isinstance(d.get("error"), str):
            return d["error"]
        for res in d.get("results", []) or []:
            if isinstance(res, dict) and isinstance(res.get("error"), str):
                return res["error"]
    return None


def how_different(ix, fl):
    """A short, stable description of how two answers differ, for grouping."""
    (si, bi), (sf, bf) = ix, fl
    if "unsupported value:" in bi and "MarshalJSON" in bi:
        return "InfluxDB cannot encode a non-finite value (json: unsupported value)"
    if si != sf:
        return f"status {si} vs {sf}"
    ei, ef = error_text(bi), error_text(bf)
    if ei is not None and ef is None:
        return "InfluxDB errs, Fieldline answers"
    if ei is None and ef is not None:
        return "Fieldline errs, InfluxDB answers"
    if ei is not None and ef is not None:
        return "error texts differ"
    pi, pf = parse(bi), parse(bf)
    if pi is None or pf is None:  # chunked: one document a line
        di, df = documents(bi), documents(bf)
        if di is None or df is None:
            return "bodies differ (not JSON)"
        if len(di) != len(df):
            return "chunked: number of documents differs"
        for a, b in zip(di, df):
            if not jeq(a, b):
                return "chunked: " + _how_documents(a, b)
        return "chunked: order of rows"
    return _how_documents(pi, pf)


def _how_documents(pi, pf):
    if jeq(sort_series(pi), sort_series(pf)):
        return "series in another order"
    if isinstance(pi, dict) and isinstance(pf, dict):
        ri, rf = pi.get("results") or [], pf.get("results") or []
        if len(ri) != len(rf):
            return "number of statements differs"
        for a, b in zip(ri, rf):
            if isinstance(a, dict) and isinstance(b, dict) and a.get("partial") != b.get("partial"):
                return "partial flag differs"
            ea, eb = (a.get("error") if isinstance(a, dict) else None,
                      b.get("error") if isinstance(b, dict) else None)
            if (ea is None) != (eb is None):
                return "a later statement errs on one side"
            if ea != eb:
                return "error texts differ (a later statement)"
    si_, sf_ = list(_series(pi)), list(_series(pf))
    if len(si_) != len(sf_):
        return "number of series differs"
    for (_, a), (_, b) in zip(si_, sf_):
        if a.get("name") != b.get("name") or a.get("tags") != b.get("tags"):
            return "series differ"
        if a.get("columns") != b.get("columns"):
            return "columns differ"
        if len(a.get("values") or []) != len(b.get("values") or []):
            return "number of rows differs"
    for (_, a), (_, b) in zip(si_, sf_):
        for ra, rb in zip(a.get("values") or [], b.get("values") or []):
            if ra and rb and ra[0] != rb[0]:
                return "times differ"
    return "values differ"


# --------------------------------------------------------------------------------- report

def clip(text, n=600):
    text = text.strip()
    return text if len(text) <= n else text[:n] + f"... ({len(text)} chars)"


class Report:
    """The cases file (one JSON object a line, every case) and the counts per category."""

    def __init__(self, path):
        self.path = path
        self.fh = open(path, "w", encoding="utf-8")
        self.counts = {}
        self.known = {}

    def add(self, part, case):
        case = dict(case, part=part)
        key = (part, case["category"])
        self.counts[key] = self.counts.get(key, 0) + 1
        if case["category"] == "known":
            reason = (part, case["known"])
            self.known[reason] = self.known.get(reason, 0) + 1
        self.fh.write(json.dumps(case, ensure_ascii=False) + "\n")
        self.fh.flush()

    def close(self):
        self.fh.close()

    def summary(self, part):
        n = {c: self.counts.get((part, c), 0) for c in CATEGORIES}
        total = sum(n.values())
        label = {"refused": "refused by name", "known": "known (by design)"}
        return f"{part}: {total} cases: " + ", ".join(f"{label.get(c, c)} {n[c]}" for c in CATEGORIES)

    def known_reasons(self, part):
        """The lines naming each by-design difference of `part` and its count, most first."""
        reasons = [(k, r) for (p, r), k in self.known.items() if p == part]
        return [f"  known ({k}): {r}" for k, r in sorted(reasons, key=lambda kr: (-kr[0], kr[1]))]


def group_different(cases, signature):
    """The different cases grouped by `signature(case)`, largest group first."""
    groups = {}
    for c in cases:
        groups.setdefault(signature(c), []).append(c)
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))


class Deadline:
    """A time budget for a loop (every loop of the tool is bounded by count and by time)."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def passed(self):
        return time.monotonic() > self.end
