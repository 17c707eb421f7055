// Host status badge: a coloured dot and the status word.
import type { HostStatus } from '../api/types';

export function StatusBadge({ status, testid }: { status: HostStatus; testid?: string }) {
  return (
    <span class={`status status-${status}`} data-testid={testid} data-status={status}>
      <span class="dot" aria-hidden="true" />
      {status}
    </span>
  );
}
