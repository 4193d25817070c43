import { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from './api';

/// A labelled input with the server's error beside it.
export function Field(p: { label: string; name: string; value: string; onInput: (v: string) => void; error?: ApiError | null; type?: 'text' | 'email' | 'password' | 'number'; required?: boolean; autocomplete?: string }) {
  const id = `f-${p.name}`;
  const err = p.error && p.error.about(p.name) ? p.error.message : '';
  return (
    <div class="field">
      <label for={id}>{p.label}</label>
      <input id={id} name={p.name} {...({ type: p.type || 'text' } as object)} value={p.value} required={p.required} autocomplete={p.autocomplete}
        aria-invalid={err ? 'true' : undefined} aria-describedby={err ? `${id}-err` : undefined}
        onInput={(e) => p.onInput((e.target as HTMLInputElement).value)} />
      {err && <span class="field-error" id={`${id}-err`} role="alert">{err}</span>}
    </div>
  );
}

/// An error not tied to one field, in words.
export function FormError(p: { error: ApiError | null; fields?: string[] }) {
  if (!p.error) return null;
  if (p.fields && p.fields.some((f) => p.error!.about(f))) return null;
  return <p class="error" role="alert">{p.error.message}</p>;
}

/// Loads `load()` and shows loading, error and empty states around `children`.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: ApiError | null; loading: boolean; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load().then(
      (d) => { if (live) { setData(d); setError(null); setLoading(false); } },
      (e) => { if (live) { setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e))); setLoading(false); } },
    );
    return () => { live = false; };
  }, [...deps, n]);
  return { data, error, loading, reload: () => setN((x) => x + 1) };
}

export function State(p: { loading: boolean; error: ApiError | null; empty?: boolean; emptyText?: string; children?: ComponentChildren }) {
  if (p.error) return <p class="error" role="alert">{p.error.message}</p>;
  if (p.loading) return <p class="loading" aria-busy="true">Loading…</p>;
  if (p.empty) return <p class="empty">{p.emptyText || 'Nothing here yet.'}</p>;
  return <>{p.children}</>;
}

export function download(name: string, blob: Blob) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/// A button's API call: then `reload()`, and the refusal, if any, to `setError` (in words).
export function action(setError: (e: ApiError | null) => void, reload: () => void) {
  return async (method: string, path: string, body?: unknown) => {
    try {
      await api(method, path, body);
      setError(null);
    } catch (e) {
      setError(e as ApiError);
    }
    reload();
  };
}
