/**
 * npm run bench: starts Kediri ID (NODE_ENV=production, as a child process) and a bare
 * oidc-provider, loads each in turn, and prints throughput, latency, server CPU per 1,000
 * requests and peak RSS beside the targets of issue 7. Writes the figures to bench/results/.
 *
 *   npm run bench                                          (embedded database, temp DATA_DIR)
 *   BENCH_DATABASE_URL=postgres://... npm run bench        (PostgreSQL; the database must exist)
 *   BENCH_SECONDS=10 BENCH_CONNECTIONS=32 BENCH_LOGIN_CONCURRENCY=8 BENCH_CHAINS=16 npm run bench
 *   BENCH_CPU_PROFILE=/tmp/prof npm run bench              (the server writes a .cpuprofile there)
 *   BENCH_CITIZENS=1000,1000000 BENCH_DATABASE_URL=...     (also logins among 1,000 and 1,000,000 seeded citizens)
 *   BENCH_CLUSTER=1 npm run bench                          (a PostgreSQL cluster of its own, production settings: bench/cluster.ts;
 *                                                           BENCH_SHARED_BUFFERS=128MB to change its shared_buffers)
 *   BENCH_WORKERS=2 BENCH_DATABASE_URL=...                 (two server processes: WORKERS=2)
 *   BENCH_NODE_OPTIONS='' npm run bench                    (the server without the recommended heap limit)
 *   DATABASE_PREPARED_STATEMENTS=false DATABASE_LISTEN_URL=... BENCH_DATABASE_URL=...
 *                                                          (the server inherits them: unprepared statements, behind a pooler)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import argon2 from 'argon2';
import autocannon from 'autocannon';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { SEED_EMAIL_DOMAIN } from '../src/identity/seed.js';
import { newSecret } from '../src/secrets.js';
import { csrfTokenOf } from '../tests/support/agent.js';
import { createCluster, PRODUCTION_SETTINGS } from './cluster.js';
import { formatStartTimes, measureStartTimes } from './start-time.js';
import { BenchAgent, backendCpu, backendCpuSpent, pkcePair, runLoop, sampleProcess, scatteredStep, type LoopResult, type ProcSample } from './support.js';
import { freePort } from '../tests/support/process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const LOGIN_CONCURRENCY = Number(process.env.BENCH_LOGIN_CONCURRENCY ?? 8);
const CHAINS = Number(process.env.BENCH_CHAINS ?? 16);
/** BENCH_CITIZENS=1000,1000000: login phases among that many seeded citizens (PostgreSQL only). */
const CITIZEN_SCALE = (process.env.BENCH_CITIZENS ?? '').split(',').filter(Boolean).map(Number);
const CALLBACK = 'http://127.0.0.1:9/callback';
const CITIZEN = { nik: '3571014101900001', name: 'Siti Aminah', birthdate: '1990-01-01', email: 'siti@example.id', password: 'kembang-api-di-alun-alun' };

async function waitFor(url: string, headers: Record<string, string>, child: ChildProcess, seconds = 120): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with status ${child.exitCode}`);
    try {
      const res = await fetch(url, { headers });
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url} did not answer within ${seconds} s`);
}

function cli(env: NodeJS.ProcessEnv, args: string[], stdin = ''): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/kediri-id.js', ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.stdin.end(stdin);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Record<string, string>) : reject(new Error(`kediri-id ${args.slice(0, 2).join(' ')}: ${code}: ${err || out}`))));
  });
}

/**
 * Before each measurement among N citizens, the database as autovacuum would keep it: vacuumed
 * and its planner statistics fresh (the earlier phases leave tens of thousands of dead tokens, and
 * one address's throttle row updated at every login), the bulk load written out (a checkpoint),
 * so that each of these phases starts from the same state and none of that runs during it.
 */
async function settle(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('vacuum (analyze)');
    // Needs superuser (or pg_checkpoint): without it, the benchmark goes on.
    await client.query('checkpoint').catch(() => console.error('  (no checkpoint: the database user may not)'));
  } finally {
    await client.end();
  }
}

interface Phase {
  name: string;
  unit: string;
  perSecond: number;
  p50?: number;
  p99?: number;
  operations: number;
  errors: number;
  /** HTTP requests the server handled in the phase (for the CPU figure). */
  httpRequests: number;
  cpuSeconds?: number;
  cpuPer1000?: number;
  /** Requests per second of server CPU: the rate one fully used core would give. */
  perCore?: number;
  /** Server CPU seconds per wall-clock second: how many cores the server kept busy. */
  coresBusy?: number;
  peakRssMb?: number;
  /** Database statements per operation, counted by the server's driver (kediri_db_statements_total). */
  statementsPerOp?: number;
  /** CPU milliseconds of the PostgreSQL backends per operation (PostgreSQL on this machine only). */
  databaseCpuMsPerOp?: number;
}

