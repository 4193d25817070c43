// The console end to end in Chromium, over the host's real APIs: an administrator signs up,
// builds devices, sensors and channels in Structure, devices push through AlphaX Conduit, the
// static chart shows exactly those points (raw and grouped), its CSV export is the export
// API's, a view-only member invited by link sees the data but cannot change or download it, a
// second organization sees nothing of the first, and a member of both switches between them;
// incidents raised through the notifier are listed and confirmed twice.
import { expect, Page, test, BrowserContext } from '@playwright/test';
import fs from 'node:fs';
import path from 'node:path';

const SHOTS = process.env.SCREENSHOTS || path.resolve('test-results/screenshots');
fs.mkdirSync(SHOTS, { recursive: true });
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

const PASSWORD = 'correct horse battery';
const NETWORK_ID = '70B3D32111BD648F7';
const MINUTE = 60_000;

test.describe.configure({ mode: 'serial' });

type Ids = { incident: number; device: string; channels: Record<string, string>; conduit: string; times: number[]; temps: number[]; watts: number[] };
const ids: Partial<Ids> = {};
let adminContext: BrowserContext;
let admin: Page;

async function session(page: Page): Promise<{ access_token: string; organization: string }> {
  return page.evaluate(() => JSON.parse(localStorage.getItem('fieldline.session') || 'null'));
}

async function apiGet(page: Page, url: string) {
  const s = await session(page);
  const r = await page.request.get(url, { headers: { authorization: `Bearer ${s.access_token}` } });
  expect(r.status(), await r.text()).toBe(200);
  return r;
}

async function signUp(page: Page, org: string, email: string) {
  await page.goto('/');
  await page.getByRole('button', { name: 'Create an organization instead' }).click();
  await page.getByLabel('Organization name').fill(org);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.getByRole('region', { name: 'Devices' })).toBeVisible();
}

/// Sends an invitation from the People screen; the link the screen shows for it.
async function invite(page: Page, email: string, download = false): Promise<string> {
  const form = page.getByRole('form', { name: 'Invite someone' });
  await form.getByLabel('E-mail of the person to invite').fill(email);
  if (download) await form.getByLabel('Download for the invited person').check();
  const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/invitations') && r.request().method() === 'POST');
  await form.getByRole('button', { name: 'Send the invitation' }).click();
  const inv = await (await answered).json();
  const shown = page.getByTestId('invitation-link');
  await expect(shown).toHaveText(new RegExp(`/invitation/${encodeURIComponent(inv.token)}$`));
  return (await shown.textContent())!;
}

async function chartData(page: Page) {
  return page.evaluate(() => Object.values(window.fieldline.charts));
}

/// Waits until the charts show the data of `interval` (seconds; 0: raw) over a period of
/// `span` milliseconds, then returns them.
async function settled(page: Page, interval: number, span?: number) {
  await expect
    .poll(async () => {
      const c = (await chartData(page))[0];
      return c && c.interval === interval && (span === undefined || c.to! - c.from! === span);
    })
    .toBe(true);
  return chartData(page);
}

