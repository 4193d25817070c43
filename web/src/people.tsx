import { useState } from 'preact/hooks';
import { api, ApiError, get } from './api';
import type { Ctx } from './main';
import { formatTime } from './time';
import { action, Field, FormError, State, useLoad } from './ui';

type Perms = { administrator: boolean; modify: boolean; download: boolean };
const PERMS: [keyof Perms, string][] = [['administrator', 'Administrator'], ['modify', 'Modify'], ['download', 'Download']];

function PermBoxes(p: { value: Perms; onChange: (v: Perms) => void; disabled?: boolean; idPrefix: string; who: string }) {
  return (
    <span class="perms">
      {PERMS.map(([k, l]) => (
        <label>
          <input type="checkbox" disabled={p.disabled} checked={p.value[k]} aria-label={`${l} for ${p.who}`} onChange={(e) => p.onChange({ ...p.value, [k]: (e.target as HTMLInputElement).checked })} /> {l}
        </label>
      ))}
    </span>
  );
}

function Members({ ctx }: { ctx: Ctx }) {
  const admin = ctx.me.permissions.administrator;
  const members = useLoad<any[]>(() => get('/api/v1/members'), []);
  const [error, setError] = useState<ApiError | null>(null);
  const act = action(setError, members.reload);
  const change = (user: string, permissions: Perms | null) =>
    permissions ? act('PATCH', `/api/v1/members/${user}`, { permissions }) : act('DELETE', `/api/v1/members/${user}`);
  return (
    <section aria-label="Members">
      <h2>Members</h2>
      {error && <p class="error" role="alert">{error.message}</p>}
      <State loading={members.loading} error={members.error} empty={!members.data?.length}>
        <table>
          <thead><tr><th scope="col">E-mail</th><th scope="col">Permissions</th><th scope="col">Since</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {members.data?.map((m) => (
              <tr>
                <td>{m.email}</td>
                <td><PermBoxes idPrefix={m.user} who={m.email} value={m.permissions} disabled={!admin} onChange={(v) => void change(m.user, v)} /></td>
                <td>{formatTime(m.createdAt, ctx.org.timeZone)}</td>
                <td>{admin && m.user !== ctx.me.user.id && <button type="button" class="danger" onClick={() => confirm(`Remove ${m.email}?`) && void change(m.user, null)}>Remove</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </State>
    </section>
  );
}

function Invitations({ ctx }: { ctx: Ctx }) {
  const list = useLoad<any[]>(() => get('/api/v1/invitations'), []);
  const [email, setEmail] = useState('');
  const [perms, setPerms] = useState<Perms>({ administrator: false, modify: false, download: false });
  const [error, setError] = useState<ApiError | null>(null);
  const [link, setLink] = useState('');
  async function send(e: Event) {
    e.preventDefault();
    try {
      const inv = await api('POST', '/api/v1/invitations', { email, permissions: perms });
      setLink(`${location.origin}/invitation/${encodeURIComponent(inv.token)}`);
      setEmail('');
      setError(null);
      list.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  }
  const revoke = (id: string) => action(setError, list.reload)('DELETE', `/api/v1/invitations/${id}`);
  const open = list.data?.filter((i) => !i.acceptedAt) || [];
  return (
    <section aria-label="Invitations">
      <h2>Invitations</h2>
      <form onSubmit={send} class="inline" aria-label="Invite someone">
        <Field label="E-mail of the person to invite" name="email" type="email" value={email} onInput={setEmail} error={error} required />
        <PermBoxes idPrefix="new" who="the invited person" value={perms} onChange={setPerms} />
        <button type="submit">Send the invitation</button>
      </form>
      <FormError error={error} fields={['email']} />
      {link && (
        <p role="status" class="secret">
          Invitation link (also sent by e-mail where the server sends mail): <code data-testid="invitation-link">{link}</code>
        </p>
      )}
      <State loading={list.loading} error={list.error} empty={!open.length} emptyText="No open invitations.">
        <ul>
          {open.map((i) => (
            <li>
              {i.email} · {PERMS.filter(([k]) => i.permissions[k]).map(([, l]) => l).join(', ') || 'view only'} · expires {formatTime(i.expiresAt, ctx.org.timeZone)}{' '}
              <button type="button" onClick={() => void revoke(i.id)} aria-label={`Revoke the invitation of ${i.email}`}>Revoke</button>
            </li>
          ))}
        </ul>
      </State>
    </section>
  );
}

function Subscription({ ctx }: { ctx: Ctx }) {
  const s = ctx.org.subscription;
  const usage = useLoad<any>(() => get('/api/v1/organization/usage'), []);
  const discarded = useLoad<any>(() => (ctx.me.permissions.administrator ? get('/api/v1/organization/discarded-points') : Promise.resolve(null)), []);
  const [calc, setCalc] = useState({ devices: '10', channelsPerDevice: '4', valuesPerHour: '60' });
  const [result, setResult] = useState<any>(null);
  const [error, setError] = useState<ApiError | null>(null);
  async function calculate(e: Event) {
    e.preventDefault();
    try {
      setResult(await api('POST', '/api/v1/subscription/calculator', { devices: Number(calc.devices), channelsPerDevice: Number(calc.channelsPerDevice), valuesPerHour: Number(calc.valuesPerHour) }));
      setError(null);
    } catch (err) {
      setError(err as ApiError);
    }
  }
  const tz = ctx.org.timeZone;
  return (
    <section aria-label="Subscription">
      <h2>Subscription</h2>
      <dl class="facts">
        <dt>Points per hour</dt><dd>{s.pointsPerHour}</dd>
        <dt>Points this hour</dt><dd data-testid="points-this-hour">{usage.data ? usage.data.pointsThisHour : '…'}</dd>
        <dt>Notification e-mails today</dt><dd>{usage.data ? `${usage.data.emailsToday} of ${usage.data.notificationEmailsPerDay}` : '…'}</dd>
        <dt>Detailed data kept</dt><dd>{s.detailedRetentionDays} days</dd>
        <dt>Hourly aggregates kept</dt><dd>{s.aggregatedRetentionDays} days</dd>
        <dt>Members at most</dt><dd>{s.maxUsers}</dd>
        <dt>Conduit tier</dt><dd>{s.conduitTier}</dd>
        <dt>Ends</dt><dd>{s.expiresAt ? formatTime(s.expiresAt, tz) : 'never'}</dd>
        {discarded.data && (<><dt>Discarded points (7 days)</dt><dd>{discarded.data.total}</dd></>)}
      </dl>
      {usage.error && <p class="error" role="alert">{usage.error.message}</p>}
      <form onSubmit={calculate} class="inline" aria-label="Calculator">
        <h3>Calculator</h3>
        <Field label="Devices" name="devices" type="number" value={calc.devices} onInput={(v) => setCalc({ ...calc, devices: v })} error={error} />
        <Field label="Channels per device" name="channelsPerDevice" type="number" value={calc.channelsPerDevice} onInput={(v) => setCalc({ ...calc, channelsPerDevice: v })} error={error} />
        <Field label="Values per hour" name="valuesPerHour" type="number" value={calc.valuesPerHour} onInput={(v) => setCalc({ ...calc, valuesPerHour: v })} error={error} />
        <button type="submit">Calculate</button>
      </form>
      <FormError error={error} fields={['devices', 'channelsPerDevice', 'valuesPerHour']} />
      {result && <p role="status">{result.pointsPerHour} points per hour: {result.fits ? 'fits' : 'does not fit'} the subscription ({result.planPointsPerHour} per hour).</p>}
    </section>
  );
}

function Tokens({ ctx }: { ctx: Ctx }) {
  const list = useLoad<any[]>(() => get('/api/v1/tokens'), []);
  const [name, setName] = useState('');
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  async function create(e: Event) {
    e.preventDefault();
    try {
      const t = await api('POST', '/api/v1/tokens', { kind: 'conduit', name, services: { http: true, mqtt: true } });
      setSecret(t.secret);
      setName('');
      setError(null);
      list.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  }
  const revoke = (id: string) => action(setError, list.reload)('DELETE', `/api/v1/tokens/${id}`);
  const live = list.data?.filter((t) => !t.revokedAt) || [];
  return (
    <section aria-label="Tokens">
      <h2>API tokens</h2>
      <form onSubmit={create} class="inline" aria-label="Create a token">
        <Field label="Name of the new Conduit token" name="name" value={name} onInput={setName} error={error} />
        <button type="submit">Create</button>
      </form>
      <FormError error={error} fields={['name']} />
      {secret && (
        <p role="status" class="secret">
          The token's secret, shown this once (copy it now): <code data-testid="token-secret">{secret}</code>{' '}
          <button type="button" onClick={() => setSecret('')}>I copied it</button>
        </p>
      )}
      <State loading={list.loading} error={list.error} empty={!live.length} emptyText="No tokens.">
        <ul>
          {live.map((t) => (
            <li>
              {t.name || '(no name)'} · {t.kind}{t.tier ? ` ${t.tier}` : ''} · created {formatTime(t.createdAt, ctx.org.timeZone)}{t.lastUsedAt ? ` · last used ${formatTime(t.lastUsedAt, ctx.org.timeZone)}` : ''}{' '}
              <button type="button" onClick={() => void revoke(t.id)} aria-label={`Revoke token ${t.name || t.id}`}>Revoke</button>
            </li>
          ))}
        </ul>
      </State>
    </section>
  );
}

export function People({ ctx }: { ctx: Ctx }) {
  const admin = ctx.me.permissions.administrator;
  return (
    <div class="people">
      {admin ? <Members ctx={ctx} /> : <p class="muted">Members and invitations are managed by the organization's administrators.</p>}
      {admin && <Invitations ctx={ctx} />}
      <Subscription ctx={ctx} />
      <Tokens ctx={ctx} />
    </div>
  );
}
