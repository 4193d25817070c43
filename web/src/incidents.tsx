import { useState } from 'preact/hooks';
import { ApiError, get } from './api';
import type { Ctx } from './main';
import { formatTime } from './time';
import { action, State, useLoad } from './ui';

/// elproMONITOR incidents (docs/deviations.md): one per channel and condition at a time, open
/// (active) until the condition ends, confirmed at most twice.
export type Incident = {
  id: number;
  channel: string;
  kind: string;
  messageType: string;
  deviationType: string | null;
  limit: number | null;
  measurement: number | null;
  unit: string;
  startTimeUtc: string;
  endTimeUtc: string | null;
  isActive: boolean;
  confirmTime1Utc: string | null;
  confirmTime2Utc: string | null;
};

const KINDS: [string, string][] = [
  ['Limit', 'Limit'],
  ['Failure', 'Failure'],
  ['BatteryLowLevel', 'Battery low'],
  ['RadioStrength', 'Radio strength'],
  ['NoConnection', 'No connection'],
  ['DigitalInput', 'Digital input'],
];
const kindName = (k: string) => KINDS.find(([v]) => v === k)?.[1] || k;
const DEVIATION: Record<string, string> = {
  AlarmUpper: 'alarm, above',
  AlarmLower: 'alarm, below',
  WarningUpper: 'warning, above',
  WarningLower: 'warning, below',
};

type Names = Record<string, { device: string; channel: string }>;

/// The device and channel names of the incidents' channels (a channel no longer readable keeps
/// its id).
async function namesOf(incidents: Incident[]): Promise<Names> {
  const ids = [...new Set(incidents.map((i) => i.channel))];
  if (!ids.length) return {};
  const devices: any[] = await get('/api/v1/devices');
  const deviceName = new Map(devices.map((d) => [d.id, d.name]));
  const out: Names = {};
  await Promise.all(
    ids.map(async (id) => {
      try {
        const c = await get(`/api/v1/channels/${id}`);
        out[id] = { device: deviceName.get(c.device) || c.device, channel: c.name };
      } catch {
        out[id] = { device: '?', channel: id };
      }
    }),
  );
  return out;
}

const time = (iso: string | null, tz: string) => (iso ? formatTime(Date.parse(iso), tz) : '');
const amount = (v: number | null, unit: string) => (v === null || v === undefined ? '—' : `${v}${unit ? ` ${unit}` : ''}`);

export function Incidents({ ctx }: { ctx: Ctx }) {
  const [active, setActive] = useState<'true' | '' | 'false'>('');
  const [kind, setKind] = useState('');
  const list = useLoad<{ incidents: Incident[]; names: Names }>(async () => {
    const q = new URLSearchParams();
    if (active) q.set('active', active);
    if (kind) q.set('kind', kind);
    const qs = q.toString();
    const answer = await get<{ incidents: Incident[] }>(`/api/v1/incidents${qs ? `?${qs}` : ''}`);
    const incidents = answer?.incidents || [];
    return { incidents, names: await namesOf(incidents) };
  }, [active, kind]);
  const [error, setError] = useState<ApiError | null>(null);
  const act = action(setError, list.reload);
  const tz = ctx.org.timeZone;
  const items = list.data?.incidents || [];
  const names = list.data?.names || {};
  const filtered = !!(active || kind);
  return (
    <section aria-label="Incidents" class="incidents">
      <h2>Incidents</h2>
      <form class="toolbar" aria-label="Filter the incidents" onSubmit={(e) => e.preventDefault()}>
        <label>
          Show{' '}
          <select aria-label="Show incidents" value={active} onChange={(e) => setActive((e.target as HTMLSelectElement).value as typeof active)}>
            <option value="">all incidents</option>
            <option value="true">active only</option>
            <option value="false">ended only</option>
          </select>
        </label>
        <label>
          Kind{' '}
          <select aria-label="Kind of incident" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
            <option value="">all kinds</option>
            {KINDS.map(([v, label]) => <option value={v}>{label}</option>)}
          </select>
        </label>
      </form>
      {!ctx.me.permissions.modify && <p class="muted">Confirming incidents needs the Modify permission.</p>}
      {error && <p class="error" role="alert">{error.message}</p>}
      <State loading={list.loading && !list.data} error={list.error} empty={!items.length}
        emptyText={filtered ? 'No incidents match the filter.' : 'No incidents. Incidents are recorded once the organization has a deviation broker.'}>
        <div class="table-scroll">
          <table aria-label="Incidents">
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">Device / channel</th>
                <th scope="col">Start ({tz})</th>
                <th scope="col">End ({tz})</th>
                <th scope="col">State</th>
                <th scope="col">Limit</th>
                <th scope="col">Measurement</th>
                <th scope="col">1st confirmation</th>
                <th scope="col">2nd confirmation</th>
                {ctx.me.permissions.modify && <th scope="col"><span class="sr-only">Action</span></th>}
              </tr>
            </thead>
            <tbody>
              {items.map((i) => {
                const n = names[i.channel] || { device: '?', channel: i.channel };
                const label = `${kindName(i.kind)} incident ${i.id}, ${n.device} / ${n.channel}`;
                return (
                  <tr key={i.id} data-testid={`incident-${i.id}`} class={i.isActive ? 'active' : 'ended'} aria-label={label}>
                    <td>{kindName(i.kind)}{i.deviationType ? <span class="muted"> ({DEVIATION[i.deviationType] || i.deviationType})</span> : null}</td>
                    <td>{n.device} / {n.channel}</td>
                    <td data-testid="start">{time(i.startTimeUtc, tz)}</td>
                    <td data-testid="end">{time(i.endTimeUtc, tz) || '—'}</td>
                    <td data-testid="state">{i.isActive ? 'active' : 'ended'}</td>
                    <td data-testid="limit">{amount(i.limit, i.unit)}</td>
                    <td data-testid="measurement">{amount(i.measurement, i.unit)}</td>
                    <td data-testid="confirm1">{time(i.confirmTime1Utc, tz) || 'not yet'}</td>
                    <td data-testid="confirm2">{time(i.confirmTime2Utc, tz) || 'not yet'}</td>
                    {ctx.me.permissions.modify && (
                      <td>
                        <button type="button" aria-label={`Confirm ${label}`} disabled={!!i.confirmTime2Utc}
                          title={i.confirmTime2Utc ? 'Confirmed twice' : i.confirmTime1Utc ? 'The second confirmation' : 'The first confirmation'}
                          onClick={() => void act('POST', `/api/v1/incidents/${i.id}/confirm`)}>
                          Confirm
                        </button>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </State>
    </section>
  );
}
