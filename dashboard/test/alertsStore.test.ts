// The live alerts store: REST load plus `alert` frames (fired adds,
// acknowledged updates, resolved removes), counts per severity and host,
// ordering against a load in flight, and frames never coalesced away.
import { describe, expect, it, vi } from 'vitest';
import { parseServerMessage } from '../src/api/normalize';
import type { AlertFrame } from '../src/api/types';
import { FrameBatch } from '../src/live/frames';
import { AlertsStore, compareAlerts } from '../src/live/alerts';
import { HostsStore } from '../src/live/store';
import { alert, alertFrame, detail } from './fixtures';

function manualAlerts() {
  const frames: (() => void)[] = [];
  const alerts = new AlertsStore((cb) => frames.push(cb));
  const runFrame = () => frames.splice(0).forEach((cb) => cb());
  return { alerts, frames, runFrame };
}

describe('AlertsStore frames', () => {
  it('fired adds, acknowledged updates, resolved removes', () => {
    const { alerts, runFrame } = manualAlerts();
    alerts.setActive([]);
    const a1 = alert('a1');
    alerts.applyFrame(alertFrame('fired', a1));
    expect(alerts.list().map((a) => a.id)).toEqual(['a1']);
    expect(alerts.get('a1')!.status).toBe('firing');

    alerts.applyFrame(alertFrame('acknowledged', { ...a1, status: 'acknowledged', acknowledged_by: 'ops@example.com', acknowledged_at: '2026-11-24T12:05:00Z' }));
    expect(alerts.get('a1')).toMatchObject({ status: 'acknowledged', acknowledged_by: 'ops@example.com' });
    expect(alerts.summary()).toMatchObject({ total: 1, firing: 0, acknowledged: 1 });

    alerts.applyFrame(alertFrame('resolved', { ...a1, status: 'resolved', resolved_at: '2026-11-24T12:10:00Z' }));
    expect(alerts.get('a1')).toBeUndefined();
    expect(alerts.list()).toEqual([]);
    expect(alerts.summary()).toMatchObject({ total: 0, worst: null });
    runFrame();
  });

  it('counts per severity and per host; the worst severity prefers firing alerts', () => {
    const { alerts } = manualAlerts();
    alerts.setActive([
      alert('a1', { host_id: 'in3', severity: 'warning' }),
      alert('a2', { host_id: 'in3', severity: 'critical', status: 'acknowledged' }),
      alert('a3', { host_id: 'in4', severity: 'info' }),
      alert('a4', { host_id: 'in4', severity: 'warning', silenced: true }),
    ]);
    expect(alerts.summary()).toEqual({
      total: 4, firing: 3, acknowledged: 1, silenced: 1, info: 1, warning: 2, critical: 1, worst: 'warning',
    });
    expect(alerts.host('in3')).toEqual({ count: 2, firing: 1, worst: 'warning' });
    expect(alerts.host('in4')).toEqual({ count: 2, firing: 2, worst: 'warning' });
    expect(alerts.host('nope')).toBeNull();

    alerts.applyFrame(alertFrame('fired', alert('a5', { host_id: 'in4', severity: 'critical' })));
    expect(alerts.summary().worst).toBe('critical');
    expect(alerts.host('in4')).toEqual({ count: 3, firing: 3, worst: 'critical' });
    // only acknowledged alerts: the badge shows their worst severity
    alerts.setActive([alert('b1', { host_id: 'in5', severity: 'critical', status: 'acknowledged' })]);
    expect(alerts.host('in5')).toEqual({ count: 1, firing: 0, worst: 'critical' });
  });

  it('sorts critical first, then firing before acknowledged, then newest first', () => {
    const list = [
      alert('old', { fired_at: '2026-11-24T10:00:00Z' }),
      alert('new', { fired_at: '2026-11-24T11:00:00Z' }),
      alert('acked', { status: 'acknowledged', fired_at: '2026-11-24T12:00:00Z' }),
      alert('crit', { severity: 'critical', fired_at: '2026-11-24T09:00:00Z' }),
      alert('info', { severity: 'info', fired_at: '2026-11-24T13:00:00Z' }),
    ];
    expect([...list].sort(compareAlerts).map((a) => a.id)).toEqual(['crit', 'new', 'old', 'acked', 'info']);
  });

  it('never moves an alert backwards, and a resolved id never comes back', () => {
    const { alerts } = manualAlerts();
    alerts.setActive([]);
    const a1 = alert('a1');
    alerts.applyFrame(alertFrame('acknowledged', { ...a1, status: 'acknowledged' }));
    alerts.applyFrame(alertFrame('fired', a1)); // late
    expect(alerts.get('a1')!.status).toBe('acknowledged');
    alerts.applyFrame(alertFrame('resolved', { ...a1, status: 'resolved' }));
    alerts.applyFrame(alertFrame('acknowledged', { ...a1, status: 'acknowledged' })); // late
    expect(alerts.get('a1')).toBeUndefined();
    alerts.setActive([a1]); // a load answered before the resolution
    expect(alerts.get('a1')).toBeUndefined();
  });

  it('a load in flight keeps what frames added or resolved meanwhile', () => {
    const { alerts } = manualAlerts();
    alerts.setActive([alert('a1'), alert('a2')]);
    const since = alerts.beginLoad();
    alerts.applyFrame(alertFrame('fired', alert('a3')));
    alerts.applyFrame(alertFrame('resolved', { ...alert('a1'), status: 'resolved' }));
    alerts.applyFrame(alertFrame('acknowledged', { ...alert('a2'), status: 'acknowledged' }));
    // the answer was computed before those frames
    alerts.setActive([alert('a1'), alert('a2')], since);
    expect(alerts.list().map((a) => `${a.id}:${a.status}`).sort()).toEqual(['a2:acknowledged', 'a3:firing']);
    // a later load that no longer lists a3 (resolved while no frame came) drops it
    alerts.setActive([alert('a2', { status: 'acknowledged' })], alerts.beginLoad());
    expect(alerts.list().map((a) => a.id)).toEqual(['a2']);
  });

  it('applies a frame without an alert object from what the frame says', () => {
    const { alerts } = manualAlerts();
    alerts.setActive([]);
    const bare: AlertFrame = { type: 'alert', id: 'x1', event: 'fired', severity: 'critical', host_id: 'in3', message: 'disk full', timestamp: '2026-11-24T12:00:00Z', alert: null };
    alerts.applyFrame(bare);
    expect(alerts.get('x1')).toMatchObject({ severity: 'critical', host_id: 'in3', message: 'disk full', status: 'firing' });
    alerts.applyFrame({ ...bare, event: 'acknowledged' });
    expect(alerts.get('x1')!.status).toBe('acknowledged');
    alerts.applyFrame({ ...bare, event: 'resolved' });
    expect(alerts.get('x1')).toBeUndefined();
  });

  it('tells listeners once per flush, and host listeners only for their host', () => {
    const { alerts, frames, runFrame } = manualAlerts();
    alerts.setActive([]);
    runFrame();
    const all = vi.fn();
    const in3 = vi.fn();
    const in4 = vi.fn();
    alerts.subscribe(all);
    alerts.subscribeHost('in3', in3);
    alerts.subscribeHost('in4', in4);
    for (let i = 0; i < 50; i += 1) alerts.applyFrame(alertFrame('fired', alert(`a${i}`, { host_id: 'in3' })));
    expect(frames).toHaveLength(1);
    expect(all).not.toHaveBeenCalled();
    runFrame();
    expect(all).toHaveBeenCalledTimes(1);
    expect(in3).toHaveBeenCalledTimes(1);
    expect(in4).not.toHaveBeenCalled();
    expect(alerts.summary().total).toBe(50);
    // the badge object keeps its identity until the host's alerts change
    const badge = alerts.host('in3');
    alerts.applyFrame(alertFrame('fired', alert('b1', { host_id: 'in4' })));
    expect(alerts.host('in3')).toBe(badge);
    expect(alerts.host('in4')).toEqual({ count: 1, firing: 1, worst: 'warning' });
  });

  it('a failed first load says unavailable (404) or the error; a failed reload keeps the alerts', () => {
    const { alerts } = manualAlerts();
    alerts.beginLoad();
    expect(alerts.state).toBe('loading');
    alerts.loadFailed(true, 'no api route');
    expect(alerts.state).toBe('unavailable');
    alerts.loadFailed(false, 'cannot reach the server');
    expect([alerts.state, alerts.error]).toEqual(['error', 'cannot reach the server']);
    alerts.setActive([alert('a1')]);
    alerts.loadFailed(false, 'cannot reach the server');
    expect(alerts.state).toBe('ready');
    expect(alerts.list()).toHaveLength(1);
    alerts.clear();
    expect([alerts.state, alerts.list().length]).toEqual(['idle', 0]);
  });
});

