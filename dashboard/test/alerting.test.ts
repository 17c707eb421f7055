// The alerting screens' pure logic: reading a 422's column and placing the
// caret, rule/silence/maintenance/channel forms to their REST shapes
// (unknown fields refused by the server, masked secrets kept), presets and
// formatting.
import { describe, expect, it } from 'vitest';
import {
  channelInputOf, channelToForm, CHANNEL_FIELDS, formToChannelInput, isMasked, newChannelForm, testResultText, validateChannelForm, withType,
} from '../src/alerting/channelForm';
import { caretAt, parseFieldError } from '../src/alerting/conditionError';
import { checkBody, emptyRuleForm, formToInput, parseClear, ruleInputOf, ruleToForm } from '../src/alerting/ruleForm';
import {
  fromLocalInput, maintenanceInput, matcherText, newSilenceForm, presetEnd, silenceFormForAlert, silenceInput, silenceState, toLocalInput,
} from '../src/alerting/silence';
import { normalizeChannel, normalizeRule } from '../src/api/normalize';
import type { ChannelRecord, RuleRecord } from '../src/api/types';
import { formatDuration, formatSince } from '../src/format';
import { alert } from './fixtures';

describe('condition errors', () => {
  it('reads the field, column and text of a 422 message', () => {
    expect(parseFieldError("condition: column 18: expected a number, a string, a variable or '(' but found end of input")).toEqual({
      field: 'condition', line: null, column: 18, text: "expected a number, a string, a variable or '(' but found end of input",
    });
    expect(parseFieldError('message: line 2, column 5: unclosed {{')).toEqual({ field: 'message', line: 2, column: 5, text: 'unclosed {{' });
    expect(parseFieldError('duration: "5x" is not a duration')).toEqual({ field: 'duration', line: null, column: null, text: '"5x" is not a duration' });
    expect(parseFieldError('the alerter did not answer')).toEqual({ field: null, line: null, column: null, text: 'the alerter did not answer' });
  });

  it('puts the caret under the column, past the end for "end of input", keeping tabs', () => {
    const src = 'host.cpu.percent >';
    expect(caretAt(src, null, 18)).toEqual({ text: src, pad: ' '.repeat(17) });
    expect(caretAt(src, null, 19)).toEqual({ text: src, pad: ' '.repeat(18) });
    expect(caretAt(src, null, 1).pad).toBe('');
    expect(caretAt('\thost.up == x', null, 3).pad).toBe('\t ');
    // characters, not UTF-16 units
    expect(caretAt("host.name == 'é😀' &&", null, 19).pad).toHaveLength(18);
    // a line given, or a column running past the first line
    expect(caretAt('a > 1 &&\nb <', 2, 4)).toEqual({ text: 'b <', pad: '   ' });
    expect(caretAt('a > 1 &&\nb <', null, 13)).toEqual({ text: 'b <', pad: '   ' });
  });
});

describe('rule form', () => {
  const record: RuleRecord = normalizeRule({
    id: 'r1', tenant_id: 't1', name: 'CPU high', description: 'busy', condition: 'host.cpu.percent > 80', duration: '5m',
    severity: 'warning', channels: ['c1'], message: 'CPU {{value}}', enabled: true, clear: 70, repeat_interval: '1h',
    scope: 'host', created_at: '2026-11-24T12:00:00Z', updated_at: '2026-11-24T12:00:00Z',
  });

  it('sends only RuleInput fields (the server refuses unknown ones)', () => {
    expect(ruleInputOf(record)).toEqual({
      name: 'CPU high', description: 'busy', condition: 'host.cpu.percent > 80', duration: '5m', severity: 'warning',
      channels: ['c1'], message: 'CPU {{value}}', enabled: true, clear: 70, repeat_interval: '1h',
    });
    expect(formToInput(ruleToForm(record))).toEqual(ruleInputOf(record));
  });

  it('clear is a number when it reads as one, else a condition; empty fields are left out', () => {
    expect(parseClear(' 70 ')).toBe(70);
    expect(parseClear('-1.5e2')).toBe(-150);
    expect(parseClear('host.cpu.percent < 60')).toBe('host.cpu.percent < 60');
    expect(parseClear('  ')).toBeUndefined();
    const input = formToInput({ ...emptyRuleForm(), name: ' n ', condition: ' host.up == false ' });
    expect(input).toEqual({
      name: 'n', description: '', condition: 'host.up == false', duration: '5m', severity: 'warning', channels: [], message: '', enabled: true,
    });
    expect(checkBody({ ...emptyRuleForm(), condition: 'a > 1', clear: '0.5', message: 'hi' })).toEqual({ condition: 'a > 1', clear: 0.5, message: 'hi' });
    expect(checkBody({ ...emptyRuleForm(), condition: 'a > 1' })).toEqual({ condition: 'a > 1' });
  });
});

