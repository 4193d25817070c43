// Saved views: the organization's views of one kind, opened as the current view, saved from it
// (Modify) and deleted. Shown above the static chart, the real-time chart and the map.
import { useState } from 'preact/hooks';
import { api, ApiError } from './api';
import type { Ctx } from './main';
import { FormError, useLoad } from './ui';
import { KIND_NAMES, listViews, openView, saveCurrentAs, SavedView, ViewKind } from './view';

export function SavedViews(p: { ctx: Ctx; kind: ViewKind; onOpen: () => void }) {
  const views = useLoad<SavedView[]>(listViews, [p.ctx.org.id]);
  const mine = (views.data || []).filter((v) => v.kind === p.kind);
  const [picked, setPicked] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [note, setNote] = useState('');
  const canModify = p.ctx.me.permissions.modify || p.ctx.me.permissions.administrator;
  const chosen = mine.find((v) => v.id === picked) || null;
  const what = KIND_NAMES[p.kind].toLowerCase();

  async function open() {
    if (!chosen) return;
    try {
      const v = await openView(p.ctx.org.id, chosen);
      const lost = chosen.channels.length - v.channels.length;
      setNote(`Opened “${chosen.name}”${lost ? ` (${lost} channel${lost > 1 ? 's' : ''} no longer exist)` : ''}.`);
      setError(null);
      p.onOpen();
    } catch (e) {
      setError(e as ApiError);
    }
  }
  async function save(e: Event) {
    e.preventDefault();
    try {
      const v = await saveCurrentAs(p.ctx.org.id, name.trim(), p.kind);
      setNote(`Saved “${v.name}” for everyone in the organization.`);
      setName('');
      setPicked(v.id);
      setError(null);
      views.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  }
  async function remove() {
    if (!chosen) return;
    try {
      await api('DELETE', `/api/v1/views/${chosen.id}`);
      setNote(`Deleted “${chosen.name}”.`);
      setPicked('');
      setError(null);
      views.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  }
  return (
    <section class="saved-views" aria-label="Saved views">
      <div class="inline">
        <label for={`views-${p.kind}`}>Saved {what} views</label>
        <select id={`views-${p.kind}`} value={picked} onChange={(e) => setPicked((e.target as HTMLSelectElement).value)} disabled={views.loading}>
          <option value="">{views.loading ? 'Loading…' : mine.length ? 'Choose a view' : 'None saved yet'}</option>
          {mine.map((v) => <option value={v.id}>{v.name} ({v.channels.length} channels)</option>)}
        </select>
        <button type="button" onClick={() => void open()} disabled={!chosen}>Open</button>
        {canModify && <button type="button" onClick={() => void remove()} disabled={!chosen}>Delete</button>}
      </div>
      {canModify ? (
        <form class="inline" onSubmit={save} aria-label="Save the current view">
          <label for={`view-name-${p.kind}`}>Save the current channels as</label>
          <input id={`view-name-${p.kind}`} name="name" value={name} maxLength={50} required placeholder="View name" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          <button type="submit">Save view</button>
        </form>
      ) : <p class="muted">Saving views needs the Modify permission.</p>}
      {note && <p class="muted" role="status">{note}</p>}
      <FormError error={error || views.error} />
    </section>
  );
}
