// Reading a view's channels as chart series: InfluxQL over /query (any member may read), raw
// or grouped per interval by sum or mean. Intervals of whole hours are answered from the
// hourly aggregates (Fieldline's rollups), as docs/epts.md describes.
import { influx } from './api';
import type { ChosenChannel } from './view';

export type Grouping = 'own' | 'sum' | 'mean';
export type Series = { channel: ChosenChannel; times: number[]; values: number[] };
export type ChartData = { key: string; title: string; channels: ChosenChannel[]; x: number[]; ys: (number | null)[][]; labels: string[]; from?: number; to?: number; interval?: number };

const ident = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const str = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/// Intervals offered, in seconds (0: raw points).
export const INTERVALS: [number, string][] = [
  [0, 'raw points'], [60, '1 minute'], [300, '5 minutes'], [900, '15 minutes'], [1800, '30 minutes'],
  [3600, '1 hour'], [3 * 3600, '3 hours'], [6 * 3600, '6 hours'], [12 * 3600, '12 hours'], [86400, '1 day'], [7 * 86400, '7 days'],
];

/// The interval chosen automatically for a period: raw points up to 6 hours, then the
/// smallest offered interval that keeps a series under about 1,500 points.
export function autoInterval(spanMs: number): number {
  if (spanMs <= 6 * 3600_000) return 0;
  const want = spanMs / 1000 / 1500;
  return (INTERVALS.find(([s]) => s >= want) || INTERVALS[INTERVALS.length - 1])[0];
}

export function statement(c: ChosenChannel, from: number, to: number, interval: number, grouping: Grouping, tz: string): string {
  const where = `WHERE "uuid" = ${str(c.deviceUuid)} AND "sensor" = ${str(c.sensorName)} AND time >= ${from}ms AND time < ${to}ms`;
  if (!interval) return `SELECT "value" FROM ${ident(c.communicationId)} ${where}`;
  const fn = grouping === 'own' ? (c.grouping === 'S' ? 'sum' : 'mean') : grouping;
  const zone = interval >= 86400 ? ` tz(${str(tz)})` : '';
  return `SELECT ${fn}("value") FROM ${ident(c.communicationId)} ${where} GROUP BY time(${interval}s) fill(none)${zone}`;
}

export async function readSeries(channels: ChosenChannel[], from: number, to: number, interval: number, grouping: Grouping, tz: string): Promise<Series[]> {
  if (!channels.length) return [];
  const results = await influx(channels.map((c) => statement(c, from, to, interval, grouping, tz)).join('; '));
  return channels.map((channel, i) => {
    const times: number[] = [];
    const values: number[] = [];
    for (const s of results[i]?.series || [])
      for (const [t, v] of s.values) {
        if (v === null) continue;
        times.push(t);
        values.push(v);
      }
    return { channel, times, values };
  });
}

export function label(c: ChosenChannel): string {
  return `${c.deviceName} / ${c.sensorName} / ${c.name}${c.unit ? ` (${c.unit})` : ''}`;
}

/// One chart per device, sensor or unit; series on one time axis (null where a series has no
/// point); `combine` adds the sum or average of the chart's channels.
export function groupCharts(series: Series[], by: 'device' | 'sensor' | 'unit', combine: '' | 'sum' | 'mean'): ChartData[] {
  const groups = new Map<string, Series[]>();
  for (const s of series) {
    const k = by === 'device' ? s.channel.device : by === 'sensor' ? s.channel.sensor : s.channel.unit || '(no unit)';
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(s);
  }
  return [...groups.entries()].map(([key, list]) => {
    const first = list[0].channel;
    const title = by === 'device' ? first.deviceName : by === 'sensor' ? `${first.deviceName} / ${first.sensorName}` : `Unit: ${key}`;
    let x: number[];
    let ys: (number | null)[][];
    if (list.length === 1) {
      x = list[0].times;
      ys = [list[0].values];
    } else {
      const all = new Set<number>();
      for (const s of list) for (const t of s.times) all.add(t);
      x = [...all].sort((a, b) => a - b);
      const at = new Map(x.map((t, i) => [t, i]));
      ys = list.map((s) => {
        const y: (number | null)[] = new Array(x.length).fill(null);
        s.times.forEach((t, i) => (y[at.get(t)!] = s.values[i]));
        return y;
      });
    }
    const labels = list.map((s) => label(s.channel));
    if (combine && list.length > 1) {
      ys.push(x.map((_, i) => {
        const vs = ys.map((y) => y[i]).filter((v): v is number => v !== null);
        if (!vs.length) return null;
        const sum = vs.reduce((a, b) => a + b, 0);
        return combine === 'sum' ? sum : sum / vs.length;
      }));
      labels.push(combine === 'sum' ? 'Sum of the channels' : 'Average of the channels');
    }
    return { key, title, channels: list.map((s) => s.channel), x, ys, labels };
  });
}
