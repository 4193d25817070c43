#!/usr/bin/env python3
"""The driver of scripts/influx-difftest: compares a running Fieldline host with a running
InfluxDB 1.6, both fresh (scripts/influx-difftest starts them and passes their addresses).

  main.py [queries|writes|all] --influx URL --fieldline URL --dataset FILE --cases FILE
          [--n N] [--seed S] [--kinds K,...] [--edge-cases K] [--minutes M]
  main.py --one 'QUERY' [--epoch E] [--chunk N] ...      one query, both answers printed
  main.py --body 'LINES' [--precision P] [--pre 'LINES'] ...   one /write body (\\n, \\r, \\t
                                                              and \\\\ read as escapes)

It signs up an organization on the host (the operator's token from SPIN_VARIABLE_OPERATOR_TOKEN),
creates database `general` on both and writes the data set to both, then runs. Every case goes
to the cases file (JSON lines); the summary and the distinct differences, each with a minimal
reproduction, to stdout. Exit status 0 whatever the differences; 1 when it could not run.
"""

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import queries  # noqa: E402
import writes  # noqa: E402


def main():
    ap = argparse.ArgumentParser(prog='scripts/influx-difftest', description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('mode', nargs='?', default='all', choices=['queries', 'writes', 'all'])
    ap.add_argument('--n', type=int, help='random cases of each part (default: 1000 queries, 200 write bodies)')
    ap.add_argument('--seed', type=int, help='the generators\' seed (default: a random one, printed)')
    ap.add_argument('--edge-cases', type=int, help='how many of the hand-written /write edge cases, '
                    'evenly spread (default: all)')
    ap.add_argument('--kinds', help='comma-separated query kinds to generate, e.g. dash,sub '
                    '(default: every kind but dash, weighted)')
    ap.add_argument('--minutes', type=float, default=30, help='time budget of each part (default 30)')
    ap.add_argument('--one', metavar='QUERY', help='compare one query')
    ap.add_argument('--epoch', help='with --one: the epoch parameter')
    ap.add_argument('--chunk', type=int, help='with --one: chunked, this chunk_size (0: the default)')
    ap.add_argument('--body', metavar='LINES', help='compare one /write body')
    ap.add_argument('--precision', help='with --body: the precision parameter')
    ap.add_argument('--pre', metavar='LINES', help='with --body: lines written first')
    ap.add_argument('--influx', help='InfluxDB\'s base URL')
    ap.add_argument('--fieldline', help='the Fieldline host\'s base URL')
    ap.add_argument('--dataset', help='the data set written to database general')
    ap.add_argument('--cases', help='the JSON-lines file every case is written to')
    ap.add_argument('--write-db', default='difftest_w', help='the throwaway database of the write cases')
    a = ap.parse_args()
    missing = [o for o in ('influx', 'fieldline', 'dataset', 'cases') if not getattr(a, o)]
    if missing:
        ap.error('scripts/influx-difftest passes these: ' + ', '.join('--' + o for o in missing))

    operator = os.environ.get('SPIN_VARIABLE_OPERATOR_TOKEN')
    if not operator:
        common.fail('SPIN_VARIABLE_OPERATOR_TOKEN (the host\'s operator token) is not set')
    auth = common.fieldline_account(a.fieldline, operator)
    servers = (common.Server('influxdb', a.influx), common.Server('fieldline', a.fieldline, auth))
    common.load_dataset(servers, a.dataset)

    if a.one is not None:
        queries.one(servers, a.one, a.epoch, a.chunk)
        return
    if a.body is not None:
        writes.one(servers, a.write_db, writes.unescape(a.body), a.precision,
                   writes.unescape(a.pre) if a.pre else None)
        return

    seed = a.seed if a.seed is not None else random.randrange(1, 10**6)
    print(f'seed {seed} (again: --seed {seed}); every case: {a.cases}', flush=True)
    report = common.Report(a.cases)
    try:
        if a.mode in ('queries', 'all'):
            queries.run(servers, report, a.n if a.n is not None else 1000, seed, a.minutes,
                        kinds=a.kinds.split(',') if a.kinds else None)
            print(flush=True)
        if a.mode in ('writes', 'all'):
            writes.run(servers, report, a.write_db, a.n if a.n is not None else 200, seed,
                       a.minutes, a.edge_cases)
    finally:
        report.close()
    print('\nsummary (seed %d):' % seed)
    for part in (['queries'] if a.mode == 'queries' else ['writes'] if a.mode == 'writes'
                 else ['queries', 'writes']):
        print('  ' + report.summary(part))
    print(f'every case: {a.cases}')


if __name__ == '__main__':
    main()
