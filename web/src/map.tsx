import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, get, influx } from './api';
import type { Ctx } from './main';
import { navigate } from './main';
import { label } from './series';
import { formatTime } from './time';
import { State, useLoad } from './ui';
import { ChosenChannel, loadView, saveView } from './view';
import { Plans } from './plans';

export type Device = { id: string; uuid: string; name: string; location: { lat: number; lon: number } | null };
type Placed = { device: Device; lat: number; lon: number; moving: boolean };

const TILE = 256;
const WIDTH = 800;
const HEIGHT = 480;

/// Web Mercator, in pixels of the whole world at zoom `z`.
function project(lat: number, lon: number, z: number): [number, number] {
  const n = TILE * 2 ** z;
  const s = Math.sin((Math.max(-85, Math.min(85, lat)) * Math.PI) / 180);
  return [((lon + 180) / 360) * n, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * n];
}

const isLat = (p: string) => /^lat(itude)?$/i.test(p || '');
const isLon = (p: string) => /^(lon|lng|longitude)$/i.test(p || '');
const ident = (s: string) => `"${s.replace(/"/g, '\\"')}"`;
const str = (s: string) => `'${s.replace(/'/g, "\\'")}'`;

/// Where each device is: its last latitude and longitude channels (a positioning sensor, by
/// the channels' `purpose`), else its fixed location.
async function placeDevices(devices: Device[]): Promise<Placed[]> {
  const out: Placed[] = [];
  await Promise.all(
    devices.map(async (d) => {
      const sensors: any[] = await get(`/api/v1/devices/${d.id}/sensors`);
      for (const s of sensors) {
        const chans: any[] = await get(`/api/v1/sensors/${s.id}/channels`);
        const la = chans.find((c) => isLat(c.purpose));
        const lo = chans.find((c) => isLon(c.purpose));
        if (!la || !lo) continue;
        const q = [la, lo].map((c) => `SELECT last("value") FROM ${ident(c.communicationId)} WHERE "uuid" = ${str(d.uuid)} AND "sensor" = ${str(s.name)}`).join('; ');
        const r = await influx(q);
        const lat = r[0]?.series?.[0]?.values?.[0]?.[1];
        const lon = r[1]?.series?.[0]?.values?.[0]?.[1];
        if (typeof lat === 'number' && typeof lon === 'number') {
          out.push({ device: d, lat, lon, moving: true });
          return;
        }
      }
      if (d.location) out.push({ device: d, lat: d.location.lat, lon: d.location.lon, moving: false });
    }),
  );
  return out.sort((a, b) => a.device.name.localeCompare(b.device.name));
}

/// A device's info box: where it is, the last value of each of the view's channels of the
/// device, and a link to the chart (the map's and the plans').
export function InfoBox(p: { device: Device; where: string; channels: ChosenChannel[]; ctx: Ctx; onClose: () => void }) {
  const channels = p.channels.filter((c) => c.device === p.device.id);
  const [values, setValues] = useState<(string | null)[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    if (!channels.length) return;
    influx(channels.map((c) => `SELECT last("value") FROM ${ident(c.communicationId)} WHERE "uuid" = ${str(c.deviceUuid)} AND "sensor" = ${str(c.sensorName)}`).join('; ')).then(
      (r) => setValues(r.map((x) => { const v = x.series?.[0]?.values?.[0]; return v ? `${v[1]} at ${formatTime(v[0], p.ctx.org.timeZone)}` : null; })),
      setError,
    );
  }, [p.device.id]);
  return (
    <section class="infobox" role="region" aria-label={`Device ${p.device.name}`}>
      <h3>{p.device.name}</h3>
      <p class="muted">{p.where}</p>
      {error && <p class="error">{error.message}</p>}
      {channels.length ? (
        <ul>{channels.map((c, i) => <li>{label(c)}: {values ? values[i] ?? 'no data' : '…'}</li>)}</ul>
      ) : <p class="empty">None of this device's channels is in the view.</p>}
      <button type="button" onClick={() => navigate('/chart')}>Open the chart</button>{' '}
      <button type="button" onClick={p.onClose}>Close</button>
    </section>
  );
}