describe('silences', () => {
  it('presets end 1 h, 4 h or 1 d after the start (or after now without a start)', () => {
    const start = toLocalInput(new Date(2026, 10, 24, 22, 30));
    expect(start).toBe('2026-11-24T22:30');
    expect(presetEnd(start, '1h')).toBe('2026-11-24T23:30');
    expect(presetEnd(start, '4h')).toBe('2026-11-25T02:30');
    expect(presetEnd(start, '1d')).toBe('2026-11-25T22:30');
    expect(presetEnd('', '1h', new Date(2026, 0, 1, 8, 0).getTime())).toBe('2026-01-01T09:00');
    const f = newSilenceForm(new Date(2026, 0, 1, 8, 0).getTime(), '4h');
    expect([f.starts_at, f.ends_at]).toEqual(['2026-01-01T08:00', '2026-01-01T12:00']);
  });

  it('local datetime inputs become RFC 3339 and back', () => {
    const iso = fromLocalInput('2026-11-24T22:30')!;
    expect(new Date(iso).getHours()).toBe(22);
    expect(toLocalInput(iso)).toBe('2026-11-24T22:30');
    expect(fromLocalInput('tomorrow')).toBeNull();
  });

  it('sends only the matcher fields that are set, and checks the times', () => {
    const f = { ...newSilenceForm(new Date(2026, 0, 1, 8, 0).getTime()), host_id: 'in3', severity: 'critical' as const, mount: ' /data ', comment: ' disk swap ' };
    const input = silenceInput(f);
    expect(input).toEqual({ match: { host_id: 'in3', severity: 'critical', mount: '/data' }, starts_at: fromLocalInput(f.starts_at), ends_at: fromLocalInput(f.ends_at), comment: 'disk swap' });
    expect(silenceInput({ ...f, ends_at: f.starts_at })).toEqual({ error: 'ends_at: the end must be after the start' });
    expect(silenceInput({ ...f, ends_at: '' })).toHaveProperty('error');
  });

  it('prefills from an alert and describes matchers and states', () => {
    const f = silenceFormForAlert(alert('a1', { container_name: 'db' }));
    expect([f.rule_id, f.host_id, f.container_name, f.mount]).toEqual(['r-cpu', 'in3', 'db', '']);
    expect(matcherText({ rule_id: 'r-cpu', host_id: 'in3', mount: '/data' }, () => 'CPU high', () => 'IN3')).toBe('rule CPU high · host IN3 · mount /data');
    expect(matcherText({}, String, String)).toBe('every alert');
    const now = Date.parse('2026-11-24T12:00:00Z');
    expect(silenceState({ starts_at: '2026-11-24T11:00:00Z', ends_at: '2026-11-24T13:00:00Z' }, now)).toBe('active');
    expect(silenceState({ starts_at: '2026-11-24T12:30:00Z', ends_at: '2026-11-24T13:00:00Z' }, now)).toBe('upcoming');
    expect(silenceState({ starts_at: '2026-11-24T10:00:00Z', ends_at: '2026-11-24T11:00:00Z' }, now)).toBe('expired');
  });
});

describe('maintenance windows', () => {
  it('needs a six-field schedule; no host means every host', () => {
    const f = { name: 'Backups', host_id: '', schedule: '0 0 2 * * Sun', duration: '2h', enabled: true, comment: '' };
    expect(maintenanceInput(f)).toEqual({ name: 'Backups', schedule: '0 0 2 * * Sun', duration: '2h', enabled: true, comment: '' });
    expect(maintenanceInput({ ...f, host_id: 'in3' })).toMatchObject({ host_id: 'in3' });
    expect(maintenanceInput({ ...f, schedule: '0 2 * * Sun' })).toEqual({
      error: 'schedule: 5 fields; write six: sec min hour day month weekday, e.g. 0 0 2 * * Sun',
    });
  });
});

