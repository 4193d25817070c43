import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { ApiError, request } from './api';
import type { Ctx } from './main';
import { autoInterval, ChartData, groupCharts, Grouping, INTERVALS, readSeries } from './series';
import { formatTime, fromLocalInput, toLocalInput } from './time';
import { download, State } from './ui';
import { loadView } from './view';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

/// What the charts show, for tests and for people reading the page's state: the data each
/// uPlot instance draws (seconds on x, as uPlot takes it).
declare global {
  interface Window {
    fieldline: { charts: Record<string, { title: string; labels: string[]; x: number[]; ys: (number | null)[][]; from?: number; to?: number; interval?: number }>; plots: Record<string, uPlot> };
  }
}
window.fieldline = window.fieldline || { charts: {}, plots: {} };

export function Plot(p: { id: string; chart: ChartData; tz: string; onZoom?: (from: number, to: number) => void; plots?: Map<string, uPlot> }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const zoom = useRef(p.onZoom);
  zoom.current = p.onZoom;
  const data = (): uPlot.AlignedData => [p.chart.x.map((t) => t / 1000), ...p.chart.ys] as uPlot.AlignedData;
  useEffect(() => {
    const width = Math.max(300, el.current!.clientWidth);
    const opts: uPlot.Options = {
      width,
      height: 280,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), p.tz),
      scales: { x: { time: true } },
      series: [{ label: 'Time', value: (_u, v) => (v == null ? '' : formatTime(v * 1000, p.tz)) }, ...p.chart.labels.map((l, i) => ({ label: l, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true }))],
      cursor: { drag: { x: true, y: false } },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 3 || !zoom.current) return;
            const from = u.posToVal(u.select.left, 'x') * 1000;
            const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            zoom.current(Math.floor(from), Math.ceil(to));
          },
        ],
      },
    };
    if (p.onZoom) opts.cursor!.drag!.setScale = false;
    const u = new uPlot(opts, data(), el.current!);
    plot.current = u;
    // The instance, for scripts/bench console (it times a redraw of what is shown).
    window.fieldline.plots[p.id] = u;
    p.plots?.set(p.id, u);
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(300, el.current?.clientWidth || width), height: 280 }));
    resize.observe(el.current!);
    return () => {
      resize.disconnect();
      p.plots?.delete(p.id);
      u.destroy();
      delete window.fieldline.charts[p.id];
      delete window.fieldline.plots[p.id];
    };
  }, [p.chart.labels.join('|'), p.tz]);
  useEffect(() => {
    plot.current?.setData(data());
    const { title, labels, x, ys, from, to, interval } = p.chart;
    window.fieldline.charts[p.id] = { title, labels, x, ys, from, to, interval };
  }, [p.chart]);
  return (
    <figure class="chart" data-chart={p.id}>
      <figcaption>{p.chart.title} <span class="muted">({p.chart.x.length} points)</span></figcaption>
      <div ref={el} class="plot" />
    </figure>
  );
}

function NoChannels() {
  return (
    <p class="empty">
      No channels are chosen for this view: tick them in <a href="/structure">Structure</a> and press Update.
    </p>
  );
}

/// The chart images side by side with their titles, as one PNG.
function exportPng(plots: Map<string, uPlot>, charts: ChartData[]) {
  const canvases = charts.map((c) => plots.get(c.key)?.ctx.canvas).filter((c): c is HTMLCanvasElement => !!c);
  if (!canvases.length) return;
  const w = Math.max(...canvases.map((c) => c.width));
  const title = 24;
  const out = document.createElement('canvas');
  out.width = w;
  out.height = canvases.reduce((h, c) => h + c.height + title, 0);
  const g = out.getContext('2d')!;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, out.width, out.height);
  let y = 0;
  canvases.forEach((c, i) => {
    g.fillStyle = '#000';
    g.font = '16px sans-serif';
    g.fillText(charts[i].title, 8, y + 18);
    g.drawImage(c, 0, y + title);
    y += c.height + title;
  });
  out.toBlob((b) => b && download('fieldline-chart.png', b), 'image/png');
}