function BaseMap(p: { placed: Placed[]; tileUrl: string; onPick: (x: Placed) => void }) {
  // Fit the devices: the largest zoom at which their box fits, centred.
  const { z, x0, y0 } = useMemo(() => {
    const lats = p.placed.map((x) => x.lat);
    const lons = p.placed.map((x) => x.lon);
    let z = 16;
    for (; z > 0; z--) {
      const [ax, ay] = project(Math.max(...lats), Math.min(...lons), z);
      const [bx, by] = project(Math.min(...lats), Math.max(...lons), z);
      if (bx - ax < WIDTH * 0.8 && by - ay < HEIGHT * 0.8) break;
    }
    const [ax, ay] = project(Math.max(...lats), Math.min(...lons), z);
    const [bx, by] = project(Math.min(...lats), Math.max(...lons), z);
    return { z, x0: (ax + bx) / 2 - WIDTH / 2, y0: (ay + by) / 2 - HEIGHT / 2 };
  }, [p.placed]);
  const tiles: { src: string; left: number; top: number }[] = [];
  if (p.tileUrl) {
    const n = 2 ** z;
    for (let tx = Math.floor(x0 / TILE); tx * TILE < x0 + WIDTH; tx++)
      for (let ty = Math.max(0, Math.floor(y0 / TILE)); ty * TILE < y0 + HEIGHT && ty < n; ty++)
        tiles.push({ src: p.tileUrl.replace('{z}', String(z)).replace('{x}', String(((tx % n) + n) % n)).replace('{y}', String(ty)), left: tx * TILE - x0, top: ty * TILE - y0 });
  }
  // The offline base map: a graticule whose step suits the zoom.
  const step = [30, 30, 20, 10, 5, 5, 2, 1, 0.5, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002][Math.min(16, z)];
  const lines: preact.JSX.Element[] = [];
  for (let lon = -180; lon <= 180; lon += step) {
    const [x] = project(0, lon, z);
    if (x >= x0 && x <= x0 + WIDTH) lines.push(<g><line x1={x - x0} y1={0} x2={x - x0} y2={HEIGHT} /><text x={x - x0 + 2} y={HEIGHT - 4}>{+lon.toFixed(3)}°</text></g>);
  }
  for (let lat = -80; lat <= 80; lat += step) {
    const [, y] = project(lat, 0, z);
    if (y >= y0 && y <= y0 + HEIGHT) lines.push(<g><line x1={0} y1={y - y0} x2={WIDTH} y2={y - y0} /><text x={2} y={y - y0 - 2}>{+lat.toFixed(3)}°</text></g>);
  }
  return (
    <div class="map">
      {tiles.map((t) => <img class="tile" src={t.src} alt="" width={TILE} height={TILE} data-left={t.left} data-top={t.top} ref={(el) => { if (el) { el.style.left = `${t.left}px`; el.style.top = `${t.top}px`; } }} />)}
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="group" aria-label={`Map of ${p.placed.length} devices`}>
        {!p.tileUrl && <g class="graticule">{lines}</g>}
        {p.placed.map((x) => {
          const [px, py] = project(x.lat, x.lon, z);
          return (
            <g class="marker" {...{ tabindex: 0 }} role="button" aria-label={`Device ${x.device.name}`} onClick={() => p.onPick(x)} onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && p.onPick(x)}>
              <circle cx={px - x0} cy={py - y0} r={7} />
              <text x={px - x0 + 10} y={py - y0 + 4}>{x.device.name}</text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

export function MapView({ ctx }: { ctx: Ctx }) {
  const devices = useLoad<Device[]>(() => get('/api/v1/devices'), []);
  const placed = useLoad<Placed[]>(() => (devices.data ? placeDevices(devices.data) : new Promise(() => undefined)), [devices.data]);
  const [picked, setPicked] = useState<Placed | null>(null);
  const [view, setView] = useState(loadView(ctx.org.id));
  const [tileUrl, setTileUrl] = useState(view.tileUrl);
  function saveTiles(e: Event) {
    e.preventDefault();
    const v = { ...loadView(ctx.org.id), tileUrl: tileUrl.trim() };
    saveView(ctx.org.id, v);
    setView(v);
  }
  return (
    <section aria-label="Map">
      <h2>Map</h2>
      <State loading={devices.loading || placed.loading} error={devices.error || placed.error} empty={!placed.data?.length} emptyText="No device has a location: set a device's latitude and longitude in Structure, or give it channels whose purpose is lat and lon.">
        {placed.data && placed.data.length > 0 && <BaseMap placed={placed.data} tileUrl={view.tileUrl} onPick={setPicked} />}
      </State>
      {picked && <InfoBox device={picked.device} where={`${picked.lat.toFixed(5)}, ${picked.lon.toFixed(5)} · ${picked.moving ? 'positioning sensor' : 'fixed location'}`} channels={view.channels} ctx={ctx} onClose={() => setPicked(null)} key={picked.device.id} />}
      <form class="inline" onSubmit={saveTiles} aria-label="Tile server">
        <div class="field">
          <label for="tile-url">Tile server URL (empty: the offline base map), e.g. https://tile.example.org/{'{z}/{x}/{y}'}.png</label>
          <input id="tile-url" value={tileUrl} onInput={(e) => setTileUrl((e.target as HTMLInputElement).value)} />
        </div>
        <button type="submit">Use</button>
      </form>
      <Plans ctx={ctx} devices={devices.data} />
    </section>
  );
}