/**
 * The server's database statements so far; what one reading itself costs (the scrape's gauges
 * query too); and what the server's timers (outboxes, sweeps) send per second while idle.
 */
interface StatementCounter {
  read(): Promise<number>;
  perRead: number;
  idlePerSecond: number;
  /** The backends' CPU so far (backendCpu), when PostgreSQL runs on this machine. */
  databaseCpu?: () => Promise<Map<number, number>>;
}

async function measured(pid: number | undefined, run: () => Promise<Phase>, statements?: StatementCounter): Promise<Phase> {
  const statementsBefore = await statements?.read();
  const databaseCpuBefore = await statements?.databaseCpu?.();
  const before: ProcSample | undefined = pid ? sampleProcess(pid) : undefined;
  const started = Date.now();
  const phase: Phase = await run();
  if (statements && statementsBefore !== undefined && phase.operations > 0) {
    const timers = statements.idlePerSecond * ((Date.now() - started) / 1000);
    phase.statementsPerOp = ((await statements.read()) - statementsBefore - statements.perRead - timers) / phase.operations;
    if (databaseCpuBefore) phase.databaseCpuMsPerOp = (backendCpuSpent(databaseCpuBefore, await statements.databaseCpu!()) * 1000) / phase.operations;
  }
  const wallSeconds = (Date.now() - started) / 1000;
  if (pid && before) {
    const after = sampleProcess(pid);
    phase.cpuSeconds = after.cpuSeconds - before.cpuSeconds;
    phase.cpuPer1000 = (phase.cpuSeconds / phase.httpRequests) * 1000;
    phase.perCore = phase.cpuSeconds > 0 ? (phase.operations / phase.cpuSeconds) : undefined;
    phase.coresBusy = phase.cpuSeconds / wallSeconds;
    phase.peakRssMb = after.peakRssMb;
  }
  const extra = phase.errors ? ` (${phase.errors} errors)` : '';
  console.error(`  ${phase.name}: ${phase.perSecond.toFixed(0)} ${phase.unit}${extra}`);
  return phase;
}

async function cannon(name: string, pid: number | undefined, options: autocannon.Options, statements?: StatementCounter): Promise<Phase> {
  return measured(pid, async () => {
    const r = await autocannon({ connections: CONNECTIONS, duration: SECONDS, ...options });
    const ok = r['2xx'];
    return {
      name,
      unit: 'req/s',
      perSecond: ok / (r.duration || SECONDS),
      p50: r.latency.p50,
      p99: r.latency.p99,
      operations: ok,
      errors: r.non2xx + r.errors + r.timeouts,
      httpRequests: r.requests.total,
    };
  }, statements);
}

/**
 * Reads kediri_db_statements_total from the server's metrics port. What a reading costs is the
 * smallest difference of a few readings in a row while the server is otherwise idle; what its
 * timers send, the count over five idle seconds.
 */
async function statementCounter(metricsUrl: string, databaseCpu?: () => Promise<Map<number, number>>): Promise<StatementCounter> {
  const read = async () => {
    const text = await (await fetch(metricsUrl)).text();
    const value = /^kediri_db_statements_total (\d+)/m.exec(text)?.[1];
    if (value === undefined) throw new Error('the server reports no kediri_db_statements_total');
    return Number(value);
  };
  const readings = [await read(), await read(), await read(), await read()];
  const perRead = Math.min(...readings.slice(1).map((value, i) => value - readings[i]!));
  const idleFrom = await read();
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const idlePerSecond = Math.max(0, (await read()) - idleFrom - perRead) / 5;
  return { read, perRead, idlePerSecond, databaseCpu };
}

