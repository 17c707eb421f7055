// A labelled percentage bar. The fill is scaled with a transform (no layout
// work on updates); colour steps at 70 % and 85 %.
import { clampPercent, formatPercent } from '../format';

export function level(p: number | null | undefined): 'ok' | 'warn' | 'crit' | 'none' {
  if (p === null || p === undefined || !Number.isFinite(p)) return 'none';
  return p >= 85 ? 'crit' : p >= 70 ? 'warn' : 'ok';
}

export function Bar({ label, value, testid, detail }: {
  label: string; value: number | null | undefined; testid?: string; detail?: string;
}) {
  const pct = clampPercent(value);
  return (
    <div class="bar-item">
      <span class="bar-label">{label}</span>
      <div class="bar" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
        <div class={`bar-fill lvl-${level(value)}`} style={{ transform: `scaleX(${pct / 100})` }} />
      </div>
      <span class="bar-value" data-testid={testid}>{formatPercent(value)}</span>
      {detail ? <span class="bar-detail">{detail}</span> : null}
    </div>
  );
}
