import { useState } from 'preact/hooks';
import { ApiError, get } from './api';
import type { Ctx } from './main';
import { formatTime } from './time';
import { action, State, useLoad } from './ui';

/// The notifier's notifications (threshold crossings and reminders): read or not, and the
/// buttons that confirm (mark read) or dismiss them.
export function Notifications({ ctx }: { ctx: Ctx }) {
  const list = useLoad<any>(() => get('/api/v1/notifications'), []);
  const [error, setError] = useState<ApiError | null>(null);
  const items: any[] = Array.isArray(list.data) ? list.data : list.data?.notifications || [];
  const act = action(setError, list.reload);
  return (
    <section aria-label="Notifications">
      <h2>Notifications</h2>
      {error && <p class="error" role="alert">{error.message}</p>}
      <State loading={list.loading} error={list.error} empty={!items.length} emptyText="No notifications.">
        <ul class="notifications">
          {items.map((n) => (
            <li class={n.readAt ? 'read' : 'unread'}>
              <strong>{n.title}</strong> <span class="muted">{n.kind} · {formatTime(n.createdAt, ctx.org.timeZone)} · {n.readAt ? 'confirmed' : 'new'}</span>
              <p>{n.body}</p>
              {!n.readAt && <button type="button" onClick={() => void act('POST', `/api/v1/notifications/${n.id}/read`)}>Confirm</button>}
              <button type="button" onClick={() => void act('DELETE', `/api/v1/notifications/${n.id}`)}>Dismiss</button>
            </li>
          ))}
        </ul>
      </State>
    </section>
  );
}
