import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { SITI } from '../support/fixtures.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, createClientByCli, createSitiByCli, processEnvironment, startServe, type Served } from '../support/process.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';

/**
 * WORKERS=2: one supervising process and two server processes on one port and one PostgreSQL
 * database. PostgreSQL only: the embedded database belongs to one process.
 */
const describeOnPostgres = process.env.DATABASE_URL ? describe : describe.skip;

const childrenOf = (pid: number): number[] =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

/** A GET on a connection of its own (no keep-alive), so that the primary hands each to a worker in turn; 0 when it fails. */
function freshGet(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function waitUntil(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  return check();
}

describeOnPostgres('WORKERS=2', () => {
  let setup: Awaited<ReturnType<typeof processEnvironment>>;
  let served: Served;
  let primary: number;

  beforeAll(async () => {
    setup = await processEnvironment({ WORKERS: '2' });
    served = await startServe(setup.env);
    primary = served.child.pid!;
  }, 60_000);
  afterAll(async () => {
    await served?.stop();
    await setup?.cleanup();
  });

  test('two server processes under one supervisor serve a login', async () => {
    expect(await waitUntil(() => childrenOf(primary).length === 2, 10_000)).toBe(true);
    const { clientId, clientSecret } = await createClientByCli(setup.env, ['--scope', 'openid profile']);
    await createSitiByCli(setup.env);
    const rp = await relyingParty(setup.issuer, clientId, clientSecret);
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid profile' });
    expect(tokens.claims()!.sub).toBeTruthy();
  });

  test('a server process killed with SIGKILL: the other answers every request meanwhile, and a new one takes its place', async () => {
    const [victim, survivor] = childrenOf(primary);
    process.kill(victim!, 'SIGKILL');
    // Once the supervisor has seen it die (a connection handed over just before is lost with it).
    expect(await waitUntil(() => !childrenOf(primary).includes(victim!), 5_000)).toBe(true);
    const statuses = [];
    for (let i = 0; i < 20; i++) statuses.push(await freshGet(`${setup.issuer}/.well-known/openid-configuration`));
    expect(statuses).toEqual(Array(20).fill(200));
    expect(await waitUntil(() => childrenOf(primary).length === 2, 10_000)).toBe(true);
    const now = childrenOf(primary);
    expect(now).toContain(survivor);
    expect(now).not.toContain(victim);
  });

  test('SIGTERM to the supervisor ends every server process, and it exits with 0', async () => {
    const workers = childrenOf(primary);
    const exited = new Promise<number | null>((resolve) => served.child.once('exit', (code) => resolve(code)));
    served.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of workers) expect(existsSync(`/proc/${pid}`)).toBe(false);
  });
});

describe('WORKERS=2 when the server processes cannot start', () => {
  test('the supervisor restarts them with growing waits, then gives up with status 1 and says why', async () => {
    const bin = fileURLToPath(new URL('../../bin/kediri-id.js', import.meta.url));
    // Nothing listens on port 1: every server process fails at its first query.
    const env = { ...process.env, WORKERS: '2', PORT: String(await freePort()), DATABASE_URL: 'postgres://kediri@127.0.0.1:1/kediri_test_none', LOG_LEVEL: 'info' };
    const child = spawn(process.execPath, [bin, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', () => {});
    const status = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    expect(status).toBe(1);
    const lines = out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { msg: string; restartInMs?: number });
    expect(lines.filter((l) => l.restartInMs !== undefined).map((l) => l.restartInMs)).toEqual([1000, 2000, 4000, 8000]);
    expect(lines.at(-1)!.msg).toMatch(/5 server processes in a row ended soon after starting; giving up/);
  }, 60_000);
});
