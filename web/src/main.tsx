import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, currentSession, get, logout, onSession, Session, setSession } from './api';
import { Field, FormError, State, useLoad } from './ui';
import { Structure } from './structure';
import { StaticChart, RealtimeChart } from './chart';
import { People } from './people';
import { MapView } from './map';
import { Notifications } from './notifications';
import { Incidents } from './incidents';
import { SavedViews } from './views';
import type { ViewKind } from './view';
import './style.css';

export type Me = {
  user: { id: string; email: string };
  organization: string;
  permissions: { administrator: boolean; modify: boolean; download: boolean };
  memberships: { organization: string; name?: string; permissions: Me['permissions'] }[];
};
export type Org = { id: string; name: string; timeZone: string; subscription: any; autoRegister: boolean };
export type Ctx = { me: Me; org: Org; reloadOrg: () => void };

const SCREENS: [string, string][] = [
  ['/structure', 'Structure'],
  ['/chart', 'Static chart'],
  ['/realtime', 'Real-time chart'],
  ['/map', 'Map and plans'],
  ['/people', 'People'],
  // Incidents share the notifications' route: the console component serves index.html only for
  // its known routes (functions/console APP_ROUTES), so a reload keeps working.
  ['/notifications', 'Incidents and notifications'],
];

export function navigate(path: string) {
  history.pushState(null, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const f = () => setPath(location.pathname);
    addEventListener('popstate', f);
    return () => removeEventListener('popstate', f);
  }, []);
  return path;
}

function Login() {
  const [mode, setMode] = useState<'login' | 'signup'>('login');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [organization, setOrganization] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    try {
      const answer = mode === 'login'
        ? await api('POST', '/api/v1/login', { email, password })
        : await api('POST', '/api/v1/signup', { organization, email, password });
      setSession(answer);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main class="login">
      <h1>Fieldline</h1>
      <form onSubmit={submit} aria-label={mode === 'login' ? 'Log in' : 'Sign up'}>
        <h2>{mode === 'login' ? 'Log in' : 'Create an organization'}</h2>
        {mode === 'signup' && <Field label="Organization name" name="organization" value={organization} onInput={setOrganization} error={error} required />}
        <Field label="E-mail" name="email" type="email" value={email} onInput={setEmail} error={error} required autocomplete="username" />
        <Field label="Password" name="password" type="password" value={password} onInput={setPassword} error={error} required autocomplete={mode === 'login' ? 'current-password' : 'new-password'} />
        <FormError error={error} fields={['organization', 'email', 'password']} />
        <button type="submit" disabled={busy}>{mode === 'login' ? 'Log in' : 'Sign up'}</button>
        <button type="button" class="link" onClick={() => { setMode(mode === 'login' ? 'signup' : 'login'); setError(null); }}>
          {mode === 'login' ? 'Create an organization instead' : 'I have an account: log in'}
        </button>
      </form>
    </main>
  );
}

/// `/invitation/<token>`: the link of an invitation e-mail.
function AcceptInvitation(p: { token: string; session: Session | null }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  async function accept(e: Event) {
    e.preventDefault();
    try {
      const body: any = { token: p.token };
      if (!p.session) body.password = password;
      setSession(await api('POST', '/api/v1/invitations/accept', body));
      navigate('/structure');
    } catch (err) {
      setError(err as ApiError);
    }
  }
  return (
    <main class="login">
      <h1>Fieldline</h1>
      <form onSubmit={accept} aria-label="Accept the invitation">
        <h2>Join an organization</h2>
        {p.session
          ? <p>You are signed in: accepting adds this organization to your account.</p>
          : <Field label="Choose a password (at least 12 characters)" name="password" type="password" value={password} onInput={setPassword} error={error} required autocomplete="new-password" />}
        <FormError error={error} fields={['password']} />
        <button type="submit">Accept the invitation</button>
      </form>
    </main>
  );
}

/// The kind of saved view a screen shows.
function savedKind(path: string): ViewKind | null {
  if (path.startsWith('/chart')) return 'static_chart';
  if (path.startsWith('/realtime')) return 'realtime_chart';
  if (path.startsWith('/map')) return 'map';
  return null;
}

