import { useState } from 'preact/hooks';
import { api, ApiError, get } from './api';
import type { Ctx } from './main';
import { ChosenChannel, loadView, saveView } from './view';
import { Field, FormError, State, useLoad } from './ui';

type Item = Record<string, any> & { id: string; name: string };
type Kind = 'device' | 'sensor' | 'channel';

/// The Sensorbis fields of each kind's form (the server checks them and names the field).
const FORMS: Record<Kind, [string, string][]> = {
  device: [['name', 'Name (1–30 characters)'], ['descr', 'Description'], ['networkId', 'Network id'], ['lat', 'Latitude'], ['lon', 'Longitude']],
  sensor: [['name', 'Name (1–30 characters)'], ['descr', 'Description']],
  channel: [['name', 'Name (1–30 characters)'], ['communicationId', 'Communication id (letters, digits, - . _ ~)'], ['unit', 'Unit'], ['grouping', 'Grouping: S (sum) or M (mean)']],
};

function initial(kind: Kind, item: Item | null): Record<string, string> {
  const v: Record<string, string> = {};
  for (const [f] of FORMS[kind]) v[f] = item && item[f] != null ? String(item[f]) : '';
  if (kind === 'device' && item?.location) {
    v.lat = String(item.location.lat);
    v.lon = String(item.location.lon);
  }
  if (kind === 'channel' && !item) v.grouping = 'M';
  return v;
}

function body(kind: Kind, v: Record<string, string>, item: Item | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [f] of FORMS[kind]) {
    if (f === 'lat' || f === 'lon') continue;
    if (item && String(item[f] ?? '') === v[f]) continue;
    if (f === 'networkId' && v[f] === '') out[f] = null;
    else if (v[f] !== '' || item) out[f] = v[f];
  }
  if (kind === 'device') {
    const had = item?.location ? `${item.location.lat},${item.location.lon}` : ',';
    if (`${v.lat},${v.lon}` !== had) out.location = v.lat === '' && v.lon === '' ? null : { lat: Number(v.lat), lon: Number(v.lon) };
  }
  return out;
}

function EditForm(p: { kind: Kind; item: Item | null; create: string; update: string; onDone: () => void; canModify: boolean }) {
  const [v, setV] = useState(initial(p.kind, p.item));
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  async function save(e: Event) {
    e.preventDefault();
    setBusy(true);
    try {
      if (p.item) await api('PATCH', p.update, body(p.kind, v, p.item));
      else await api('POST', p.create, body(p.kind, v, null));
      p.onDone();
    } catch (err) {
      const a = err as ApiError;
      // Coordinates are checked as one `location` field.
      setError(a.about('location') ? new ApiError(a.status, a.code, `lat: ${a.message}`) : a);
    } finally {
      setBusy(false);
    }
  }
  async function remove() {
    if (!p.item || !confirm(`Delete ${p.kind} ${p.item.name} and everything under it?`)) return;
    try {
      await api('DELETE', p.update);
      p.onDone();
    } catch (err) {
      setError(err as ApiError);
    }
  }
  const fields = FORMS[p.kind].map(([f]) => f);
  return (
    <form class="edit" onSubmit={save} aria-label={`${p.item ? 'Edit' : 'New'} ${p.kind}`}>
      <h3>{p.item ? `Edit ${p.kind} ${p.item.name}` : `New ${p.kind}`}</h3>
      {FORMS[p.kind].map(([f, label]) => (
        <Field label={label} name={f} value={v[f]} error={error} onInput={(x) => setV({ ...v, [f]: x })} />
      ))}
      {p.item && <p class="muted">Id {p.item.id}{p.item.uuid ? ` · UUID ${p.item.uuid}` : ''}</p>}
      <FormError error={error} fields={fields} />
      <div class="buttons">
        <button type="submit" disabled={busy || !p.canModify}>Save</button>
        <button type="button" onClick={p.onDone}>Cancel</button>
        {p.item && <button type="button" class="danger" disabled={!p.canModify} onClick={() => void remove()}>Delete</button>}
      </div>
      {!p.canModify && <p class="muted">Changing the structure needs the Modify permission.</p>}
    </form>
  );
}

