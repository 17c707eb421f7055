// The 404 page.
import { onLinkClick } from '../router';

export function NotFound({ path }: { path: string }) {
  return (
    <div class="empty big" data-testid="not-found">
      <h1>Page not found</h1>
      <p>Nothing lives at <code>{path}</code>.</p>
      <a href="/" onClick={onLinkClick}>Back to the dashboard</a>
    </div>
  );
}
