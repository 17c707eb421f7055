import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/api/client';
import { installCommand, TokenFlow, validateTokenName } from '../src/tokenFlow';
import { tokenState } from '../src/pages/Settings';

describe('TokenFlow', () => {
  it('goes idle → creating → created, shows the token once, and forgets it on dismiss', async () => {
    let resolve!: (v: { id: string; token: string }) => void;
    const api = { createToken: vi.fn(() => new Promise<{ id: string; token: string }>((r) => (resolve = r))) };
    const onCreated = vi.fn();
    const flow = new TokenFlow(api, onCreated);
    const seen: string[] = [];
    flow.subscribe((s) => seen.push(s.kind));
    const pending = flow.create('  prod-servers ');
    expect(flow.state).toEqual({ kind: 'creating', name: 'prod-servers' });
    // a second submit while creating does nothing
    await flow.create('again');
    expect(api.createToken).toHaveBeenCalledTimes(1);
    resolve({ id: 'k1', token: 'vgl_secret' });
    await pending;
    expect(api.createToken).toHaveBeenCalledWith('prod-servers');
    expect(flow.state).toEqual({ kind: 'created', name: 'prod-servers', id: 'k1', token: 'vgl_secret', copied: false });
    expect(onCreated).toHaveBeenCalledTimes(1);
    flow.markCopied();
    expect(flow.state).toMatchObject({ kind: 'created', copied: true });
    flow.dismiss();
    expect(flow.state).toEqual({ kind: 'idle' });
    expect(JSON.stringify(flow.state)).not.toContain('vgl_secret');
    expect(seen).toEqual(['creating', 'created', 'created', 'idle']);
  });

  it('shows the server error when creation fails and can retry', async () => {
    const api = {
      createToken: vi.fn()
        .mockRejectedValueOnce(new ApiError(403, 'forbidden', 'only admins can create tokens'))
        .mockResolvedValueOnce({ id: 'k2', token: 't2' }),
    };
    const flow = new TokenFlow(api);
    await flow.create('edge');
    expect(flow.state).toEqual({ kind: 'failed', name: 'edge', message: 'only admins can create tokens' });
    await flow.create('edge');
    expect(flow.state).toMatchObject({ kind: 'created', token: 't2' });
  });

  it('refuses an empty name without calling the server', async () => {
    const api = { createToken: vi.fn() };
    const flow = new TokenFlow(api);
    await flow.create('   ');
    expect(flow.state.kind).toBe('failed');
    expect(api.createToken).not.toHaveBeenCalled();
    expect(validateTokenName('x'.repeat(101))).toContain('101 characters');
    expect(validateTokenName('ok')).toBeNull();
  });

  it('builds the agent install command for this server', () => {
    expect(installCommand('vigil.example.com', 'vgl_abc')).toBe(
      'sovigilant init --server vigil.example.com:9090 --token vgl_abc --ca-cert ca.pem',
    );
  });

  it('tells active, revoked and expired tokens apart', () => {
    const base = { id: 'k', name: 'n', created_at: null, last_used: null, revoked_at: null, expires_at: null };
    expect(tokenState(base)).toBe('active');
    expect(tokenState({ ...base, revoked_at: '2026-01-01T00:00:00Z' })).toBe('revoked');
    expect(tokenState({ ...base, expires_at: '2020-01-01T00:00:00Z' })).toBe('expired');
  });
});
