import { describe, expect, it } from 'vitest';
import { installCommand, validateTokenName } from '../src/tokenFlow';
import { tokenState } from '../src/pages/Settings';

describe('agent token rules', () => {
  it('refuses an empty or too long name', () => {
    expect(validateTokenName('   ')).toContain('give the token a name');
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