test('sign up and build the structure, with server errors beside the field', async ({ browser }) => {
  adminContext = await browser.newContext();
  admin = await adminContext.newPage();
  await admin.goto('/');
  await expect(admin.getByRole('form', { name: 'Log in' })).toBeVisible();
  await shot(admin, '01-login');
  await signUp(admin, 'Acme Dairy', 'alice@example.com');
  await expect(admin.getByText('Times in UTC')).toBeVisible();
  await expect(admin.getByText('No devices yet.')).toBeVisible();

  // A name over 30 characters: the server's message appears beside the name field.
  await admin.getByRole('button', { name: 'New device' }).click();
  const form = admin.getByRole('form', { name: 'New device' });
  await form.getByLabel('Name (1–30 characters)').fill('x'.repeat(31));
  await form.getByRole('button', { name: 'Save' }).click();
  const nameError = form.locator('#f-name-err');
  await expect(nameError).toBeVisible();
  await expect(nameError).toContainText('30');
  await shot(admin, '02-structure-field-error');
  await form.getByLabel('Name (1–30 characters)').fill('Tank 1');
  await form.getByLabel('Network id').fill(NETWORK_ID);
  await form.getByLabel('Latitude').fill('45.4642');
  await form.getByLabel('Longitude').fill('9.19');
  await form.getByRole('button', { name: 'Save' }).click();
  await admin.getByRole('button', { name: 'Tank 1', exact: true }).click();

  await admin.getByRole('button', { name: 'New sensor' }).click();
  await admin.getByRole('form', { name: 'New sensor' }).getByLabel('Name (1–30 characters)').fill('Probe');
  await admin.getByRole('form', { name: 'New sensor' }).getByRole('button', { name: 'Save' }).click();
  await admin.getByRole('button', { name: 'Probe', exact: true }).click();

  for (const [name, cid, unit, grouping] of [['Temperature', '1', '°C', 'M'], ['Power', '2', 'W', 'S']]) {
    await admin.getByRole('button', { name: 'New channel' }).click();
    const f = admin.getByRole('form', { name: 'New channel' });
    await f.getByLabel('Name (1–30 characters)').fill(name);
    await f.getByLabel('Communication id (letters, digits, - . _ ~)').fill(cid);
    await f.getByLabel('Unit').fill(unit);
    await f.getByLabel('Grouping: S (sum) or M (mean)').fill(grouping);
    await f.getByRole('button', { name: 'Save' }).click();
    await expect(admin.getByRole('region', { name: 'Channels' }).getByText(name)).toBeVisible();
  }
  // A duplicate communication id is refused by the server, and said beside that field.
  await admin.getByRole('button', { name: 'New channel' }).click();
  const dup = admin.getByRole('form', { name: 'New channel' });
  await dup.getByLabel('Name (1–30 characters)').fill('Again');
  await dup.getByLabel('Communication id (letters, digits, - . _ ~)').fill('1');
  await dup.getByRole('button', { name: 'Save' }).click();
  await expect(dup.getByRole('alert')).toBeVisible();
  await dup.getByRole('button', { name: 'Cancel' }).click();

  await admin.getByLabel('Show Temperature on the view').check();
  await admin.getByLabel('Show Power on the view').check();
  await admin.getByRole('button', { name: 'Update' }).click();
  await expect(admin.getByText('The view was updated.')).toBeVisible();
  await shot(admin, '03-structure');

  const devices = await (await apiGet(admin, '/api/v1/devices')).json();
  ids.device = devices[0].id;
  const sensors = await (await apiGet(admin, `/api/v1/devices/${ids.device}/sensors`)).json();
  const channels = await (await apiGet(admin, `/api/v1/sensors/${sensors[0].id}/channels`)).json();
  ids.channels = Object.fromEntries(channels.map((c: any) => [c.name, c.id]));
});

test('a token shown once, points pushed through Conduit, usage counted', async () => {
  await admin.getByRole('link', { name: 'People' }).click();
  const tokens = admin.getByRole('form', { name: 'Create a token' });
  await tokens.getByLabel('Name of the new Conduit token').fill('dashboard');
  await tokens.getByRole('button', { name: 'Create' }).click();
  const secret = (await admin.getByTestId('token-secret').textContent())!;
  expect(secret).toMatch(/^flc_/);
  ids.conduit = secret;
  await admin.getByRole('button', { name: 'I copied it' }).click();
  await expect(admin.getByTestId('token-secret')).toHaveCount(0);

  // One reading a minute for the last 40 minutes, two channels each.
  const now = Date.now();
  const pushedFrom = now;
  const base = Math.floor(now / MINUTE) * MINUTE - 40 * MINUTE;
  ids.times = [];
  ids.temps = [];
  ids.watts = [];
  for (let i = 0; i < 40; i++) {
    // Whole seconds: AlphaX Conduit keeps timestamps to the second.
    const t = base + i * MINUTE + 1000;
    const temp = Math.round((4 + Math.sin(i / 5) * 3) * 1000) / 1000;
    const watt = 100 + i;
    const r = await admin.request.post('/post/v2', { data: { token: secret, networkId: NETWORK_ID, timestamp: t, data: [{ channelId: 1, value: temp }, { channelId: 2, value: watt }] } });
    expect(r.status(), await r.text()).toBe(200);
    ids.times.push(t);
    ids.temps.push(temp);
    ids.watts.push(watt);
  }
  await admin.reload();
  await expect(admin.getByTestId('points-this-hour')).not.toHaveText('…');
  const shown = Number(await admin.getByTestId('points-this-hour').textContent());
  // Counted by the UTC hour they arrived in: all 80, unless the hour turned meanwhile.
  if (Math.floor(Date.now() / 3600_000) === Math.floor(pushedFrom / 3600_000)) expect(shown).toBe(80);
  else expect(shown).toBeLessThan(80);
  await admin.getByRole('form', { name: 'Calculator' }).getByRole('button', { name: 'Calculate' }).click();
  await expect(admin.getByText(/2400 points per hour/)).toBeVisible();
  await shot(admin, '04-people');
});

