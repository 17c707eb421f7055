// A time-series chart (0–100 %) on uPlot. uPlot is imported lazily; the
// chart follows its container's width and is rebuilt when the theme changes
// (colours come from CSS variables).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ChartHandle } from './chartImpl';

export const THEME_EVENT = 'vigil-theme';

export function TimeChart({ testid, label, colorVar, xs, ys, height = 180, empty = 'No data in this range' }: {
  testid: string; label: string; colorVar: string; xs: number[]; ys: (number | null)[]; height?: number;
  /** What an empty chart says. */
  empty?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<ChartHandle | null>(null);
  const data = useRef({ xs, ys });
  data.current = { xs, ys };
  const [theme, setTheme] = useState(0);
  const [failed, setFailed] = useState<string | null>(null);

  useEffect(() => {
    const fn = () => setTheme((t) => t + 1);
    window.addEventListener(THEME_EVENT, fn);
    // Without a stored choice the colours follow the system scheme: redraw when it flips.
    const media = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;
    media?.addEventListener?.('change', fn);
    return () => {
      window.removeEventListener(THEME_EVENT, fn);
      media?.removeEventListener?.('change', fn);
    };
  }, []);

  useEffect(() => {
    let cancelled = false;
    let observer: ResizeObserver | null = null;
    const el = box.current;
    if (!el) return;
    import('./chartImpl').then(
      ({ createChart }) => {
        if (cancelled) return;
        const width = Math.max(200, el.clientWidth);
        try {
          chart.current = createChart(el, label, colorVar, data.current.xs, data.current.ys, width, height);
        } catch (e) {
          setFailed(`the chart could not be drawn (${e instanceof Error ? e.message : String(e)})`);
          return;
        }
        if (typeof ResizeObserver === 'function') {
          observer = new ResizeObserver((entries) => {
            const w = Math.floor(entries[0]?.contentRect.width ?? 0);
            if (w > 0) chart.current?.setSize(w, height);
          });
          observer.observe(el);
        }
      },
      (e: unknown) => setFailed(`the chart library did not load (${e instanceof Error ? e.message : String(e)})`),
    );
    return () => {
      cancelled = true;
      observer?.disconnect();
      chart.current?.destroy();
      chart.current = null;
    };
  }, [theme, label, colorVar, height]);

  useEffect(() => {
    chart.current?.setData(xs, ys);
  }, [xs, ys]);

  return (
    <div class="chart" data-testid={testid} data-points={xs.length}>
      {failed ? <div class="empty">{failed}</div> : null}
      <div ref={box} class="chart-canvas" style={{ minHeight: `${height}px` }} />
      {xs.length === 0 ? <div class="chart-empty">{empty}</div> : null}
    </div>
  );
}
