// uPlot wiring, loaded on demand (host detail only) to keep the first load small.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartHandle {
  setData(xs: number[], ys: (number | null)[]): void;
  setSize(width: number, height: number): void;
  destroy(): void;
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export function createChart(
  el: HTMLElement, label: string, colorVar: string, xs: number[], ys: (number | null)[], width: number, height: number,
): ChartHandle {
  const stroke = cssVar(colorVar, '#3b82f6');
  const axis = cssVar('--muted', '#6b7280');
  const grid = cssVar('--border', '#e5e7eb');
  const axisOpts = { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const plot = new uPlot(
    {
      width,
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: [0, 100] } },
      axes: [axisOpts, { ...axisOpts, size: 54, values: (_u: uPlot, vals: number[]) => vals.map((v) => `${v}%`) }],
      series: [
        {},
        { label, stroke, width: 1.5, fill: `${stroke}22`, points: { show: false }, spanGaps: false },
      ],
    },
    [xs, ys],
    el,
  );
  return {
    setData: (x, y) => plot.setData([x, y]),
    setSize: (w, h) => plot.setSize({ width: w, height: h }),
    destroy: () => plot.destroy(),
  };
}
