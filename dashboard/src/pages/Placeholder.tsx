// Routed pages whose features arrive with later issues, and the 404 page.
import { onLinkClick } from '../router';

export function ComingSoon({ title, what }: { title: string; what: string }) {
  return (
    <div class="empty big" data-testid="coming-soon">
      <h1>{title}</h1>
      <p>Coming soon: {what}</p>
      <a href="/" onClick={onLinkClick}>Back to the dashboard</a>
    </div>
  );
}

export function NotFound({ path }: { path: string }) {
  return (
    <div class="empty big" data-testid="not-found">
      <h1>Page not found</h1>
      <p>Nothing lives at <code>{path}</code>.</p>
      <a href="/" onClick={onLinkClick}>Back to the dashboard</a>
    </div>
  );
}