async function main() {
  const dataDir = await mkdtemp(join(os.tmpdir(), 'kediri-bench-'));
  const port = await freePort();
  const metricsPort = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  // Production refuses an http:// issuer and wants TRUST_PROXY: the server believes a TLS proxy
  // is in front, and the benchmark sends X-Forwarded-Proto: https as that proxy would.
  const issuer = `https://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    PORT: String(port),
    // The statements per operation are read from the server's metrics.
    METRICS_PORT: String(metricsPort),
    ISSUER: issuer,
    TRUST_PROXY: 'true',
    DATA_DIR: dataDir,
    ENCRYPTION_KEY: newSecret(),
    LOG_LEVEL: 'warn',
    // Required in production; nothing in the benchmark sends email.
    SMTP_URL: 'smtp://127.0.0.1:1',
    // Required in production too; nothing in the benchmark sends a WhatsApp or SMS message.
    MESSAGE_GATEWAY: 'sms',
    SMS_GATEWAY_URL: 'http://127.0.0.1:1/sms',
    SMS_GATEWAY_TOKEN: 'unused',
    // Many logins from one address: the per-address login limit would stop them.
    IP_LIMIT_LOGIN: '100000000',
  };
  // The heap limit docs/performance.md recommends for production (BENCH_NODE_OPTIONS='' for none).
  env.NODE_OPTIONS = process.env.BENCH_NODE_OPTIONS ?? '--max-old-space-size=192';
  // BENCH_WORKERS=2: the server as a supervisor and two server processes (PostgreSQL only).
  if (process.env.BENCH_WORKERS) env.WORKERS = process.env.BENCH_WORKERS;
  delete env.DATABASE_URL;
  if (process.env.BENCH_DATABASE_URL) env.DATABASE_URL = process.env.BENCH_DATABASE_URL;
  const clusterSettings = process.env.BENCH_CLUSTER === '1' ? { ...PRODUCTION_SETTINGS, shared_buffers: process.env.BENCH_SHARED_BUFFERS ?? PRODUCTION_SETTINGS.shared_buffers! } : undefined;
  if (CITIZEN_SCALE.length && !env.DATABASE_URL && !clusterSettings) throw new Error('BENCH_CITIZENS needs BENCH_DATABASE_URL or BENCH_CLUSTER=1 (PostgreSQL)');
  if (CITIZEN_SCALE.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('BENCH_CITIZENS: counts separated by commas, e.g. 1000,1000000');
  const cluster = clusterSettings && (await createCluster(dataDir, 'kediri_bench', clusterSettings));
  if (cluster) env.DATABASE_URL = cluster.url;
  const config = loadConfig(env);
  // DATABASE_PREPARED_STATEMENTS and DATABASE_LISTEN_URL (behind a pooler) are the server's, inherited.
  const unprepared = config.databaseUrl && !config.databasePreparedStatements ? ', statements unprepared (DATABASE_PREPARED_STATEMENTS=false)' : '';
  const database = `${cluster ? `postgresql (own cluster: ${Object.entries(clusterSettings!).map(([k, v]) => `${k}=${v}`).join(' ')})` : config.databaseUrl ? 'postgresql' : 'embedded (PGlite)'}${unprepared}`;
  const proxyHeaders = { 'x-forwarded-proto': 'https' };

  // The start times first, while nothing else of the benchmark runs (bench/start-time.ts).
  const startTimes = await measureStartTimes(env, config.databaseUrl);
  const log = createWriteStream(join(dataDir, 'server.log'));
  console.error(`starting Kediri ID on ${origin} (${database}); log: ${join(dataDir, 'server.log')}`);
  // BENCH_CPU_PROFILE=<dir>: the server writes a V8 CPU profile there when it stops.
  const profile = process.env.BENCH_CPU_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROFILE] : [];
  const server = spawn(process.execPath, [...profile, 'bin/kediri-id.js', 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.pipe(log);
  server.stderr!.pipe(log);
  let bare: ChildProcess | undefined;
  let backendReader: pg.Client | undefined;
  const phases: Phase[] = [];
  try {
    const startedAt = Date.now();
    await waitFor(`${origin}/.well-known/openid-configuration`, proxyHeaders, server);
    const startupSeconds = (Date.now() - startedAt) / 1000;
    const pid = server.pid!;

    const client = await cli(env, [
      'client', 'create', '--unit', 'dispendukcapil', '--name', 'Benchmark', '--redirect-uri', CALLBACK,
      '--scope', 'openid offline_access profile email', '--grant-type', 'authorization_code',
      '--grant-type', 'refresh_token', '--grant-type', 'client_credentials',
    ]);
    await cli(env, ['citizen', 'create', '--nik', CITIZEN.nik, '--name', CITIZEN.name, '--birthdate', CITIZEN.birthdate, '--email', CITIZEN.email], CITIZEN.password);
    const clientId = client.client_id!;
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(client.client_secret!)}`).toString('base64')}`;

    const discovery = (await (await fetch(`${origin}/.well-known/openid-configuration`, { headers: proxyHeaders })).json()) as Record<string, string>;
    const local = (url: string) => origin + url.slice(issuer.length);
    const tokenUrl = local(discovery.token_endpoint!);

    /** One whole login in a fresh browser: authorize, login form, code exchange, userinfo. Returns the tokens and the request count. */
    async function login(scope: string, extra: Record<string, string> = {}, identifier = CITIZEN.email,
      { step = async () => {}, clientAddress }: { step?: (name: string) => Promise<void>; clientAddress?: string } = {}) {
      const agent = new BenchAgent(issuer, origin, clientAddress);
      const { verifier, challenge } = pkcePair();
      const state = crypto.randomUUID();
      const authorize = new URL(discovery.authorization_endpoint!);
      for (const [k, v] of Object.entries({
        client_id: clientId, response_type: 'code', redirect_uri: CALLBACK, scope, state, nonce: crypto.randomUUID(),
        code_challenge: challenge, code_challenge_method: 'S256', ...extra,
      })) authorize.searchParams.set(k, v);
      let { res, url } = await agent.follow(authorize.toString());
      await step('authorize and the login page');
      for (let page = 0; page < 3 && url.includes('/interaction/'); page++) {
        const html = await res!.text();
        const _csrf = csrfTokenOf(html);
        const action = html.includes('name="password"') ? 'login' : 'consent';
        const fields: Record<string, string> = action === 'login' ? { _csrf, identifier, password: CITIZEN.password } : { _csrf };
        const posted = await agent.post(`${url.replace(/\/$/, '')}/${action}`, fields);
        await posted.arrayBuffer();
        if (posted.status !== 303) throw new Error(`${action} answered ${posted.status}`);
        await step(action === 'login' ? 'the login form' : 'the consent form');
        ({ res, url } = await agent.follow(new URL(posted.headers.get('location')!, agent.local(url)).toString()));
        await step('back to the service');
      }
      const callback = new URL(url);
      const code = callback.searchParams.get('code');
      if (!code || callback.searchParams.get('state') !== state) throw new Error(`no code at the callback: ${url}`);
      const tokenRes = await agent.post(tokenUrl, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }, { authorization: basic });
      const tokens = (await tokenRes.json()) as Record<string, string>;
      if (tokenRes.status !== 200) throw new Error(`code exchange answered ${tokenRes.status}: ${JSON.stringify(tokens)}`);
      await step('code exchange');
      const info = await agent.request(local(discovery.userinfo_endpoint!), { headers: { authorization: `Bearer ${tokens.access_token}` } });
      const claims = (await info.json()) as Record<string, string>;
      if (info.status !== 200 || !claims.sub) throw new Error(`userinfo answered ${info.status}`);
      await step('userinfo');
      return { tokens, requests: agent.requests };
    }

    // The first login consents (scope remembered across sessions); the warm-up also tells how many
    // HTTP requests one login takes.
    await login('openid profile email');
    const { requests: requestsPerLogin } = await login('openid profile email');

    // Where one login's statements go: five logins one after another, the fewest statements of
    // each step (the server's timers add some to a step now and then).
    // What PostgreSQL's backends spend, when it runs here: read through the direct connection
    // (DATABASE_LISTEN_URL when the server is behind a pooler), not counting a pooler's own CPU.
    if (config.databaseListenUrl && ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(config.databaseListenUrl).hostname)) {
      backendReader = new pg.Client({ connectionString: config.databaseListenUrl });
      await backendReader.connect();
    }
    const reader = backendReader;
    const statements = await statementCounter(`http://127.0.0.1:${metricsPort}/metrics`, reader && (() => backendCpu(reader)));
    const loginSteps = new Map<string, number>();
    for (let run = 0; run < 5; run++) {
      let last = await statements.read();
      await login('openid profile email', {}, CITIZEN.email, { step: async (name) => {
        const now = await statements.read();
        loginSteps.set(name, Math.min(loginSteps.get(name) ?? Infinity, now - last - statements.perRead));
        last = now;
      } });
    }

    console.error('phases:');
    phases.push(await cannon('discovery', pid, { url: `${origin}/.well-known/openid-configuration`, headers: proxyHeaders }, statements));
    phases.push(await cannon('jwks', pid, { url: local(discovery.jwks_uri!), headers: proxyHeaders }));
    const ccBody = 'grant_type=client_credentials';
    const ccHeaders = { ...proxyHeaders, authorization: basic, 'content-type': 'application/x-www-form-urlencoded' };
    phases.push(await cannon('client credentials', pid, { url: tokenUrl, method: 'POST', headers: ccHeaders, body: ccBody }, statements));
    // The same with a resource indicator: a JWT access token for a unit's API, which writes no row.
    const api = 'https://api.bench.example/';
    await cli(env, ['resource', 'create', '--indicator', api, '--name', 'Benchmark API', '--scope', 'bench:read', '--client', clientId]);
    const jwtBody = `${ccBody}&${new URLSearchParams({ resource: api, scope: 'bench:read' })}`;
    phases.push(await cannon('client credentials (JWT)', pid, { url: tokenUrl, method: 'POST', headers: ccHeaders, body: jwtBody }, statements));

    // Refresh: CHAINS independent chains, each using the token the previous response rotated in.
    const chains: string[] = [];
    for (let i = 0; i < CHAINS; i += LOGIN_CONCURRENCY) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(LOGIN_CONCURRENCY, CHAINS - i) }, () => login('openid offline_access', { prompt: 'consent' })),
      );
      for (const { tokens } of batch) {
        if (!tokens.refresh_token) throw new Error('the login gave no refresh token');
        chains.push(tokens.refresh_token);
      }
    }
    phases.push(
      await measured(pid, async () => {
        const r: LoopResult = await runLoop(SECONDS, CHAINS, async (chain) => {
          const res = await fetch(tokenUrl, {
            method: 'POST',
            headers: ccHeaders,
            body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: chains[chain]! }).toString(),
          });
          const body = (await res.json()) as Record<string, string>;
          if (res.status !== 200 || !body.refresh_token) throw new Error(`refresh answered ${res.status}: ${JSON.stringify(body)}`);
          chains[chain] = body.refresh_token;
        });
        if (r.firstError) console.error(`  refresh: first error: ${r.firstError}`);
        return { name: 'refresh token', unit: 'req/s', ...r, httpRequests: r.operations + r.errors };
      }, statements),
    );

    phases.push(
      await measured(pid, async () => {
        const r = await runLoop(SECONDS, LOGIN_CONCURRENCY, async () => {
          await login('openid profile email');
        });
        if (r.firstError) console.error(`  logins: first error: ${r.firstError}`);
        return { name: 'login (authorize..userinfo)', unit: 'logins/s', ...r, httpRequests: (r.operations + r.errors) * requestsPerLogin };
      }, statements),
    );

    // Logins among many citizens: each login is a citizen's first (with consent), the citizens
    // taken a scattered step apart from a random start (seeded citizens lie in the table in their
    // order: neighbours would share pages), each from an address of its own, as a million citizens
    // do not sign in from one (one address's throttle row would make the logins queue on it).
    for (const citizens of CITIZEN_SCALE) {
      // Seeding is refused in production: the seeding command runs as a test tool.
      const seeded = await cli({ ...env, NODE_ENV: 'test' }, ['dev', 'seed', '--citizens', String(citizens)], CITIZEN.password);
      console.error(`  seeded ${seeded.created} citizens in ${Number(seeded.seconds).toFixed(0)} s (${seeded.total} in all)`);
      await settle(env.DATABASE_URL!);
      const step = scatteredStep(citizens);
      let next = Math.floor(Math.random() * citizens);
      let logins = 0;
      phases.push(
        await measured(pid, async () => {
          let httpRequests = 0;
          const r = await runLoop(SECONDS, LOGIN_CONCURRENCY, async () => {
            const [citizen, address] = [next, logins++];
            next = (next + step) % citizens;
            const { requests } = await login('openid profile email', {}, `warga${citizen}@${SEED_EMAIL_DOMAIN}`, { clientAddress: `10.${(address >> 16) & 255}.${(address >> 8) & 255}.${address & 255}` });
            httpRequests += requests;
          });
          if (r.firstError) console.error(`  logins among ${citizens}: first error: ${r.firstError}`);
          return { name: `login, ${citizens} citizens`, unit: 'logins/s', ...r, httpRequests };
        }, statements),
      );
    }

    // The raw argon2id verify rate at the configured parameters, the same concurrency, in this process.
    const argonOptions = { type: argon2.argon2id as 2, ...config.argon2 };
    const hash = await argon2.hash(CITIZEN.password, argonOptions);
    phases.push(
      await measured(undefined, async () => {
        // This process's CPU (every thread, so libuv's pool where argon2 runs): per core as for the server.
        const cpu = process.cpuUsage();
        const r = await runLoop(SECONDS, LOGIN_CONCURRENCY, async () => {
          if (!(await argon2.verify(hash, CITIZEN.password))) throw new Error('argon2 verify failed');
        });
        const used = process.cpuUsage(cpu);
        const cpuSeconds = (used.user + used.system) / 1e6;
        return { name: 'argon2id verify (raw)', unit: 'verifies/s', ...r, httpRequests: 0, perCore: r.operations / cpuSeconds, coresBusy: cpuSeconds / r.seconds };
      }),
    );
    const finalSample = sampleProcess(pid);

    // The bare oidc-provider, in a child process of its own.
    const bareSecret = newSecret();
    bare = spawn(process.execPath, ['--import', 'tsx', 'bench/bare-provider.ts'], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'production', NODE_OPTIONS: env.NODE_OPTIONS, BARE_CLIENT_ID: 'bare', BARE_CLIENT_SECRET: bareSecret, BARE_REDIRECT_URI: CALLBACK },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    bare.stderr!.pipe(log);
    const [firstLine] = (await once(createInterface({ input: bare.stdout! }), 'line')) as [string];
    const barePort = (JSON.parse(firstLine) as { port: number }).port;
    const bareOrigin = `http://127.0.0.1:${barePort}`;
    const bareBasic = `Basic ${Buffer.from(`bare:${bareSecret}`).toString('base64')}`;
    phases.push(await cannon('bare: discovery', bare.pid, { url: `${bareOrigin}/.well-known/openid-configuration` }));
    phases.push(await cannon('bare: jwks', bare.pid, { url: `${bareOrigin}/jwks` }));
    phases.push(
      await cannon('bare: client credentials', bare.pid, {
        url: `${bareOrigin}/token`,
        method: 'POST',
        headers: { authorization: bareBasic, 'content-type': 'application/x-www-form-urlencoded' },
        body: ccBody,
      }),
    );

    /** One login at the bare provider, as ours: authorize, its login page and form, back, the code exchange, userinfo. */
    async function bareLogin(scope: string, extra: Record<string, string> = {}) {
      const agent = new BenchAgent(bareOrigin, bareOrigin);
      const { verifier, challenge } = pkcePair();
      const authorize = new URL(`${bareOrigin}/auth`);
      for (const [k, v] of Object.entries({
        client_id: 'bare', response_type: 'code', redirect_uri: CALLBACK, scope, state: crypto.randomUUID(), nonce: crypto.randomUUID(),
        code_challenge: challenge, code_challenge_method: 'S256', ...extra,
      })) authorize.searchParams.set(k, v);
      let { res, url } = await agent.follow(authorize.toString());
      for (let page = 0; page < 3 && url.includes('/interaction/'); page++) {
        const html = await res!.text();
        const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
        const action = /<form[^>]* action="([^"]+)"/.exec(html)?.[1];
        if (!prompt || !action) throw new Error(`the bare provider's page has no form: ${html.slice(0, 200)}`);
        const posted = await agent.post(new URL(action, bareOrigin).toString(), prompt === 'login' ? { prompt, login: 'siti', password: 'unused' } : { prompt });
        await posted.arrayBuffer();
        ({ res, url } = await agent.follow(new URL(posted.headers.get('location')!, bareOrigin).toString()));
      }
      const code = new URL(url).searchParams.get('code');
      if (!code) throw new Error(`the bare provider gave no code: ${url}`);
      const tokenRes = await agent.post(`${bareOrigin}/token`, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }, { authorization: bareBasic });
      const tokens = (await tokenRes.json()) as Record<string, string>;
      if (tokenRes.status !== 200) throw new Error(`the bare code exchange answered ${tokenRes.status}: ${JSON.stringify(tokens)}`);
      const info = await agent.request(`${bareOrigin}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      if (info.status !== 200) throw new Error(`the bare userinfo answered ${info.status}`);
      await info.arrayBuffer();
      return { tokens, requests: agent.requests };
    }
    await bareLogin('openid profile email');
    const { requests: bareRequestsPerLogin } = await bareLogin('openid profile email');
    phases.push(
      await measured(bare.pid, async () => {
        const r = await runLoop(SECONDS, LOGIN_CONCURRENCY, async () => {
          await bareLogin('openid profile email');
        });
        if (r.firstError) console.error(`  bare logins: first error: ${r.firstError}`);
        return { name: 'bare: login', unit: 'logins/s', ...r, httpRequests: (r.operations + r.errors) * bareRequestsPerLogin };
      }),
    );
    const bareChains: string[] = [];
    for (let i = 0; i < CHAINS; i++) {
      const { tokens } = await bareLogin('openid offline_access', { prompt: 'consent' });
      if (!tokens.refresh_token) throw new Error('the bare login gave no refresh token');
      bareChains.push(tokens.refresh_token);
    }
    phases.push(
      await measured(bare.pid, async () => {
        const r = await runLoop(SECONDS, CHAINS, async (chain) => {
          const res = await fetch(`${bareOrigin}/token`, {
            method: 'POST',
            headers: { authorization: bareBasic, 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: bareChains[chain]! }).toString(),
          });
          const body = (await res.json()) as Record<string, string>;
          if (res.status !== 200 || !body.refresh_token) throw new Error(`bare refresh answered ${res.status}: ${JSON.stringify(body)}`);
          bareChains[chain] = body.refresh_token;
        });
        if (r.firstError) console.error(`  bare refresh: first error: ${r.firstError}`);
        return { name: 'bare: refresh token', unit: 'req/s', ...r, httpRequests: r.operations + r.errors };
      }),
    );

    // The report.
    const byName = (name: string) => phases.find((p) => p.name === name)!;
    // The better of the two kinds of token a client may ask for.
    const cc = [byName('client credentials'), byName('client credentials (JWT)')].reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
    const refresh = byName('refresh token');
    const logins = byName('login (authorize..userinfo)');
    const raw = byName('argon2id verify (raw)');
    const ratios = {
      discoveryVsBare: byName('discovery').perSecond / byName('bare: discovery').perSecond,
      jwksVsBare: byName('jwks').perSecond / byName('bare: jwks').perSecond,
      clientCredentialsVsBare: cc.perSecond / byName('bare: client credentials').perSecond,
      loginsVsArgon2: logins.perSecond / raw.perSecond,
      loginsVsArgon2PerCore: logins.perCore! / raw.perCore!,
      // The best a login on oidc-provider can do per CPU-second, against raw argon2id: a password
      // check plus what the bare provider spends on its login.
      bareLoginFloorVsArgon2PerCore: (1 / raw.perCore!) / (1 / raw.perCore! + 1 / byName('bare: login').perCore!),
      refreshVsBarePerCore: refresh.perCore! / byName('bare: refresh token').perCore!,
    };
    const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');
    const percent = (ratio: number) => `${(ratio * 100).toFixed(0)}%`;
    // As printed, to a tenth: the timers' share taken off is an estimate.
    const statementsOf = (phase: Phase) => Math.round((phase.statementsPerOp ?? Number.NaN) * 10) / 10;
    const perCoreVsBare = (name: string) => percent(byName(name).perCore! / byName(`bare: ${name}`).perCore!);
    const fmt = (n: number | undefined, digits = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));
    // One login's statements: the sum of its steps, each the fewest of five logins (the phase's
    // average carries an estimate of the timers' share).
    const loginStatements = [...loginSteps.values()].reduce((a, b) => a + b, 0);
    const targets: Record<string, string> = {
      'client credentials (JWT)': `0 statements: ${mark(statementsOf(byName('client credentials (JWT)')) < 0.05)}`,
      'refresh token': `≥ 700 per CPU-second: ${mark((refresh.perCore ?? 0) >= 700)} (bare: ${fmt(byName('bare: refresh token').perCore)}, ours ${percent(ratios.refreshVsBarePerCore)} of it); ≤ 4 statements: ${mark(statementsOf(refresh) <= 4)}`,
      'login (authorize..userinfo)': `≥ 85% of raw argon2 per CPU-second: ${percent(ratios.loginsVsArgon2PerCore)} ${mark(ratios.loginsVsArgon2PerCore >= 0.85)} (per second: ${percent(ratios.loginsVsArgon2)}; the bare provider's login with argon2id: ${percent(ratios.bareLoginFloorVsArgon2PerCore)}); ≤ 15 statements: ${loginStatements} step by step, ${mark(loginStatements <= 15)}`,
      discovery: `≥ 80% of bare: ${percent(ratios.discoveryVsBare)} ${mark(ratios.discoveryVsBare >= 0.8)} (per core: ${perCoreVsBare('discovery')})`,
      jwks: `≥ 80% of bare: ${percent(ratios.jwksVsBare)} ${mark(ratios.jwksVsBare >= 0.8)} (per core: ${perCoreVsBare('jwks')})`,
    };
    // The embedded database's memory in the login phase (issue 18).
    if (!config.databaseUrl) targets[logins.name] += `; peak RSS < 350 MB (embedded): ${mark(logins.peakRssMb! < 350)}`;
    // The better kind of client-credentials token against the bare provider's (opaque) one.
    targets[cc.name] = [targets[cc.name], `≥ 60% of bare (the better kind): ${percent(ratios.clientCredentialsVsBare)} ${mark(ratios.clientCredentialsVsBare >= 0.6)}`]
      .filter(Boolean).join('; ');
    // Login p99 among the most citizens against that among the fewest.
    if (CITIZEN_SCALE.length > 1) {
      const fewest = byName(`login, ${Math.min(...CITIZEN_SCALE)} citizens`);
      const most = byName(`login, ${Math.max(...CITIZEN_SCALE)} citizens`);
      const growth = most.p99! / fewest.p99! - 1;
      targets[most.name] = `p99 within 10% of ${fewest.name.slice(7)}: ${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(0)}% ${mark(growth <= 0.1)}`;
    }
    const header = ['phase', 'rate', 'p50 ms', 'p99 ms', 'per core', 'server cores busy', 'CPU s/1k req', 'statements/op', 'DB CPU ms/op', 'peak RSS MB', 'errors', 'target'];
    const rows = phases.map((p) => [
      p.name, `${fmt(p.perSecond)} ${p.unit}`, fmt(p.p50, 1), fmt(p.p99, 1), fmt(p.perCore), fmt(p.coresBusy, 2), fmt(p.cpuPer1000, 3), fmt(p.statementsPerOp, 1), fmt(p.databaseCpuMsPerOp, 2), fmt(p.peakRssMb), String(p.errors), targets[p.name] ?? '',
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    const rssOk = finalSample.peakRssMb < 250;
    const table = [
      line(header),
      line(widths.map((w) => '-'.repeat(w))),
      ...rows.map(line),
    ].join('\n');
    const summary = [
      `Kediri ID benchmark: ${database}, ${config.workers > 1 ? `${config.workers} server processes` : 'one server process'}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), node ${process.version}`,
      `${SECONDS} s per phase; autocannon ${CONNECTIONS} connections; ${LOGIN_CONCURRENCY} concurrent logins and argon2 verifies; ${CHAINS} refresh chains; one login = ${requestsPerLogin} HTTP requests`,
      `argon2id m=${config.argon2.memoryCost} KiB t=${config.argon2.timeCost} p=${config.argon2.parallelism}; NODE_OPTIONS=${env.NODE_OPTIONS || '(none)'}; server start ${startupSeconds.toFixed(1)} s`,
      '',
      table,
      '',
      `per core = operations per second of the server processes' CPU time (utime+stime); the load generator and PostgreSQL share the machine.`,
      `statements/op = database statements per operation, counted by the server's driver (less its timers' ${statements.idlePerSecond.toFixed(1)} a second when idle); one login's, step by step: ${[...loginSteps].map(([name, n]) => `${name} ${n}`).join(', ')}`,
      `DB CPU ms/op = CPU milliseconds of the PostgreSQL backends serving the database per operation (PostgreSQL on this machine; a pooler's own CPU not counted).`,
      `peak RSS of one server process (VmHWM) over the run: ${finalSample.peakRssMb.toFixed(0)} MB (target < 250 MB: ${mark(rssOk)})`,
      '',
      formatStartTimes(startTimes),
    ].join('\n');
    console.log(summary);

    const resultsDir = join(ROOT, 'bench', 'results');
    await mkdir(resultsDir, { recursive: true });
    const file = join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(
      file,
      `${JSON.stringify({
        date: new Date().toISOString(), database, workers: config.workers, nodeOptions: env.NODE_OPTIONS, node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model,
        memoryMb: Math.round(os.totalmem() / 2 ** 20), seconds: SECONDS, connections: CONNECTIONS, loginConcurrency: LOGIN_CONCURRENCY,
        chains: CHAINS, requestsPerLogin, argon2: config.argon2, startupSeconds, startTimes, loginStatements: Object.fromEntries(loginSteps), phases, ratios, peakRssMb: finalSample.peakRssMb, targets,
      }, null, 2)}\n`,
    );
    console.log(`\nwritten ${file}`);
  } catch (error) {
    console.error(`benchmark failed: ${(error as Error).stack}`);
    console.error(`server log (tail):\n${(await readFile(join(dataDir, 'server.log'), 'utf8').catch(() => '')).slice(-3000)}`);
    process.exitCode = 1;
  } finally {
    for (const child of [bare, server]) {
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([once(child, 'exit'), new Promise((resolve) => setTimeout(resolve, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    }
    log.end();
    await backendReader?.end();
    await cluster?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