test('the static chart shows the points, raw and grouped, and exports the API CSV', async () => {
  await admin.getByRole('link', { name: 'Static chart' }).click();
  await admin.getByRole('button', { name: 'Last hour' }).click();
  await expect(admin.getByText(/^Raw points/)).toBeVisible();
  let charts = await settled(admin, 0, 3600_000);
  expect(charts).toHaveLength(1); // grouped per device: one chart
  expect(charts[0].title).toBe('Tank 1');
  expect(charts[0].labels).toEqual(['Tank 1 / Probe / Temperature (°C)', 'Tank 1 / Probe / Power (W)']);
  expect(charts[0].x).toEqual(ids.times);
  expect(charts[0].ys).toEqual([ids.temps, ids.watts]);
  await shot(admin, '05-static-chart-raw');

  // 15-minute groups: each channel's own grouping (Temperature mean, Power sum).
  await admin.getByLabel('Interval').selectOption({ label: '15 minutes' });
  await expect(admin.getByText('Points grouped per 15 minutes')).toBeVisible();
  const buckets = new Map<number, { temps: number[]; watts: number[] }>();
  ids.times!.forEach((t, i) => {
    const b = t - (t % (15 * MINUTE));
    if (!buckets.has(b)) buckets.set(b, { temps: [], watts: [] });
    buckets.get(b)!.temps.push(ids.temps![i]);
    buckets.get(b)!.watts.push(ids.watts![i]);
  });
  charts = await settled(admin, 900, 3600_000);
  expect(charts[0].x.length).toBeLessThanOrEqual(5);
  const [times, temps, watts] = [charts[0].x, charts[0].ys[0], charts[0].ys[1]];
  for (const [i, t] of times.entries()) {
    const b = buckets.get(t)!;
    expect(b, `bucket ${t}`).toBeTruthy();
    expect(temps[i]).toBeCloseTo(b.temps.reduce((a, v) => a + v, 0) / b.temps.length, 9);
    expect(watts[i]).toBe(b.watts.reduce((a, v) => a + v, 0));
  }
  await admin.getByLabel('Grouping').selectOption({ label: 'average' });
  await expect.poll(async () => JSON.stringify((await chartData(admin))[0]?.ys[1])).not.toBe(JSON.stringify(watts));
  const averaged = (await chartData(admin))[0];
  for (const [i, t] of averaged.x.entries()) {
    const b = buckets.get(t)!;
    expect(averaged.ys[1][i]).toBeCloseTo(b.watts.reduce((a, v) => a + v, 0) / b.watts.length, 9);
  }
  await shot(admin, '06-static-chart-grouped');
  await admin.getByLabel('Grouping').selectOption({ label: "each channel's (sum or average)" });

  // CSV: the file the console saves is the export API's answer for the chart's channels,
  // period and interval.
  const asked = admin.waitForRequest(/\/api\/v1\/export\?/);
  const downloading = admin.waitForEvent('download');
  await admin.getByRole('button', { name: 'Export CSV' }).click();
  const [request, download] = await Promise.all([asked, downloading]);
  const saved = fs.readFileSync((await download.path())!, 'utf8');
  const q = new URL(request.url()).searchParams;
  expect(q.get('channels')!.split(',').sort()).toEqual([ids.channels!.Temperature, ids.channels!.Power].sort());
  expect(q.get('interval')).toBe('900');
  expect(Number(q.get('to')) - Number(q.get('from'))).toBe(3600_000);
  const fromApi = await (await apiGet(admin, `/api/v1/export?channels=${ids.channels!.Temperature},${ids.channels!.Power}&from=${q.get('from')}&to=${q.get('to')}&interval=900&format=csv`)).text();
  expect(saved).toBe(fromApi);
  const rows = saved.trim().split('\r\n');
  expect(rows[0]).toBe('time,device,sensor,channel,communicationId,unit,grouping,value,count');
  expect(rows.length - 1).toBe(times.length * 2);
  const csvPower = rows.slice(1).map((r) => r.split(',')).filter((c) => c[3] === 'Power').map((c) => Number(c[7]));
  expect(csvPower).toEqual(watts);

  const html = admin.waitForEvent('download');
  await admin.getByRole('button', { name: 'Export HTML data file' }).click();
  expect(fs.readFileSync((await (await html).path())!, 'utf8')).toContain('<table>');
  const png = admin.waitForEvent('download');
  await admin.getByRole('button', { name: 'Export PNG image' }).click();
  expect(fs.readFileSync((await (await png).path())!).subarray(1, 4).toString()).toBe('PNG');

  // Drag across the chart: the period narrows to the selection.
  await admin.getByLabel('Interval').selectOption({ label: 'raw points' });
  expect((await settled(admin, 0, 3600_000))[0].x.length).toBe(40);
  const over = admin.locator('.u-over').first();
  const box = (await over.boundingBox())!;
  await admin.mouse.move(box.x + box.width * 0.25, box.y + box.height / 2);
  await admin.mouse.down();
  await admin.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await admin.mouse.up();
  await expect.poll(async () => (await chartData(admin))[0]?.x.length).toBeLessThan(40);
  // By keyboard: Zoom in halves the period around its middle.
  const before = (await chartData(admin))[0];
  await admin.getByRole('button', { name: 'Zoom in' }).focus();
  await admin.keyboard.press('Enter');
  const halved = (before.to! - before.from!) / 2;
  await expect.poll(async () => { const c = (await chartData(admin))[0]; return Math.abs(c.to! - c.from! - halved) <= 1; }).toBe(true);
});