describe('alert frames on the live path', () => {
  it('parses the gateway frame with its alert object', () => {
    const a = alert('a1', { mount: '/data', value: null });
    const msg = parseServerMessage(JSON.stringify({ type: 'alert', id: 'a1', event: 'fired', severity: 'warning', host_id: 'in3', message: 'CPU > 80%', timestamp: '2026-11-24T12:00:00Z', alert: a }));
    expect(msg).toEqual({ type: 'alert', id: 'a1', event: 'fired', severity: 'warning', host_id: 'in3', message: 'CPU > 80%', timestamp: '2026-11-24T12:00:00Z', alert: a });
    // no event: the alert's status says what happened
    const acked = parseServerMessage(JSON.stringify({ type: 'alert', id: 'a1', host_id: 'in3', alert: { ...a, status: 'acknowledged' } }));
    expect(acked).toMatchObject({ event: 'acknowledged', severity: 'warning', message: 'CPU > 80%' });
    expect(parseServerMessage(JSON.stringify({ type: 'alert', host_id: 'in3' }))).toBeNull();
  });

  it('every alert frame of a burst reaches the alerts store, whatever the metrics budget', () => {
    const hostFrames: (() => void)[] = [];
    // one host applied per animation frame: the budget is for metrics only
    const hosts = new HostsStore((cb) => hostFrames.push(cb), () => {}, 1);
    hosts.setHosts([detail('in3'), detail('in4')]);
    const alerts = new AlertsStore(() => {});
    hosts.subscribeEvents((m) => m.type === 'alert' && alerts.applyFrame(m));
    const batch = new FrameBatch();
    for (let i = 0; i < 300; i += 1) {
      batch.add({ type: 'metrics', host_id: i % 2 ? 'in3' : 'in4', timestamp: `2026-11-24T12:00:${String(i % 60).padStart(2, '0')}Z`, data: { cpu: i, memory: null, disk: null, containers: null, services_count: null } });
      batch.add(alertFrame('fired', alert(`a${i}`, { host_id: i % 2 ? 'in3' : 'in4' })));
    }
    for (let i = 0; i < 300; i += 2) batch.add(alertFrame('resolved', { ...alert(`a${i}`, { host_id: 'in4' }), status: 'resolved' }));
    const out = batch.take();
    expect(out.filter((f) => f.type === 'alert')).toHaveLength(450);
    hosts.enqueueAll(out);
    expect(alerts.summary().total).toBe(150);
    expect(alerts.host('in3')!.count).toBe(150);
    expect(alerts.host('in4')).toBeNull();
    // same through raw socket text parsed within the per-frame budget
    const raw = new HostsStore((cb) => hostFrames.push(cb), () => {}, 1, 0);
    const alerts2 = new AlertsStore(() => {});
    raw.subscribeEvents((m) => m.type === 'alert' && alerts2.applyFrame(m));
    for (let i = 0; i < 100; i += 1) raw.enqueueText(JSON.stringify(alertFrame('fired', alert(`r${i}`))));
    for (let n = 0; n < 200 && raw.rawQueued() > 0; n += 1) hostFrames.splice(0).forEach((cb) => cb());
    expect(alerts2.summary().total).toBe(100);
  });
});