export function Structure({ ctx }: { ctx: Ctx }) {
  const org = ctx.org.id;
  const [device, setDevice] = useState<Item | null>(null);
  const [sensor, setSensor] = useState<Item | null>(null);
  const [editing, setEditing] = useState<{ kind: Kind; item: Item | null } | null>(null);
  const [view, setView] = useState(loadView(org));
  const [chosen, setChosen] = useState<Map<string, ChosenChannel>>(new Map(view.channels.map((c) => [c.id, c])));
  const [saved, setSaved] = useState(false);
  const devices = useLoad<Item[]>(() => get('/api/v1/devices'), []);
  const sensors = useLoad<Item[]>(() => (device ? get(`/api/v1/devices/${device.id}/sensors`) : Promise.resolve([])), [device?.id]);
  const channels = useLoad<Item[]>(() => (sensor ? get(`/api/v1/sensors/${sensor.id}/channels`) : Promise.resolve([])), [sensor?.id]);
  const canModify = ctx.me.permissions.modify || ctx.me.permissions.administrator;

  function toggle(c: Item, on: boolean) {
    const next = new Map(chosen);
    if (on && device && sensor)
      next.set(c.id, { id: c.id, name: c.name, communicationId: c.communicationId, unit: c.unit || '', grouping: c.grouping || 'M', device: device.id, deviceName: device.name, deviceUuid: device.uuid, sensor: sensor.id, sensorName: sensor.name });
    else next.delete(c.id);
    setChosen(next);
    setSaved(false);
  }
  function update() {
    const v = { ...view, channels: [...chosen.values()] };
    saveView(org, v);
    setView(v);
    setSaved(true);
  }
  function done() {
    const kind = editing?.kind;
    setEditing(null);
    if (kind === 'device') devices.reload();
    if (kind === 'sensor') sensors.reload();
    if (kind === 'channel') channels.reload();
  }
  const column = (kind: Kind, title: string, list: ReturnType<typeof useLoad<Item[]>>, selected: Item | null, select: ((i: Item) => void) | null, parent: boolean) => (
    <section class="column" aria-label={title}>
      <h2>{title}</h2>
      {parent ? (
        <State loading={list.loading} error={list.error} empty={!list.data?.length} emptyText={`No ${kind}s yet.`}>
          <ul>
            {list.data?.map((i) => (
              <li class={selected?.id === i.id ? 'selected' : ''}>
                {kind === 'channel' && (
                  <input type="checkbox" aria-label={`Show ${i.name} on the view`} checked={chosen.has(i.id)} onChange={(e) => toggle(i, (e.target as HTMLInputElement).checked)} />
                )}
                {select ? (
                  <button type="button" class="item" aria-pressed={selected?.id === i.id} onClick={() => select(i)}>{i.name}</button>
                ) : (
                  <span class="item">{i.name} <span class="muted">{i.communicationId}{i.unit ? ` · ${i.unit}` : ''}</span></span>
                )}
                <button type="button" class="cog" aria-label={`Edit ${kind} ${i.name}`} title={`Edit ${i.name}`} onClick={() => setEditing({ kind, item: i })}>⚙</button>
              </li>
            ))}
          </ul>
        </State>
      ) : (
        <p class="empty">Choose a {kind === 'sensor' ? 'device' : 'sensor'} first.</p>
      )}
      {parent && canModify && <button type="button" onClick={() => setEditing({ kind, item: null })}>New {kind}</button>}
    </section>
  );
  return (
    <div class="structure">
      <div class="columns">
        {column('device', 'Devices', devices, device, (d) => { setDevice(d); setSensor(null); }, true)}
        {column('sensor', 'Sensors', sensors, sensor, setSensor, !!device)}
        {column('channel', 'Channels', channels, null, null, !!sensor)}
      </div>
      {editing && (
        <EditForm
          kind={editing.kind}
          item={editing.item}
          canModify={canModify}
          create={editing.kind === 'device' ? '/api/v1/devices' : editing.kind === 'sensor' ? `/api/v1/devices/${device?.id}/sensors` : `/api/v1/sensors/${sensor?.id}/channels`}
          update={editing.item ? `/api/v1/${editing.kind}s/${editing.item.id}` : ''}
          onDone={done}
          key={`${editing.kind}-${editing.item?.id}`}
        />
      )}
      <div class="view-bar">
        <span>{chosen.size} channel{chosen.size === 1 ? '' : 's'} chosen for the view</span>
        <label>
          Group charts per{' '}
          <select value={view.groupBy} onChange={(e) => { setView({ ...view, groupBy: (e.target as HTMLSelectElement).value as any }); setSaved(false); }}>
            <option value="device">device</option>
            <option value="sensor">sensor</option>
            <option value="unit">unit</option>
          </select>
        </label>
        <button type="button" onClick={update}>Update</button>
        {saved && <span role="status">The view was updated.</span>}
      </div>
    </div>
  );
}