test('a session continues after its access token is refused', async () => {
  await admin.evaluate(() => {
    const s = JSON.parse(localStorage.getItem('fieldline.session')!);
    s.access_token = 'expired.or.garbage';
    localStorage.setItem('fieldline.session', JSON.stringify(s));
  });
  await admin.goto('/structure');
  await expect(admin.getByRole('button', { name: 'Tank 1', exact: true })).toBeVisible();
  expect((await session(admin)).access_token).not.toBe('expired.or.garbage');
});

test('real-time chart, map with an info box, notifications, a phone-sized screen', async () => {
  await admin.getByRole('link', { name: 'Real-time chart' }).click();
  await expect(admin.getByText(/Updated /)).toBeVisible();
  await expect.poll(async () => (await chartData(admin)).length).toBe(1);
  await admin.getByLabel(/Refresh every/).fill('1');
  await admin.getByLabel(/Refresh every/).blur();
  await expect(admin.getByLabel(/Refresh every/)).toHaveValue('2');
  await shot(admin, '07-realtime-chart');

  await admin.getByRole('link', { name: 'Map and plans' }).click();
  const marker = admin.getByRole('button', { name: 'Device Tank 1' });
  await expect(marker).toBeVisible();
  await marker.focus();
  await admin.keyboard.press('Enter');
  const info = admin.getByRole('region', { name: 'Device Tank 1' });
  await expect(info).toContainText('45.46420, 9.19000');
  await expect(info).toContainText(`Power (W): ${ids.watts!.at(-1)}`);
  await shot(admin, '08-map');

  await admin.getByRole('link', { name: 'Notifications' }).click();
  await expect(admin.getByText('No notifications.')).toBeVisible();
  await shot(admin, '09-notifications');

  await admin.setViewportSize({ width: 390, height: 844 });
  await admin.getByRole('link', { name: 'Structure' }).click();
  await expect(admin.getByRole('region', { name: 'Devices' })).toBeVisible();
  const overflow = await admin.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await shot(admin, '10-phone-structure');
  await admin.setViewportSize({ width: 1280, height: 860 });

  const manifest = await admin.request.get('/manifest.webmanifest');
  expect((await manifest.json()).start_url).toBe('/');
  await expect.poll(() => admin.evaluate(async () => !!(await navigator.serviceWorker.getRegistration('/')))).toBe(true);
});

test('a view saved for the organization, seen after a reload and in another browser', async ({ browser }) => {
  await admin.getByRole('link', { name: 'Static chart' }).click();
  await expect.poll(async () => (await chartData(admin)).length).toBeGreaterThan(0);
  const mine = (await chartData(admin)).map((c) => ({ labels: c.labels, points: c.x.length }));
  const saved = admin.getByRole('region', { name: 'Saved views' });
  await saved.getByLabel('Save the current channels as').fill('Tank 1 overview');
  await saved.getByRole('button', { name: 'Save view' }).click();
  await expect(saved.getByRole('status')).toContainText('Saved “Tank 1 overview”');
  // Stored by the server, not this browser: there after a reload.
  await admin.reload();
  const list = admin.getByRole('region', { name: 'Saved views' }).getByLabel('Saved static chart views');
  await expect(list.locator('option')).toHaveText(['Choose a view', 'Tank 1 overview (2 channels)']);
  await shot(admin, '15-saved-views');

  // Another browser (nothing in its storage), same organization: the view is there, and
  // opening it shows the same charts.
  const context = await browser.newContext();
  const other = await context.newPage();
  await other.goto('/');
  await other.getByLabel('E-mail').fill('alice@example.com');
  await other.getByLabel('Password').fill(PASSWORD);
  await other.getByRole('button', { name: 'Log in' }).click();
  await other.getByRole('link', { name: 'Static chart' }).click();
  await expect(other.getByText(/No channels are chosen/)).toBeVisible();
  await other.getByLabel('Saved static chart views').selectOption({ label: 'Tank 1 overview (2 channels)' });
  await other.getByRole('button', { name: 'Open', exact: true }).click();
  await expect(other.getByRole('status')).toContainText('Opened “Tank 1 overview”');
  await expect.poll(async () => (await chartData(other)).map((c) => ({ labels: c.labels, points: c.x.length }))).toEqual(mine);
  await shot(other, '16-saved-view-in-another-browser');
  await context.close();
});

