// The current view of an organization: the channels chosen in Structure and how the charts
// group them, kept per organization in this browser (the working copy); views saved for the
// whole organization are on the server (below).

import { api, ApiError, get } from './api';

export type ChosenChannel = {
  id: string;
  name: string;
  communicationId: string;
  unit: string;
  grouping: 'S' | 'M';
  device: string;
  deviceName: string;
  deviceUuid: string;
  sensor: string;
  sensorName: string;
};

export type View = {
  channels: ChosenChannel[];
  groupBy: 'device' | 'sensor' | 'unit';
  tileUrl: string;
};

const key = (org: string) => `fieldline.view.${org}`;

export function loadView(org: string): View {
  try {
    const v = JSON.parse(localStorage.getItem(key(org)) || 'null');
    if (v && Array.isArray(v.channels)) return { groupBy: 'device', tileUrl: '', ...v };
  } catch {
    /* a damaged entry starts empty */
  }
  return { channels: [], groupBy: 'device', tileUrl: '' };
}

export function saveView(org: string, v: View) {
  localStorage.setItem(key(org), JSON.stringify(v));
}

// Views saved on the server, shared by every member of the organization (`/api/v1/views`):
// a name, a kind, the channels and the settings. Opening one makes it the current view above.

export type ViewKind = 'static_chart' | 'realtime_chart' | 'map' | 'plan';
export type Placement = { device: string; x: number; y: number };
export type SavedView = {
  id: string;
  name: string;
  kind: ViewKind;
  channels: string[];
  settings: { groupBy?: View['groupBy']; tileUrl?: string };
  placements: Placement[];
  image: { contentType: string; width: number; height: number; bytes: number; sha256: string } | null;
  createdAt: number;
  updatedAt: number;
};

export const KIND_NAMES: Record<ViewKind, string> = {
  static_chart: 'Static chart',
  realtime_chart: 'Real-time chart',
  map: 'Map',
  plan: 'Plan',
};

export const listViews = () => get<SavedView[]>('/api/v1/views');

/// Saves the current view under `name` as a view of `kind`.
export function saveCurrentAs(org: string, name: string, kind: ViewKind): Promise<SavedView> {
  const v = loadView(org);
  return api('POST', '/api/v1/views', {
    name,
    kind,
    channels: v.channels.map((c) => c.id),
    settings: { groupBy: v.groupBy, tileUrl: v.tileUrl },
  });
}

/// The channels of a saved view with their sensor and device, as Structure chooses them; the
/// ones deleted since it was saved are left out.
/// (The ones this browser's current view already has are taken from it, without a request:
/// the admin API limits each member to 100 requests a minute.)
export async function resolveChannels(ids: string[], org?: string): Promise<ChosenChannel[]> {
  const known = new Map(org ? loadView(org).channels.map((c) => [c.id, c]) : []);
  const devices = new Map<string, Promise<any>>();
  const sensors = new Map<string, Promise<any>>();
  const once = (m: Map<string, Promise<any>>, path: string) => {
    if (!m.has(path)) m.set(path, get(path));
    return m.get(path)!;
  };
  const out = await Promise.all(
    ids.map(async (id) => {
      if (known.has(id)) return known.get(id)!;
      try {
        const c = await get<any>(`/api/v1/channels/${id}`);
        const [d, s] = await Promise.all([once(devices, `/api/v1/devices/${c.device}`), once(sensors, `/api/v1/sensors/${c.sensor}`)]);
        const chosen: ChosenChannel = { id: c.id, name: c.name, communicationId: c.communicationId, unit: c.unit || '', grouping: c.grouping || 'M', device: d.id, deviceName: d.name, deviceUuid: d.uuid, sensor: s.id, sensorName: s.name };
        return chosen;
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    }),
  );
  return out.filter((c): c is ChosenChannel => c !== null);
}

/// Makes a saved view the current one (its channels, grouping and tile server).
export async function openView(org: string, v: SavedView): Promise<View> {
  const channels = await resolveChannels(v.channels);
  const current = loadView(org);
  const next: View = { channels, groupBy: v.settings.groupBy || current.groupBy, tileUrl: v.settings.tileUrl ?? current.tileUrl };
  saveView(org, next);
  return next;
}
