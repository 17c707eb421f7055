// A component loaded on first use (its own chunk, like uPlot's): shows
// "Loading…" meanwhile and, when the chunk fails to load (a deploy replaced
// it, the network dropped), the reason and a retry button. `lazyModule`:
// pieces of a page that can wait for their chunk (rendered once it is in).
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

/**
 * A hook giving a module loaded on first use (its own chunk): null until it
 * has loaded, and while it cannot (what it renders is then simply absent;
 * the next mount tries again).
 */
export function lazyModule<T>(load: () => Promise<T>): () => T | null {
  let loaded: T | null = null;
  let pending: Promise<T> | null = null;
  return function useModule(): T | null {
    const [, setTick] = useState(0);
    useEffect(() => {
      if (loaded) return;
      let live = true;
      pending ??= load().then(
        (m) => (loaded = m),
        (e: unknown) => {
          pending = null;
          throw e;
        },
      );
      pending.then(() => live && setTick((t) => t + 1), () => {});
      return () => {
        live = false;
      };
    }, []);
    return loaded;
  };
}