test('a plan uploaded, a device placed on it, seen after a reload with its info box', async () => {
  await admin.getByRole('link', { name: 'Map and plans' }).click();
  const plans = admin.getByRole('region', { name: 'Plans' });
  await plans.getByLabel('New plan named').fill('Ground floor');
  await plans.getByRole('button', { name: 'Create the plan' }).click();
  await expect(plans.getByText(/This plan has no image yet/)).toBeVisible();
  const file = plans.getByLabel('Plan image (PNG or JPEG, at most 2 MiB)');
  // SVG can carry scripts: refused, in words.
  await file.setInputFiles({ name: 'plan.svg', mimeType: 'image/svg+xml', buffer: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>') });
  await expect(plans.getByRole('alert')).toContainText('SVG is not accepted');
  // A real PNG (a screenshot makes one).
  const png = await admin.screenshot({ clip: { x: 0, y: 0, width: 600, height: 400 } });
  await file.setInputFiles({ name: 'ground-floor.png', mimeType: 'image/png', buffer: png });
  const img = plans.getByRole('img', { name: 'Plan Ground floor' });
  await expect(img).toBeVisible();
  await expect.poll(() => img.evaluate((i: HTMLImageElement) => i.naturalWidth)).toBe(600);

  // Tank 1 placed by a click at 25% across and 60% down, then saved.
  await plans.getByLabel(/Device to place/).selectOption({ label: 'Tank 1' });
  const area = (await img.boundingBox())!;
  await img.click({ position: { x: area.width * 0.25, y: area.height * 0.6 } });
  await expect(plans.getByText('Placements not saved yet.')).toBeVisible();
  await plans.getByRole('button', { name: 'Save placements' }).click();
  await expect(plans.getByText('Placements not saved yet.')).toBeHidden();
  const views = await (await apiGet(admin, '/api/v1/views')).json();
  const plan = views.find((v: any) => v.name === 'Ground floor');
  expect(plan.channels).toEqual([ids.channels!.Temperature, ids.channels!.Power]);
  expect(plan.placements).toHaveLength(1);
  expect(plan.placements[0].device).toBe(ids.device);
  expect(plan.placements[0].x).toBeCloseTo(0.25, 2);
  expect(plan.placements[0].y).toBeCloseTo(0.6, 2);
  expect(plan.image).toMatchObject({ contentType: 'image/png', width: 600, height: 400 });

  // After a reload: the marker where it was put, and its info box.
  await admin.reload();
  const pin = admin.getByRole('region', { name: 'Plans' }).getByRole('button', { name: 'Device Tank 1' });
  await expect(pin).toBeVisible();
  const shown = admin.getByRole('img', { name: 'Plan Ground floor' });
  await expect.poll(() => shown.evaluate((i: HTMLImageElement) => i.naturalWidth)).toBe(600);
  await expect(admin.getByRole('group', { name: /Map of/ })).toBeVisible();
  // Where the marker's centre is on the image, both measured at once.
  const where = await pin.evaluate((el) => {
    const p = el.getBoundingClientRect();
    const i = el.parentElement!.querySelector('img')!.getBoundingClientRect();
    return [(p.x + p.width / 2 - i.x) / i.width, (p.y + p.height / 2 - i.y) / i.height];
  });
  expect(where[0]).toBeCloseTo(0.25, 1);
  expect(where[1]).toBeCloseTo(0.6, 1);
  await pin.click();
  const info = admin.getByRole('region', { name: 'Device Tank 1' });
  const pc = (f: number) => `${(f * 100).toFixed(1)}%`;
  await expect(info).toContainText(`On Ground floor at ${pc(plan.placements[0].x)} from the left, ${pc(plan.placements[0].y)} from the top`);
  await expect(info).toContainText(`Power (W): ${ids.watts!.at(-1)}`);
  await shot(admin, '17-plan');
});

const OPERATOR_TOKEN = process.env.SCRATCH_OPERATOR_TOKEN || 'scratch-host-operator-token';
/// An instant as the console shows it in the organization's zone (UTC here).
const shownUtc = (iso: string) => new Date(Date.parse(iso)).toISOString().slice(0, 19).replace('T', ' ');

test('incidents raised by a point beyond two limits, listed as active and confirmed twice', async () => {
  const s = await session(admin);
  const auth = { authorization: `Bearer ${s.access_token}` };
  // Deviations on: a broker set (RabbitMQ's MQTT listener; incidents are recorded whether or
  // not it takes the messages); Temperature warns above 6 °C and alarms above 8 °C (its
  // threshold).
  const broker = await admin.request.put('/api/v1/organization/deviation-broker', { headers: auth, data: { address: 'mqtt://127.0.0.1:1884', vhost: 'fieldline-console-test', username: 'console', password: 'console-test-password' } });
  expect(broker.status(), await broker.text()).toBe(200);
  const limits = await admin.request.put(`/api/v1/channels/${ids.channels!.Temperature}/deviation-settings`, { headers: auth, data: { warningUpper: 6 } });
  expect(limits.status(), await limits.text()).toBe(200);
  const threshold = await admin.request.patch(`/api/v1/channels/${ids.channels!.Temperature}`, { headers: auth, data: { thresholds: { first: { op: '>', value: 8 }, second: null } } });
  expect(threshold.status(), await threshold.text()).toBe(200);

  await admin.getByRole('link', { name: 'Incidents and notifications' }).click();
  const screen = admin.getByRole('region', { name: 'Incidents' });
  await expect(screen.getByText(/^No incidents\./)).toBeVisible();

  // 9.5 °C now, then the notifier's run (what its cron does every minute).
  const t = Math.floor(Date.now() / 1000) * 1000;
  const pushed = await admin.request.post('/post/v2', { data: { token: ids.conduit, networkId: NETWORK_ID, timestamp: t, data: [{ channelId: 1, value: 9.5 }] } });
  expect(pushed.status(), await pushed.text()).toBe(200);
  const run = await admin.request.post('/notifier/run', { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
  expect(run.status(), await run.text()).toBe(200);
  const listed: any[] = (await (await apiGet(admin, '/api/v1/incidents?active=true')).json()).incidents;
  expect(listed.map((i) => i.deviationType).sort()).toEqual(['AlarmUpper', 'WarningUpper']);
  const warning = listed.find((i) => i.deviationType === 'WarningUpper');
  const alarm = listed.find((i) => i.deviationType === 'AlarmUpper');
  expect(warning).toMatchObject({ kind: 'Limit', limit: 6, measurement: 9.5, isActive: true, channel: ids.channels!.Temperature });
  expect(alarm).toMatchObject({ kind: 'Limit', limit: 8, measurement: 9.5, isActive: true });

  // Active only, by keyboard: both, with their limits and measurement.
  const show = screen.getByLabel('Show incidents');
  await show.focus();
  await show.selectOption({ label: 'active only' });
  const row = screen.getByTestId(`incident-${warning.id}`);
  const alarmRow = screen.getByTestId(`incident-${alarm.id}`);
  await expect(row).toBeVisible();
  await expect(alarmRow).toBeVisible();
  await expect(row).toContainText('Tank 1 / Temperature');
  await expect(row).toContainText('warning, above');
  await expect(alarmRow).toContainText('alarm, above');
  await expect(row.getByTestId('state')).toHaveText('active');
  await expect(row.getByTestId('limit')).toHaveText('6 °C');
  await expect(alarmRow.getByTestId('limit')).toHaveText('8 °C');
  await expect(row.getByTestId('measurement')).toHaveText('9.5 °C');
  await expect(row.getByTestId('start')).toHaveText(shownUtc(warning.startTimeUtc));
  await expect(row.getByTestId('end')).toHaveText('—');
  await expect(row.getByTestId('confirm1')).toHaveText('not yet');
  await screen.getByLabel('Kind of incident').selectOption({ label: 'No connection' });
  await expect(screen.getByText('No incidents match the filter.')).toBeVisible();
  await screen.getByLabel('Kind of incident').selectOption({ label: 'Limit' });
  await expect(row).toBeVisible();

  // The alarm is confirmed twice elsewhere meanwhile: Confirm on this (stale) screen is
  // refused, and the server's words are shown; the list then shows both confirmations.
  for (let i = 0; i < 2; i++) {
    const r = await admin.request.post(`/api/v1/incidents/${alarm.id}/confirm`, { headers: auth });
    expect(r.status(), await r.text()).toBe(200);
  }
  await expect(alarmRow.getByTestId('confirm1')).toHaveText('not yet');
  await alarmRow.getByRole('button', { name: /^Confirm / }).click();
  const refusal = screen.getByRole('alert');
  await expect(refusal).toBeVisible();
  const third = await admin.request.post(`/api/v1/incidents/${alarm.id}/confirm`, { headers: auth });
  expect(third.status()).toBe(409);
  await expect(refusal).toHaveText((await third.json()).message);
  await expect(alarmRow.getByTestId('confirm2')).not.toHaveText('not yet');
  await expect(alarmRow.getByRole('button', { name: /^Confirm / })).toBeDisabled();

  // The warning confirmed twice here (Enter on the focused button): both times shown, the
  // button disabled.
  const confirm = row.getByRole('button', { name: /^Confirm / });
  await confirm.focus();
  await admin.keyboard.press('Enter');
  await expect(row.getByTestId('confirm1')).not.toHaveText('not yet');
  await expect(screen.getByRole('alert')).toHaveCount(0);
  await expect(row.getByTestId('confirm2')).toHaveText('not yet');
  await expect(confirm).toBeEnabled();
  await confirm.click();
  await expect(row.getByTestId('confirm2')).not.toHaveText('not yet');
  await expect(confirm).toBeDisabled();
  const confirmed = await (await apiGet(admin, `/api/v1/incidents/${warning.id}`)).json();
  await expect(row.getByTestId('confirm1')).toHaveText(shownUtc(confirmed.confirmTime1Utc));
  await expect(row.getByTestId('confirm2')).toHaveText(shownUtc(confirmed.confirmTime2Utc));
  await expect(row.getByTestId('state')).toHaveText('active');
  await shot(admin, '18-incidents');
  ids.incident = warning.id;
});

test('an invited view-only member sees the data but cannot change or download it', async ({ browser }) => {
  await admin.getByRole('link', { name: 'People' }).click();
  const link = await invite(admin, 'bob@example.com');
  // A second invitation, revoked: its link no longer works.
  const revokedLink = await invite(admin, 'eve@example.com');
  await admin.getByRole('button', { name: 'Revoke the invitation of eve@example.com' }).click();
  await expect(admin.getByText(/eve@example.com/)).toHaveCount(0);

  const bobContext = await browser.newContext();
  const bob = await bobContext.newPage();
  await bob.goto(new URL(revokedLink).pathname);
  await bob.getByLabel(/Choose a password/).fill(PASSWORD);
  await bob.getByRole('button', { name: 'Accept the invitation' }).click();
  await expect(bob.getByRole('alert')).toBeVisible();

  await bob.goto(new URL(link).pathname);
  await shot(bob, '11-invitation');
  await bob.getByLabel(/Choose a password/).fill(PASSWORD);
  await bob.getByRole('button', { name: 'Accept the invitation' }).click();
  await expect(bob.getByRole('button', { name: 'Tank 1', exact: true })).toBeVisible();
  await expect(bob.getByRole('button', { name: 'New device' })).toHaveCount(0);
  await bob.getByRole('button', { name: 'Edit device Tank 1' }).click();
  await expect(bob.getByRole('form', { name: 'Edit device' }).getByRole('button', { name: 'Save' })).toBeDisabled();
  await expect(bob.getByText('Changing the structure needs the Modify permission.')).toBeVisible();
  await bob.getByRole('button', { name: 'Tank 1', exact: true }).click();
  await bob.getByRole('button', { name: 'Probe', exact: true }).click();
  await bob.getByLabel('Show Power on the view').check();
  await bob.getByRole('button', { name: 'Update' }).click();
  await bob.getByRole('link', { name: 'Static chart' }).click();
  await bob.getByRole('button', { name: 'Last hour' }).click();
  expect((await settled(bob, 0, 3600_000))[0].ys).toEqual([ids.watts]);
  await expect(bob.getByRole('button', { name: 'Export CSV' })).toBeDisabled();
  await expect(bob.getByText('Exporting data needs the Download permission.')).toBeVisible();
  const s = await session(bob);
  const refused = await bob.request.get(`/api/v1/export?channels=${ids.channels!.Power}&from=0&to=${Date.now()}`, { headers: { authorization: `Bearer ${s.access_token}` } });
  expect(refused.status()).toBe(403);
  await shot(bob, '12-view-only-member-chart');
  // The organization's saved view is his to open, not to change; the plan is his to look at.
  const bobViews = bob.getByRole('region', { name: 'Saved views' });
  await expect(bobViews.getByLabel('Saved static chart views').locator('option')).toHaveText(['Choose a view', 'Tank 1 overview (2 channels)']);
  await expect(bobViews.getByText('Saving views needs the Modify permission.')).toBeVisible();
  await expect(bobViews.getByRole('button', { name: 'Delete' })).toHaveCount(0);
  const ownView = await bob.request.post('/api/v1/views', { headers: { authorization: `Bearer ${s.access_token}` }, data: { name: 'Mine', kind: 'map' } });
  expect(ownView.status()).toBe(403);
  await bob.getByRole('link', { name: 'Map and plans' }).click();
  const bobPlans = bob.getByRole('region', { name: 'Plans' });
  await expect(bobPlans.getByRole('img', { name: 'Plan Ground floor' })).toBeVisible();
  await expect(bobPlans.getByRole('button', { name: 'Device Tank 1' })).toBeVisible();
  await expect(bobPlans.getByLabel(/Plan image/)).toHaveCount(0);
  await expect(bobPlans.getByRole('form', { name: 'Place a device' })).toHaveCount(0);
  // The incident is his to see, with both confirmations, but not to confirm.
  await bob.getByRole('link', { name: 'Incidents and notifications' }).click();
  const bobIncident = bob.getByRole('region', { name: 'Incidents' }).getByTestId(`incident-${ids.incident}`);
  await expect(bobIncident).toContainText('Tank 1 / Temperature');
  await expect(bobIncident.getByTestId('measurement')).toHaveText('9.5 °C');
  await expect(bobIncident.getByTestId('confirm2')).not.toHaveText('not yet');
  await expect(bob.getByRole('button', { name: /^Confirm/ })).toHaveCount(0);
  await expect(bob.getByText('Confirming incidents needs the Modify permission.')).toBeVisible();
  const bobConfirm = await bob.request.post(`/api/v1/incidents/${ids.incident}/confirm`, { headers: { authorization: `Bearer ${s.access_token}` } });
  expect(bobConfirm.status()).toBe(403);
  await bob.getByRole('link', { name: 'People' }).click();
  await expect(bob.getByText("Members and invitations are managed by the organization's administrators.")).toBeVisible();
  await bob.getByRole('button', { name: 'Log out' }).click();
  await expect(bob.getByRole('form', { name: 'Log in' })).toBeVisible();
  await bobContext.close();

  // The administrator sees Bob as a member, view only.
  await admin.reload();
  const row = admin.getByRole('row', { name: /bob@example.com/ });
  await expect(row).toBeVisible();
  await expect(row.getByLabel('Download for bob@example.com')).not.toBeChecked();
});

test('a second organization sees nothing of the first; a member of both switches', async ({ browser }) => {
  const context = await browser.newContext();
  const carol = await context.newPage();
  await signUp(carol, 'Other Org', 'carol@example.com');
  await expect(carol.getByText('No devices yet.')).toBeVisible();
  await carol.getByRole('link', { name: 'Static chart' }).click();
  await expect(carol.getByText(/No channels are chosen/)).toBeVisible();
  await carol.getByRole('link', { name: 'Map and plans' }).click();
  await expect(carol.getByText(/No device has a location/)).toBeVisible();
  const s = await session(carol);
  const other = await carol.request.get(`/api/v1/devices/${ids.device}`, { headers: { authorization: `Bearer ${s.access_token}` } });
  expect(other.status()).toBe(404);
  const q = await carol.request.get(`/query?epoch=ms&q=${encodeURIComponent('SELECT "value" FROM "2"')}`, { headers: { authorization: `Bearer ${s.access_token}` } });
  expect((await q.json()).results[0].series).toBeUndefined();
  await expect(carol.getByLabel('Organization')).toHaveText('Other Org');
  await shot(carol, '13-second-organization');

  // Alice invites Carol, who accepts while signed in: both organizations in her picker.
  await admin.getByRole('link', { name: 'People' }).click();
  const link = await invite(admin, 'carol@example.com', true);
  await carol.goto(new URL(link).pathname);
  await expect(carol.getByText('You are signed in')).toBeVisible();
  await carol.getByRole('button', { name: 'Accept the invitation' }).click();
  await expect(carol.getByRole('button', { name: 'Tank 1', exact: true })).toBeVisible();
  const picker = carol.getByLabel('Organization');
  await expect(picker.locator('option')).toHaveText(['Other Org', 'Acme Dairy']);
  await picker.selectOption({ label: 'Other Org' });
  await expect(carol.getByText('No devices yet.')).toBeVisible();
  await picker.selectOption({ label: 'Acme Dairy' });
  await expect(carol.getByRole('button', { name: 'Tank 1', exact: true })).toBeVisible();
  await shot(carol, '14-organization-switched');
  await context.close();
  await adminContext.close();
});
