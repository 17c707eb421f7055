// The real Vigil stack for browser tests: a fresh MariaDB database
// (127.0.0.1:3306, root), a temporary data dir and `vigil up` (its own
// authenticated nats-server on a free port, gateway, collector and a real
// local sovigilant); an anonymous NATS client is checked to be refused. A host is
// offline 5 s after its last snapshot (the collector sweeps every second),
// and `agentPid()` finds the local agent so a test can stop it. The local
// agent's interval is lowered to 1 s: `vigil up` writes
// data_dir/agent/config.yaml on its first start and keeps an existing file,
// so the stack is started once, stopped, the interval edited (and remote
// actions enabled for `exec echo *`), started again.
//
// Everything it starts is stopped (and the database dropped) by `stop()`.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN_DIR = process.env.VIGIL_BIN_DIR ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug');
const MARIADB = process.env.VIGIL_TEST_MARIADB ?? 'mysql://root@127.0.0.1:3306';

export function log(...args) {
  console.log('e2e:', ...args);
}

export async function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

function mariadb(sql) {
  execFileSync('mariadb', ['-h127.0.0.1', '-uroot', '-e', sql], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * Speaks NATS by hand to 127.0.0.1:`port` without credentials; resolves with
 * the server's answer to CONNECT + PING (`-ERR 'Authorization Violation'`
 * when the bus is closed, `PONG` when anyone may use it).
 */
export function anonymousNatsAnswer(port) {
  return new Promise((ok, fail) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let sent = false;
    const timer = setTimeout(() => { socket.destroy(); fail(new Error(`no NATS answer on ${port}: ${text}`)); }, 5_000);
    socket.on('data', (d) => {
      text += d;
      if (!sent && text.includes('\r\n')) {
        sent = true; // after INFO
        socket.write('CONNECT {"verbose":false,"pedantic":false,"name":"e2e anonymous"}\r\nPING\r\n');
        return;
      }
      const answer = text.split('\r\n').slice(1).find((line) => line.startsWith('-ERR') || line === 'PONG');
      if (answer) {
        clearTimeout(timer);
        socket.destroy();
        ok(answer);
      }
    });
    socket.on('error', (error) => { clearTimeout(timer); fail(error); });
  });
}

/** Runs `vigil up`; resolves once it printed "vigil is up", with the admin password if printed. */
function vigilUp(env, logFile) {
  const child = spawn(join(BIN_DIR, 'vigil'), ['up'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const done = new Promise((ok, fail) => {
    let out = '';
    let password = null;
    const timer = setTimeout(() => fail(new Error(`vigil up did not come up in 90 s; log:\n${stderr.slice(-4000)}`)), 90_000);
    child.stdout.on('data', (d) => {
      out += d;
      const pw = out.match(/^admin: admin@localhost \/ (\S+)/m);
      if (pw) password = pw[1];
      if (/^vigil is up/m.test(out)) {
        clearTimeout(timer);
        ok(password);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`vigil up exited with ${code}; log:\n${stderr.slice(-4000)}`));
    });
  });
  child.on('exit', () => writeFileSync(logFile, stderr));
  return { child, done };
}

/** The pid of a child of `parent` whose command name is `name` (from /proc), or null. */
export function childPid(parent, name) {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try { stat = readFileSync(`/proc/${entry}/stat`, 'utf8'); } catch { continue; } // gone meanwhile
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split at the last ')'
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === parent && comm === name) return Number(entry);
  }
  return null;
}

async function stopChild(child, timeoutMs = 15_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

export async function startStack({ agentInterval = '1s' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-e2e-'));
  const natsPort = await freePort();
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const db = `vigil_e2e_${randomBytes(6).toString('hex')}`;
  const stack = { dir, httpPort, natsPort, base: `http://127.0.0.1:${httpPort}`, vigil: null, db, password: null };
  /** Pid of the sovigilant that `vigil up` runs (its child), or null. */
  stack.agentPid = () => (stack.vigil ? childPid(stack.vigil.pid, 'sovigilant') : null);
  stack.stop = async () => {
    await stopChild(stack.vigil); // and with it its nats-server
    try { mariadb(`DROP DATABASE IF EXISTS \`${db}\``); } catch { /* already gone */ }
    if (!process.env.VIGIL_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  };
  try {
    mariadb(`CREATE DATABASE \`${db}\``);
    const env = {
      ...process.env,
      RUST_LOG: process.env.RUST_LOG ?? 'info',
      // vigil up runs its own nats-server there (up.nats: true, the default),
      // trusting keys it generates into data/nats.keys (services: data/nats.creds)
      VIGIL_NATS_URL: `nats://127.0.0.1:${natsPort}`,
      VIGIL_DATABASE_URL: `${MARIADB}/${db}`,
      VIGIL_DATA_DIR: join(dir, 'data'),
      VIGIL_GATEWAY_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
      VIGIL_GATEWAY_GRPC_LISTEN: `127.0.0.1:${grpcPort}`,
      VIGIL_COLLECTOR_OFFLINE_AFTER: '5s',
      VIGIL_COLLECTOR_SWEEP_INTERVAL: '1s',
      VIGIL_UP_AGENT_BINARY: join(BIN_DIR, 'sovigilant'),
    };
    execFileSync(join(BIN_DIR, 'vigil'), ['migrate'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    // First start: creates the admin and writes the local agent's config.
    let up = vigilUp(env, join(dir, 'vigil-1.log'));
    stack.vigil = up.child;
    stack.password = await up.done;
    if (!stack.password) throw new Error('vigil up did not print the first admin password');
    const anonymous = await anonymousNatsAnswer(natsPort);
    if (!/Authorization Violation/.test(anonymous)) throw new Error(`vigil up's nats-server let an anonymous client in: ${anonymous}`);
    log(`vigil up's nats-server on ${natsPort} refuses anonymous clients (${anonymous})`);
    const agentConfig = join(dir, 'data', 'agent', 'config.yaml');
    await waitFor('the local agent config', 30_000, () => existsSync(agentConfig));
    await stopChild(stack.vigil);
    const text = readFileSync(agentConfig, 'utf8');
    if (!/interval: 10s/.test(text)) throw new Error(`unexpected agent config:\n${text}`);
    // and remote actions: `exec echo *` only (vigil up pins the action key)
    const actions = 'actions:\n  enabled: true\n  service_manager: none\n  allowed:\n    - "exec echo *"\n';
    writeFileSync(agentConfig, text.replace(/interval: 10s/, `interval: ${agentInterval}`) + actions);
    // Second start: same database and data dir, the agent now reports every second.
    up = vigilUp(env, join(dir, 'vigil-2.log'));
    stack.vigil = up.child;
    await up.done;
    log(`stack up at ${stack.base} (data ${dir})`);
    return stack;
  } catch (error) {
    await stack.stop();
    throw error;
  }
}

export async function api(stack, path, { method = 'GET', token, body } = {}) {
  const response = await fetch(stack.base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not json */ }
  return { status: response.status, json, text };
}

export { waitFor, sleep };