describe('channel form', () => {
  const slack: ChannelRecord = normalizeChannel({
    id: 'c1', name: 'Ops', enabled: true, type: 'slack',
    config: { url: 'https://hooks.slack.com/••••wxyz', channel: '#ops', icon: ':bell:' },
  });

  it('sends masked secrets back unchanged, and config keys it has no field for', () => {
    const form = channelToForm(slack);
    expect(form.values.url).toBe('https://hooks.slack.com/••••wxyz');
    expect(isMasked(form.values.url!)).toBe(true);
    expect(formToChannelInput({ ...form, name: 'Ops alerts' })).toEqual({
      id: 'c1', name: 'Ops alerts', enabled: true, type: 'slack',
      config: { icon: ':bell:', url: 'https://hooks.slack.com/••••wxyz', channel: '#ops' },
    });
    expect(channelInputOf(slack)).toEqual({ id: 'c1', name: 'Ops', enabled: true, type: 'slack', config: slack.config });
  });

  it('has the fields of each type, typed as the server wants them', () => {
    expect(Object.keys(CHANNEL_FIELDS).sort()).toEqual(['discord', 'email', 'ntfy', 'pagerduty', 'slack', 'teams', 'telegram', 'webhook']);
    const email = withType({ ...newChannelForm(), name: 'Mail' }, 'email');
    expect(email.values).toMatchObject({ port: '587', tls: 'starttls' });
    const input = formToChannelInput({ ...email, values: { ...email.values, host: 'smtp.example.com', from: 'v@example.com', to: 'a@example.com, b@example.com' } });
    expect(input).toEqual({
      name: 'Mail', enabled: true, type: 'email',
      config: { host: 'smtp.example.com', port: 587, tls: 'starttls', from: 'v@example.com', to: ['a@example.com', 'b@example.com'] },
    });
    const hook = channelToForm(normalizeChannel({
      id: 'w1', name: 'Hook', enabled: false, type: 'webhook',
      config: { url: '••••abcd', method: 'PUT', headers: { Authorization: '••••9f3e', 'X-Env': '••••' } },
    }));
    expect(hook.headers).toEqual([{ name: 'Authorization', value: '••••9f3e' }, { name: 'X-Env', value: '••••' }]);
    expect(formToChannelInput(hook).config).toEqual({ url: '••••abcd', method: 'PUT', headers: { Authorization: '••••9f3e', 'X-Env': '••••' } });
  });

  it('names the missing field before asking the server', () => {
    expect(validateChannelForm({ ...newChannelForm('telegram'), name: 'TG', values: { bot_token: 'x', chat_id: '', api_url: '' } })).toBe('chat_id: required for Telegram');
    expect(validateChannelForm(newChannelForm('slack'))).toMatch(/^name: /);
    const email = { ...newChannelForm('email'), name: 'M', values: { ...newChannelForm('email').values, host: 'h', from: 'f', to: 't', port: '99999' } };
    expect(validateChannelForm(email)).toBe('port: 99999 is not a port number (1-65535)');
  });

  it('words a test result', () => {
    expect(testResultText({ delivered: true, status: 200, error: null })).toBe('Delivered (HTTP 200)');
    expect(testResultText({ delivered: false, status: 403, error: 'invalid_token' })).toBe('Not delivered: HTTP 403: invalid_token');
    expect(testResultText({ delivered: false, status: null, error: 'connection refused' })).toBe('Not delivered: connection refused');
  });
});

describe('alert times', () => {
  it('formats durations and "since"', () => {
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(600)).toBe('10 min');
    expect(formatDuration(7500)).toBe('2 h 5 min');
    expect(formatDuration(7200)).toBe('2 h');
    expect(formatDuration(2 * 86400 + 3 * 3600)).toBe('2 d 3 h');
    expect(formatDuration(null)).toBe('—');
    const now = Date.parse('2026-11-24T12:10:00Z');
    expect(formatSince('2026-11-24T12:00:00Z', now)).toBe('since 10 min');
    expect(formatSince('2026-11-24T12:09:30Z', now)).toBe('since <1 min');
    expect(formatSince(null, now)).toBe('—');
  });
});
