// User-provided plans (Sensorbis "User-provided map/plan/image"): a plan is a saved view of kind
// `plan` with an uploaded PNG or JPEG image (stored by the server) and devices placed on it at
// fractions of its width and height. Markers open the same info box as the map.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, request } from './api';
import type { Ctx } from './main';
import { Device, InfoBox } from './map';
import { FormError, State, useLoad } from './ui';
import { ChosenChannel, listViews, loadView, Placement, resolveChannels, SavedView } from './view';

const MAX_IMAGE = 2 * 1024 * 1024;
const percent = (f: number) => `${(f * 100).toFixed(1)}%`;

/// The plan's image as an object URL (fetched with the session's token: an <img> cannot send it).
function useImage(plan: SavedView): { url: string | null; error: ApiError | null } {
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    if (!plan.image) return;
    let live = true;
    let made: string | null = null;
    request('GET', `/api/v1/views/${plan.id}/image`).then(
      async (r) => {
        const blob = await r.blob();
        if (!live) return;
        made = URL.createObjectURL(blob);
        setUrl(made);
      },
      (e) => live && setError(e),
    );
    return () => {
      live = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [plan.id, plan.image?.sha256]);
  return { url, error };
}

function Plan(p: { plan: SavedView; ctx: Ctx; devices: Device[]; canModify: boolean; reload: () => void }) {
  const { plan } = p;
  const image = useImage(plan);
  const [placements, setPlacements] = useState<Placement[]>(plan.placements);
  const [dirty, setDirty] = useState(false);
  const [placing, setPlacing] = useState(p.devices[0]?.id || '');
  const [x, setX] = useState('50');
  const [y, setY] = useState('50');
  const [picked, setPicked] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const channels = useLoad<ChosenChannel[]>(() => resolveChannels(plan.channels, p.ctx.org.id), [plan.id, plan.channels.join(',')]);
  const box = useRef<HTMLDivElement>(null);
  const byId = new Map(p.devices.map((d) => [d.id, d]));

  function place(device: string, fx: number, fy: number) {
    const clamp = (v: number) => Math.min(1, Math.max(0, Math.round(v * 10000) / 10000));
    setPlacements([...placements.filter((q) => q.device !== device), { device, x: clamp(fx), y: clamp(fy) }]);
    setDirty(true);
  }
  function clickImage(e: MouseEvent) {
    if (!p.canModify || !placing || !box.current) return;
    const r = box.current.getBoundingClientRect();
    place(placing, (e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
  }
  /// A change sent to the server: busy meanwhile, then the plan reloaded, or the refusal shown.
  async function send(call: () => Promise<unknown>) {
    setBusy(true);
    try {
      await call();
      setError(null);
      p.reload();
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
    }
  }
  const save = () => send(async () => {
    await api('PATCH', `/api/v1/views/${plan.id}`, { placements });
    setDirty(false);
  });
  function upload(file: File | undefined) {
    if (!file) return;
    if (file.size > MAX_IMAGE) {
      setError(new ApiError(413, 'payload_too_large', `The image has ${file.size} bytes; a plan image has at most ${MAX_IMAGE} (2 MiB).`));
      return;
    }
    void send(() => request('PUT', `/api/v1/views/${plan.id}/image`, file));
  }
  const pickedDevice = picked ? byId.get(picked) : undefined;
  const pickedAt = placements.find((q) => q.device === picked);
  return (
    <div>
      {p.canModify && (
        <div class="field">
          <label for="plan-image">Plan image (PNG or JPEG, at most 2 MiB)</label>
          <input id="plan-image" type="file" accept="image/png,image/jpeg" disabled={busy} onChange={(e) => void upload((e.target as HTMLInputElement).files?.[0])} />
        </div>
      )}
      {!plan.image && <p class="empty">This plan has no image yet{p.canModify ? ': choose one above' : ''}.</p>}
      {image.error && <p class="error" role="alert">{image.error.message}</p>}
      {plan.image && (
        <div class="plan" ref={(el) => { box.current = el; if (el) el.style.aspectRatio = `${plan.image!.width} / ${plan.image!.height}`; }} onClick={clickImage}>
          {image.url ? <img src={image.url} alt={`Plan ${plan.name}`} /> : <p class="loading" aria-busy="true">Loading…</p>}
          {placements.filter((q) => byId.has(q.device)).map((q) => (
            <button type="button" class="pin" aria-label={`Device ${byId.get(q.device)!.name}`} title={byId.get(q.device)!.name}
              ref={(el) => { if (el) { el.style.left = percent(q.x); el.style.top = percent(q.y); } }}
              onClick={(e) => { e.stopPropagation(); setPicked(q.device); }}>
              <span>{byId.get(q.device)!.name}</span>
            </button>
          ))}
        </div>
      )}
      {pickedDevice && pickedAt && (
        <InfoBox device={pickedDevice} where={`On ${plan.name} at ${percent(pickedAt.x)} from the left, ${percent(pickedAt.y)} from the top`} channels={channels.data || []} ctx={p.ctx} onClose={() => setPicked(null)} key={`${picked}-${channels.data?.length}`} />
      )}
      {p.canModify && plan.image && (
        <form class="inline" aria-label="Place a device" onSubmit={(e) => { e.preventDefault(); place(placing, Number(x) / 100, Number(y) / 100); }}>
          <label for="place-device">Device to place (then click the plan, or give x and y)</label>
          <select id="place-device" value={placing} onChange={(e) => setPlacing((e.target as HTMLSelectElement).value)}>
            {p.devices.map((d) => <option value={d.id}>{d.name}</option>)}
          </select>
          <label for="place-x">x %</label>
          <input id="place-x" type="number" min={0} max={100} step="any" value={x} onInput={(e) => setX((e.target as HTMLInputElement).value)} />
          <label for="place-y">y %</label>
          <input id="place-y" type="number" min={0} max={100} step="any" value={y} onInput={(e) => setY((e.target as HTMLInputElement).value)} />
          <button type="submit" disabled={!placing}>Place</button>
          {placing && placements.some((q) => q.device === placing) && (
            <button type="button" onClick={() => { setPlacements(placements.filter((q) => q.device !== placing)); setDirty(true); }}>Remove from the plan</button>
          )}
          <button type="button" onClick={() => void save()} disabled={!dirty || busy}>Save placements</button>
          {dirty && <span class="muted" role="status">Placements not saved yet.</span>}
        </form>
      )}
      <FormError error={error} />
    </div>
  );
}

export function Plans({ ctx, devices }: { ctx: Ctx; devices: Device[] | undefined }) {
  const views = useLoad<SavedView[]>(listViews, [ctx.org.id]);
  const plans = (views.data || []).filter((v) => v.kind === 'plan');
  const [pickedId, setPickedId] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const canModify = ctx.me.permissions.modify || ctx.me.permissions.administrator;
  const plan = plans.find((v) => v.id === pickedId) || plans[0] || null;

  async function create(e: Event) {
    e.preventDefault();
    try {
      const v = await api<SavedView>('POST', '/api/v1/views', { name: name.trim(), kind: 'plan', channels: loadView(ctx.org.id).channels.map((c) => c.id) });
      setPickedId(v.id);
      setName('');
      setError(null);
      views.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  }
  async function remove() {
    if (!plan) return;
    try {
      await api('DELETE', `/api/v1/views/${plan.id}`);
      setPickedId('');
      setError(null);
      views.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  }
  return (
    <section aria-label="Plans">
      <h2>Plans</h2>
      <State loading={views.loading && !views.data} error={views.error} empty={!plans.length && !canModify} emptyText="No plan yet: a member with the Modify permission can add one.">
        {plans.length > 0 && (
          <div class="inline">
            <label for="plan-pick">Plan</label>
            <select id="plan-pick" value={plan?.id || ''} onChange={(e) => setPickedId((e.target as HTMLSelectElement).value)}>
              {plans.map((v) => <option value={v.id}>{v.name}</option>)}
            </select>
            {canModify && <button type="button" onClick={() => void remove()}>Delete this plan</button>}
          </div>
        )}
        {plan && devices && <Plan plan={plan} ctx={ctx} devices={devices} canModify={canModify} reload={views.reload} key={`${plan.id}-${plan.updatedAt}`} />}
        {canModify && (
          <form class="inline" onSubmit={create} aria-label="New plan">
            <label for="plan-name">New plan named</label>
            <input id="plan-name" value={name} maxLength={50} required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
            <button type="submit">Create the plan</button>
            <span class="muted">It shows the channels of the current view.</span>
          </form>
        )}
      </State>
      <FormError error={error} />
    </section>
  );
}