function Shell(p: { session: Session; path: string }) {
  const me = useLoad<Me>(() => get('/api/v1/me'), [p.session.organization]);
  const org = useLoad<Org>(() => get('/api/v1/organization'), [p.session.organization]);
  const [switchError, setSwitchError] = useState<ApiError | null>(null);
  // Bumped when a saved view is opened: the screen starts again from the new current view.
  const [opened, setOpened] = useState(0);
  const path = SCREENS.some(([s]) => p.path.startsWith(s)) ? p.path : '/structure';
  useEffect(() => {
    if (path !== p.path) history.replaceState(null, '', path);
  }, [path]);
  async function switchTo(id: string) {
    try {
      const old = currentSession();
      setSession(await api('POST', '/api/v1/switch', { organization: id }));
      if (old) void fetch('/api/v1/logout', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: old.refresh_token }) });
      setSwitchError(null);
    } catch (e) {
      setSwitchError(e as ApiError);
    }
  }
  const ready = me.data && org.data;
  const ctx: Ctx | null = ready ? { me: me.data!, org: org.data!, reloadOrg: org.reload } : null;
  return (
    <div class="shell">
      <header>
        <span class="brand">Fieldline</span>
        {me.data && (
          <label class="org-picker">
            <span>Organization</span>
            <select aria-label="Organization" value={p.session.organization} onChange={(e) => void switchTo((e.target as HTMLSelectElement).value)}>
              {me.data.memberships.map((m) => (
                <option value={m.organization}>{m.name || m.organization}</option>
              ))}
            </select>
          </label>
        )}
        {me.data && <span class="who">{me.data.user.email}</span>}
        <button type="button" onClick={() => void logout()}>Log out</button>
      </header>
      {switchError && <p class="error" role="alert">{switchError.message}</p>}
      <nav aria-label="Screens">
        {SCREENS.map(([href, label]) => (
          <a href={href} aria-current={path.startsWith(href) ? 'page' : undefined} onClick={(e) => { e.preventDefault(); navigate(href); }}>{label}</a>
        ))}
      </nav>
      <main>
        <State loading={!ready && !me.error && !org.error} error={me.error || org.error}>
          {ctx && (
            <>
              {ctx.org && <p class="zone">Times in {ctx.org.timeZone}</p>}
              {savedKind(path) && <SavedViews ctx={ctx} kind={savedKind(path)!} onOpen={() => setOpened((n) => n + 1)} key={`${ctx.org.id}-${savedKind(path)}`} />}
              {path.startsWith('/structure') && <Structure ctx={ctx} key={ctx.org.id} />}
              {path.startsWith('/chart') && <StaticChart ctx={ctx} key={`${ctx.org.id}-${opened}`} />}
              {path.startsWith('/realtime') && <RealtimeChart ctx={ctx} key={`${ctx.org.id}-${opened}`} />}
              {path.startsWith('/map') && <MapView ctx={ctx} key={`${ctx.org.id}-${opened}`} />}
              {path.startsWith('/people') && <People ctx={ctx} key={ctx.org.id} />}
              {path.startsWith('/notifications') && <Incidents ctx={ctx} key={ctx.org.id} />}
              {path.startsWith('/notifications') && <Notifications ctx={ctx} key={ctx.org.id} />}
            </>
          )}
        </State>
      </main>
    </div>
  );
}

function App() {
  const [session, set] = useState<Session | null>(currentSession());
  const path = usePath();
  useEffect(() => onSession(set), []);
  const invitation = path.match(/^\/invitation\/([^/]+)$/);
  if (invitation) return <AcceptInvitation token={decodeURIComponent(invitation[1])} session={session} />;
  if (!session) return <Login />;
  return <Shell session={session} path={path} />;
}

const root = document.getElementById('app')!;
root.textContent = '';
render(<App />, root);
document.documentElement.dataset.ready = 'true';

if ('serviceWorker' in navigator && location.protocol !== 'file:') {
  void navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => undefined);
}