export function StaticChart({ ctx }: { ctx: Ctx }) {
  const tz = ctx.org.timeZone;
  const view = loadView(ctx.org.id);
  const [period, setPeriod] = useState(() => {
    const to = Math.ceil(Date.now() / 60_000) * 60_000;
    return { from: to - 24 * 3600_000, to };
  });
  const [intervalChoice, setIntervalChoice] = useState<number | 'auto'>('auto');
  const [grouping, setGrouping] = useState<Grouping>('own');
  const [combine, setCombine] = useState<'' | 'sum' | 'mean'>('');
  const [charts, setCharts] = useState<ChartData[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  const plots = useRef(new Map<string, uPlot>()).current;
  const interval = intervalChoice === 'auto' ? autoInterval(period.to - period.from) : intervalChoice;
  useEffect(() => {
    let live = true;
    setLoading(true);
    readSeries(view.channels, period.from, period.to, interval, grouping, tz).then(
      (s) => { if (live) { setCharts(groupCharts(s, view.groupBy, combine).map((c) => ({ ...c, from: period.from, to: period.to, interval }))); setError(null); setLoading(false); } },
      (e) => { if (live) { setError(e); setLoading(false); } },
    );
    return () => { live = false; };
  }, [period.from, period.to, interval, grouping, combine]);
  if (!view.channels.length) return <NoChannels />;
  const span = period.to - period.from;
  // Whole milliseconds: InfluxQL takes integer times.
  const move = (from: number, to: number) => setPeriod({ from: Math.round(from), to: Math.round(to) });
  const last = (ms: number) => {
    const to = Math.ceil(Date.now() / 60_000) * 60_000;
    setPeriod({ from: to - ms, to });
  };
  async function exportFile(format: 'csv' | 'html') {
    const q = new URLSearchParams({ channels: view.channels.map((c) => c.id).join(','), from: String(period.from), to: String(period.to), format });
    if (interval) q.set('interval', String(interval));
    try {
      const r = await request('GET', `/api/v1/export?${q}`);
      download(`fieldline-export.${format}`, await r.blob());
      setError(null);
    } catch (e) {
      setError(e as ApiError);
    }
  }
  const canDownload = ctx.me.permissions.download || ctx.me.permissions.administrator;
  return (
    <section aria-label="Static chart">
      <form class="toolbar" onSubmit={(e) => e.preventDefault()}>
        <label>From <input type="datetime-local" value={toLocalInput(period.from, tz)} onChange={(e) => { const v = (e.target as HTMLInputElement).value; if (v) setPeriod({ ...period, from: fromLocalInput(v, tz) }); }} /></label>
        <label>To <input type="datetime-local" value={toLocalInput(period.to, tz)} onChange={(e) => { const v = (e.target as HTMLInputElement).value; if (v) setPeriod({ ...period, to: fromLocalInput(v, tz) }); }} /></label>
        <span class="presets">
          <button type="button" onClick={() => last(3600_000)}>Last hour</button>
          <button type="button" onClick={() => last(86400_000)}>24 hours</button>
          <button type="button" onClick={() => last(7 * 86400_000)}>7 days</button>
          <button type="button" onClick={() => last(30 * 86400_000)}>30 days</button>
        </span>
        <span class="pan">
          <button type="button" aria-label="Earlier" onClick={() => move(period.from - span / 2, period.to - span / 2)}>◀</button>
          <button type="button" aria-label="Zoom in" onClick={() => move(period.from + span / 4, period.to - span / 4)}>+</button>
          <button type="button" aria-label="Zoom out" onClick={() => move(period.from - span / 2, period.to + span / 2)}>−</button>
          <button type="button" aria-label="Later" onClick={() => move(period.from + span / 2, period.to + span / 2)}>▶</button>
        </span>
        <label>Interval{' '}
          <select aria-label="Interval" value={String(intervalChoice)} onChange={(e) => { const v = (e.target as HTMLSelectElement).value; setIntervalChoice(v === 'auto' ? 'auto' : Number(v)); }}>
            <option value="auto">automatic ({INTERVALS.find(([s]) => s === autoInterval(span))?.[1]})</option>
            {INTERVALS.map(([s, l]) => <option value={String(s)}>{l}</option>)}
          </select>
        </label>
        <label>Grouping{' '}
          <select aria-label="Grouping" value={grouping} onChange={(e) => setGrouping((e.target as HTMLSelectElement).value as Grouping)} disabled={!interval}>
            <option value="own">each channel's (sum or average)</option>
            <option value="sum">sum</option>
            <option value="mean">average</option>
          </select>
        </label>
        <label>Add{' '}
          <select aria-label="Combine channels" value={combine} onChange={(e) => setCombine((e.target as HTMLSelectElement).value as any)}>
            <option value="">nothing</option>
            <option value="sum">the sum of the channels</option>
            <option value="mean">the average of the channels</option>
          </select>
        </label>
      </form>
      <p class="muted" aria-live="polite">
        {interval ? `Points grouped per ${INTERVALS.find(([s]) => s === interval)?.[1]}` : 'Raw points'}
        {interval >= 3600 && interval % 3600 === 0 ? ', read from the hourly aggregates' : ''}. Drag across a chart (or press +) to zoom in.
      </p>
      <div class="toolbar">
        <button type="button" disabled={!canDownload} onClick={() => void exportFile('csv')}>Export CSV</button>
        <button type="button" disabled={!canDownload} onClick={() => void exportFile('html')}>Export HTML data file</button>
        <button type="button" onClick={() => charts && exportPng(plots, charts)}>Export PNG image</button>
        {!canDownload && <span class="muted">Exporting data needs the Download permission.</span>}
      </div>
      {error && <p class="error" role="alert">{error.message}</p>}
      <div class="charts" aria-busy={loading}>
        {charts === null ? <p class="loading">Loading…</p> : charts.map((c) => <Plot id={c.key} chart={c} tz={tz} plots={plots} onZoom={(from, to) => setPeriod({ from, to })} key={c.key} />)}
        {charts?.every((c) => !c.x.length) && <p class="empty">No data in this period.</p>}
      </div>
    </section>
  );
}

const WINDOWS: [number, string][] = [[5 * 60_000, '5 minutes'], [15 * 60_000, '15 minutes'], [3600_000, '1 hour'], [6 * 3600_000, '6 hours'], [86400_000, '24 hours']];
export const REFRESH_LIMITS = { min: 2, max: 300 };

export function RealtimeChart({ ctx }: { ctx: Ctx }) {
  const tz = ctx.org.timeZone;
  const view = loadView(ctx.org.id);
  const [windowMs, setWindowMs] = useState(15 * 60_000);
  const [refreshSecs, setRefreshSecs] = useState(5);
  const [charts, setCharts] = useState<ChartData[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [updated, setUpdated] = useState<number | null>(null);
  useEffect(() => {
    let live = true;
    let timer: number | undefined;
    const tick = async () => {
      const to = Date.now();
      // Grouped over an interval no longer than the refresh interval (Sensorbis), raw below a minute.
      const interval = refreshSecs >= 60 ? refreshSecs : 0;
      try {
        const s = await readSeries(view.channels, to - windowMs, to + 1, interval, 'own', tz);
        if (!live) return;
        setCharts(groupCharts(s, view.groupBy, ''));
        setError(null);
        setUpdated(to);
      } catch (e) {
        if (live) setError(e as ApiError);
      }
      if (live) timer = window.setTimeout(tick, refreshSecs * 1000);
    };
    void tick();
    return () => { live = false; clearTimeout(timer); };
  }, [windowMs, refreshSecs]);
  if (!view.channels.length) return <NoChannels />;
  return (
    <section aria-label="Real-time chart">
      <form class="toolbar" onSubmit={(e) => e.preventDefault()}>
        <label>Window{' '}
          <select value={String(windowMs)} onChange={(e) => setWindowMs(Number((e.target as HTMLSelectElement).value))}>
            {WINDOWS.map(([ms, l]) => <option value={String(ms)}>{l}</option>)}
          </select>
        </label>
        <label>Refresh every (seconds, {REFRESH_LIMITS.min}–{REFRESH_LIMITS.max}){' '}
          <input type="number" min={REFRESH_LIMITS.min} max={REFRESH_LIMITS.max} value={refreshSecs}
            onChange={(e) => { const v = Number((e.target as HTMLInputElement).value); setRefreshSecs(Math.min(REFRESH_LIMITS.max, Math.max(REFRESH_LIMITS.min, Number.isFinite(v) ? Math.round(v) : 5))); }} />
        </label>
        <span class="muted" aria-live="polite">{updated ? `Updated ${formatTime(updated, tz)}` : 'Loading…'}</span>
      </form>
      {error && <p class="error" role="alert">{error.message}</p>}
      <div class="charts">
        {charts?.map((c) => <Plot id={`rt-${c.key}`} chart={c} tz={tz} key={c.key} />)}
      </div>
    </section>
  );
}
