// A component loaded on first use (its own chunk, like uPlot's): shows
// "Loading…" meanwhile and, when the chunk fails to load (a deploy replaced
// it, the network dropped), the reason and a retry button.
import type { ComponentType, FunctionComponent } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export function lazy<P extends object>(load: () => Promise<ComponentType<P>>, what: string): FunctionComponent<P> {
  let loaded: ComponentType<P> | null = null;
  let pending: Promise<ComponentType<P>> | null = null;
  const get = () => {
    if (!pending) {
      pending = load().then(
        (c) => (loaded = c),
        (e: unknown) => {
          pending = null;
          throw e;
        },
      );
    }
    return pending;
  };
  function Lazy(props: P) {
    const [, setTick] = useState(0);
    const [error, setError] = useState<string | null>(null);
    useEffect(() => {
      if (loaded || error) return;
      let live = true;
      get().then(
        () => live && setTick((t) => t + 1),
        (e: unknown) => live && setError(e instanceof Error ? e.message : String(e)),
      );
      return () => {
        live = false;
      };
    }, [error]);
    if (loaded) {
      const C = loaded;
      return <C {...props} />;
    }
    if (error) {
      return (
        <div class="empty" role="alert" data-testid="lazy-error">
          {what} did not load ({error}).{' '}
          <button type="button" class="btn btn-small" onClick={() => setError(null)}>Retry</button>
        </div>
      );
    }
    return <div class="empty" data-testid="lazy-loading">Loading {what}…</div>;
  }
  (Lazy as unknown as { displayName: string }).displayName = `Lazy(${what})`;
  return Lazy;
}
