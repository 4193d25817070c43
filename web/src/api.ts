// The console's one door to Fieldline's APIs: the admin API's session (access token kept in
// memory and in localStorage with its refresh token, refreshed in the background a minute
// before it expires, and once more on a 401), JSON calls, and InfluxQL reads through /query.

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
  /// Whether the server's message is about `field` (the admin API names the field first, or
  /// quotes it): forms show the message beside that field.
  about(field: string): boolean {
    const m = this.message.toLowerCase();
    const f = field.toLowerCase();
    return m.startsWith(f + ':') || m.startsWith(f + ' ') || m.includes('`' + f + '`') || m.includes('"' + f + '"') || m.includes(' ' + f + ':');
  }
}

export type Session = {
  access_token: string;
  refresh_token: string;
  organization: string;
  user: string;
  expires_at: number;
};

const KEY = 'fieldline.session';
let session: Session | null = null;
try {
  session = JSON.parse(localStorage.getItem(KEY) || 'null');
} catch {
  session = null;
}
const listeners = new Set<(s: Session | null) => void>();
let timer: number | undefined;

export function currentSession(): Session | null {
  return session;
}

export function onSession(f: (s: Session | null) => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

export function setSession(answer: any | null) {
  session = answer
    ? {
        access_token: answer.access_token,
        refresh_token: answer.refresh_token,
        organization: answer.organization,
        user: answer.user,
        expires_at: Date.now() + answer.expires_in * 1000,
      }
    : null;
  if (session) localStorage.setItem(KEY, JSON.stringify(session));
  else localStorage.removeItem(KEY);
  schedule();
  listeners.forEach((f) => f(session));
}

function schedule() {
  if (timer) clearTimeout(timer);
  if (!session) return;
  const wait = Math.max(1000, session.expires_at - Date.now() - 60_000);
  timer = window.setTimeout(() => void refresh(), wait);
}

let refreshing: Promise<boolean> | null = null;
/// Exchanges the refresh token (once at a time: each works only once).
export function refresh(): Promise<boolean> {
  if (!session) return Promise.resolve(false);
  if (!refreshing) {
    const token = session.refresh_token;
    refreshing = fetch('/api/v1/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: token }),
    })
      .then(async (r) => {
        if (r.ok) {
          setSession(await r.json());
          return true;
        }
        if (r.status === 401) setSession(null);
        return false;
      })
      .catch(() => false)
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}
schedule();

async function errorOf(r: Response): Promise<ApiError> {
  const text = await r.text();
  try {
    const j = JSON.parse(text);
    if (j && typeof j.message === 'string') return new ApiError(r.status, j.code || String(r.status), j.message);
    if (j && typeof j.error === 'string') return new ApiError(r.status, String(r.status), j.error);
  } catch {
    /* not JSON */
  }
  return new ApiError(r.status, String(r.status), text.trim() || `the server answered ${r.status} ${r.statusText}`);
}

/// A call with the session's Bearer token; a 401 refreshes the session once and retries.
export async function request(method: string, path: string, body?: unknown, retry = true): Promise<Response> {
  const headers: Record<string, string> = {};
  if (session) headers.authorization = `Bearer ${session.access_token}`;
  // A Blob (a file to upload) goes as its bytes with its own type; anything else as JSON.
  const raw = body instanceof Blob;
  if (raw) headers['content-type'] = (body as Blob).type || 'application/octet-stream';
  else if (body !== undefined) headers['content-type'] = 'application/json';
  let r: Response;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : raw ? (body as Blob) : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network', `Fieldline cannot be reached (${(e as Error).message}).`);
  }
  if (r.status === 401 && retry && session && (await refresh())) return request(method, path, body, false);
  if (!r.ok) throw await errorOf(r);
  return r;
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await request(method, path, body);
  if (r.status === 204) return undefined as T;
  return r.json();
}

export const get = <T = any>(path: string) => api<T>('GET', path);

/// InfluxQL through `/query` (the organization's database, read with the session's token);
/// times in epoch milliseconds. One result per statement.
export async function influx(q: string): Promise<any[]> {
  const r = await request('GET', `/query?epoch=ms&q=${encodeURIComponent(q)}`);
  const j = await r.json();
  for (const res of j.results || []) if (res.error) throw new ApiError(400, 'influxql', res.error);
  return j.results || [];
}

export async function logout() {
  const s = session;
  setSession(null);
  if (s) await fetch('/api/v1/logout', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: s.refresh_token }) }).catch(() => undefined);
}
