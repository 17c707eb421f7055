// The action policy port against the agent's own test vectors
// (agent/tests/fixtures/action-policy-cases.json, shared with the Rust tests).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ActionParams, ActionPolicy, ActionType } from '../src/api/types';
import { canonical, decide, glob, SHELL_META } from '../src/actions/policy';

interface Case {
  name: string;
  policy: ActionPolicy;
  type: ActionType;
  params: ActionParams;
  command: string | null;
  decision: 'allowed' | 'denied';
  rule: string | null;
}

const fixture = JSON.parse(
  readFileSync(resolve(__dirname, '../../agent/tests/fixtures/action-policy-cases.json'), 'utf8'),
) as { cases: Case[] };

describe('action policy: the agent\'s shared vectors', () => {
  it('has cases', () => expect(fixture.cases.length).toBeGreaterThan(10));
  for (const c of fixture.cases) {
    it(c.name, () => {
      const v = decide(c.policy, c.type, c.params);
      expect({ command: v.command, decision: v.allowed ? 'allowed' : 'denied', rule: v.rule ?? null }).toEqual({
        command: c.command, decision: c.decision, rule: c.rule ?? null,
      });
      expect(v.reason).not.toBe('');
    });
  }
});

describe('action policy details', () => {
  const base: ActionPolicy = { enabled: true, allowed: ['systemctl restart *'], denied: [], service_manager: 'systemd', engines: ['docker'] };

  it('names what refused it', () => {
    expect(decide(base, 'stop_service', { service: 'nginx' }).reason).toBe('no actions.allowed entry matches "systemctl stop nginx.service"');
    expect(decide(base, 'exec', { command: 'id' }).reason).toBe('no actions.allowed entry `exec <program> ...` allows "exec id" (exec is refused by default)');
    expect(decide({ ...base, denied: ['systemctl * nginx*'] }, 'restart_service', { service: 'nginx' }).reason)
      .toBe('denied by the actions.denied entry "systemctl * nginx*"');
    expect(decide(base, 'restart_service', { service: 'a;b' }).reason).toBe('params.service "a;b" contains \';\'; only letters, digits and @ . _ : - are allowed');
    expect(decide(base, 'restart_container', { container: 'a\nb' }).reason).toBe('params.container "a\\nb" contains \'\\n\'; only letters, digits and @ . _ : - are allowed');
    expect(decide(base, 'restart_service', { service: '' }).reason).toMatch(/is empty/);
    expect(decide(null, 'restart_service', { service: 'nginx' })).toMatchObject({ command: null, allowed: false, reason: expect.stringMatching(/older than remote actions/) });
    expect(decide({ ...base, enabled: false }, 'restart_service', { service: 'nginx' })).toMatchObject({
      command: 'systemctl restart nginx.service', reason: 'remote actions are disabled on this agent (actions.enabled: false)',
    });
    // disabled says so even when the params are bad too (as the agent does)
    expect(decide({ ...base, enabled: false }, 'restart_service', { service: 'a b' })).toMatchObject({ command: null, reason: expect.stringMatching(/disabled/) });
    expect(decide({ ...base, service_manager: 'none' }, 'restart_service', { service: 'nginx' }).reason).toMatch(/^no service manager/);
    expect(decide(base, 'restart_container', { container: 'web', engine: 'podman' }).reason).toBe('this agent does not use podman (its container engines: docker)');
    expect(decide(base, 'restart_container', { container: 'web', engine: 'lxc' }).reason).toBe('params.engine "lxc" is not one of docker, podman, incus');
    expect(decide({ ...base, engines: [] }, 'restart_container', { container: 'web' }).reason).toMatch(/^this agent uses no container engine/);
  });

  it('keeps unit suffixes and builds openrc and exec lines', () => {
    expect(canonical(base, 'start_service', { service: 'docker.socket' })).toEqual({ command: 'systemctl start docker.socket' });
    expect(canonical(base, 'start_service', { service: 'x.servicex' })).toEqual({ command: 'systemctl start x.servicex.service' });
    expect(canonical(base, 'start_service', { service: '.service' })).toEqual({ command: 'systemctl start .service.service' });
    expect(canonical({ ...base, service_manager: 'openrc' }, 'status_service', { service: 'sshd' })).toEqual({ command: 'rc-service sshd status' });
    expect(canonical(base, 'exec', { command: 'uptime' })).toEqual({ command: 'exec uptime' });
    expect(canonical(base, 'exec', { command: '  ' })).toEqual({ refused: 'params.command "  " is empty or longer than 4096 characters' });
    expect(canonical(base, 'exec', { command: 'a\tb' })).toEqual({ refused: 'params.command "a\\tb" contains the control character \'\\t\'; give one line of text' });
    expect(canonical(base, 'exec', { command: 'é'.repeat(2049) })).toMatchObject({ refused: expect.stringMatching(/longer than 4096/) });
  });

  it('globs: * any run, ? one character, restricted wildcards', () => {
    expect(glob('a*c', 'abbbc')).toBe(true);
    expect(glob('a*c', 'ac')).toBe(true);
    expect(glob('a?c', 'ac')).toBe(false);
    expect(glob('*', '')).toBe(true);
    expect(glob('', '')).toBe(true);
    expect(glob('a', 'ab')).toBe(false);
    expect(glob('*x*y*z', 'x'.repeat(200) + 'y')).toBe(false);
    const plain = (c: string) => !SHELL_META.includes(c);
    expect(glob('exec ls *', 'exec ls -l /tmp', plain)).toBe(true);
    for (const meta of [';', '|', '&', '$', '`', '\\', '"', "'", '(', ')', '{', '}', '[', ']', '!', '#', '~', '*', '?', '<', '>', '\n']) {
      expect(glob('exec ls *', `exec ls a${meta}b`, plain)).toBe(false);
      expect(glob('exec ls ?', `exec ls ${meta}`, plain)).toBe(false);
    }
    // a metacharacter written in the entry matches itself
    expect(glob('exec df -h | *', 'exec df -h | tail', plain)).toBe(true);
  });

  it('exec needs an entry naming its program', () => {
    const p = { ...base, allowed: ['exec df *', 'exec ?s *', 'exec', 'exec  ls'] };
    expect(decide(p, 'exec', { command: 'df -h' }).allowed).toBe(true);
    expect(decide(p, 'exec', { command: 'ls -l' }).allowed).toBe(false);
    expect(decide(p, 'exec', { command: 'df -h > /tmp/x' }).allowed).toBe(false);
  });
});
