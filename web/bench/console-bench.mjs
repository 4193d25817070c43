// scripts/bench console: the console in headless Chromium (Debian's) against a scratch host.
// 1. Time to interactive of the first screen on loopback: from navigation start to the login
//    form's button present and enabled, a cold cache each time (a new browser context), and to
//    the Structure screen with its devices listed for a signed-in user.
// 2. A chart of 100,000 points: one channel with 100,000 raw points (written through InfluxDB
//    /write), the static chart showing them raw: the time from choosing the interval to the
//    chart drawn (query, JSON, alignment, draw), and the draw alone (uPlot setData of the
//    100,000 points until its canvas drawing has run, and until the next animation frame).
// Prints a JSON object; medians over RUNS runs (default 15).
import { chromium } from '@playwright/test';

const BASE = process.env.FIELDLINE_BASE;
const RUNS = Number(process.env.RUNS || 15);
const POINTS = 100_000;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const round = (x) => Math.round(x * 10) / 10;

async function api(method, path, token, body) {
  const r = await fetch(BASE + path, { method, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: body && JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.status === 204 ? null : r.json();
}

const email = 'bench@example.com', password = 'correct horse battery';
const session = await api('POST', '/api/v1/signup', null, { organization: 'Bench', email, password });
const t = session.access_token;
const device = await api('POST', '/api/v1/devices', t, { name: 'Bench device' });
const sensor = await api('POST', `/api/v1/devices/${device.id}/sensors`, t, { name: 'Probe' });
const channel = await api('POST', `/api/v1/sensors/${sensor.id}/channels`, t, { name: 'Signal', communicationId: 'signal', unit: 'V' });
const end = Math.floor(Date.now() / 1000) * 1000 - 60_000;
const lines = [];
for (let i = 0; i < POINTS; i++) {
  const ts = end - (POINTS - 1 - i) * 1000;
  lines.push(`signal,uuid=${device.uuid},sensor=Probe value=${(Math.sin(i / 500) * 10 + (i % 7) / 10).toFixed(3)} ${ts}`);
}
const w = await fetch(`${BASE}/write?db=fieldline&precision=ms&u=${encodeURIComponent(email)}&p=${encodeURIComponent(password)}`, { method: 'POST', body: lines.join('\n') });
if (w.status !== 204) throw new Error(`/write: ${w.status} ${await w.text()}`);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
const out = { runs: RUNS, points: POINTS };

// 1a. The login screen, cold.
const login = [];
for (let i = 0; i < RUNS; i++) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(BASE + '/');
  await page.waitForSelector('form[aria-label="Log in"] button[type=submit]:not([disabled])');
  login.push(await page.evaluate(() => performance.now()));
  await ctx.close();
}
out.loginInteractiveMs = round(median(login));

// 1b. The Structure screen of a signed-in user, devices listed (a fresh session each run).
const structure = [];
for (let i = 0; i < RUNS; i++) {
  const s = await api('POST', '/api/v1/login', null, { email, password });
  const ctx = await browser.newContext();
  await ctx.addInitScript((v) => localStorage.setItem('fieldline.session', v), JSON.stringify({ ...s, expires_at: Date.now() + s.expires_in * 1000 }));
  const page = await ctx.newPage();
  await page.goto(BASE + '/structure');
  await page.getByRole('button', { name: 'Bench device', exact: true }).waitFor();
  structure.push(await page.evaluate(() => performance.now()));
  await ctx.close();
}
out.structureInteractiveMs = round(median(structure));

// 2. The chart of 100,000 points.
const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
const s = await api('POST', '/api/v1/login', null, { email, password });
const view = { channels: [{ id: channel.id, name: 'Signal', communicationId: 'signal', unit: 'V', grouping: 'M', device: device.id, deviceName: device.name, deviceUuid: device.uuid, sensor: sensor.id, sensorName: 'Probe' }], groupBy: 'device', tileUrl: '' };
await ctx.addInitScript(([sess, org, v]) => {
  localStorage.setItem('fieldline.session', sess);
  localStorage.setItem(`fieldline.view.${org}`, v);
}, [JSON.stringify({ ...s, expires_at: Date.now() + s.expires_in * 1000 }), s.organization, JSON.stringify(view)]);
const page = await ctx.newPage();
await page.goto(BASE + '/chart');
await page.getByRole('button', { name: '7 days' }).click();
const full = [];
for (let i = 0; i < 5; i++) {
  await page.getByLabel('Interval').selectOption({ label: '1 hour' });
  await page.waitForFunction(() => Object.values(window.fieldline.charts)[0]?.interval === 3600);
  const t0 = Date.now();
  await page.getByLabel('Interval').selectOption({ label: 'raw points' });
  await page.waitForFunction((n) => { const c = Object.values(window.fieldline.charts)[0]; return c && c.interval === 0 && c.x.length === n; }, POINTS);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
  full.push(Date.now() - t0);
}
out.chartQueryToDrawnMs = round(median(full));
const redraw = await page.evaluate(async (runs) => {
  const u = Object.values(window.fieldline.plots)[0];
  const times = [];
  const frames = [];
  for (let i = 0; i < runs; i++) {
    const data = u.data.map((a) => a.slice());
    await new Promise((r) => requestAnimationFrame(() => r()));
    const t0 = performance.now();
    u.setData(data);
    // uPlot draws in the microtask setData queued: one more microtask runs after it.
    await new Promise((r) => queueMicrotask(r));
    times.push(performance.now() - t0);
    await new Promise((r) => requestAnimationFrame(() => r()));
    frames.push(performance.now() - t0);
  }
  return { times, frames, n: u.data[0].length };
}, RUNS);
if (redraw.n !== POINTS) throw new Error(`the chart holds ${redraw.n} points, not ${POINTS}`);
out.chartDrawMs = round(median(redraw.times));
out.chartDrawToNextFrameMs = round(median(redraw.frames));
out.chromium = browser.version();
await browser.close();
console.log(JSON.stringify(out));
