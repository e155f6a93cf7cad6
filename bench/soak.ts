/**
 * npm run soak: reliability under load (issue 8, item 6). Starts a PostgreSQL cluster of its own in
 * a temporary directory, two `kediri-id serve` processes on it (NODE_ENV=production) behind a
 * round-robin proxy in this script, an SMTP sink that reads the verification codes, and then:
 *
 *   1. outage: mixed traffic (logins, refreshes, registrations, logouts, dynamic client
 *      registrations), PostgreSQL stopped (pg_ctl -m immediate, as in a crash) for
 *      SOAK_OUTAGE_SECONDS and started again; detection and recovery times, how the requests of the
 *      outage ended, and a consistency check of what the load created;
 *   2. soak: SOAK_MINUTES of mixed traffic; one line a minute (operations, errors, 5xx, p99, RSS and
 *      V8 heap of each process), then a summary with a verdict on memory growth.
 *
 * Exit status 1, with the reasons printed, on a 5xx outside the outage window, a failed operation
 * outside it, a request of the outage that hung, no recovery within RECOVERY_LIMIT_SECONDS, a lost
 * or half-written account or client, a grant from before the outage that no longer works, or memory
 * that grows by the rule of memoryVerdict.
 *
 *   npm run soak
 *   SOAK_MINUTES=2 SOAK_CONCURRENCY=4 SOAK_OUTAGE_SECONDS=15 npm run soak
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/open.js';
import { SEED_EMAIL_DOMAIN, seededCitizen } from '../src/identity/seed.js';
import { newSecret } from '../src/secrets.js';
import { createServices } from '../src/services.js';
import { csrfTokenOf, signIn } from '../tests/support/agent.js';
import { freePort, kediriId, startServe, type Served } from '../tests/support/process.js';
import { createCluster, type Cluster } from './cluster.js';
import { BenchAgent, percentile, pkcePair, sampleProcess } from './support.js';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 4);
const OUTAGE_SECONDS = Number(process.env.SOAK_OUTAGE_SECONDS ?? 15);
/** Mixed traffic before the database stops, and after it is back. */
const BEFORE_OUTAGE_SECONDS = 20;
const AFTER_RECOVERY_SECONDS = 15;
const RECOVERY_LIMIT_SECONDS = 30;
/** A request of the outage window that takes longer than this hangs. */
const HANG_MS = 10_000;
/** The proxy gives up on an upstream after this long and answers 504 (a hang, made visible). */
const UPSTREAM_TIMEOUT_MS = 30_000;
/** Memory grows without bound when the last 3 minutes are this much above minutes 2-4. */
const GROWTH_LIMIT = 0.15;
const SAMPLE_EVERY_MS = 10_000;
const SEEDED_CITIZENS = 1000;
/** Logins made before the outage and kept aside: their grants must work after it. */
const HELD_GRANTS = 6;
/** Uses of the initial access token for the outage phase's dynamic client registrations. */
const CLIENT_REGISTRATIONS = 100;
/** Logged-in browsers kept for refreshes and logouts; the oldest is dropped beyond this. */
const MAX_SESSIONS = 200;
const PASSWORD = 'kembang-api-di-alun-alun';
const CALLBACK = 'http://127.0.0.1:9/callback';
const AFTER_LOGOUT = 'http://127.0.0.1:9/signed-out';
const REGISTRATION_DOMAIN = 'soak.kediri-id.invalid';
/** Registered citizen k gets the NIK of seeded citizen REGISTRATION_BASE + k (valid, unused). */
const REGISTRATION_BASE = 100_000;
const DATABASE_NAME = 'kediri_soak_test';
const SERVER_ENV_FIXED = {
  NODE_ENV: 'production',
  TRUST_PROXY: 'true',
  WORKERS: '1',
  LOG_LEVEL: 'warn',
  // The heap limit docs/performance.md recommends for production.
  NODE_OPTIONS: '--max-old-space-size=192',
  // Required in production; the soak sends no WhatsApp or SMS message.
  MESSAGE_GATEWAY: 'sms',
  SMS_GATEWAY_URL: 'http://127.0.0.1:1/sms',
  SMS_GATEWAY_TOKEN: 'unused',
  // All traffic comes from one address: the per-address limits would stop it.
  IP_LIMIT_LOGIN: '100000000',
  IP_LIMIT_REGISTER: '100000000',
  IP_LIMIT_CODE: '100000000',
};

const now = () => performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The machine's 1, 5 and 15 minute load averages: other work on it shows here. */
const loadAverage = () => os.loadavg().map((n) => n.toFixed(1)).join(' ');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** What to undo at the end, on error or Ctrl-C too, newest first. */
const cleanups: Array<() => Promise<unknown>> = [];
async function cleanUp(): Promise<void> {
  for (const undo of cleanups.splice(0).reverse()) await undo().catch((error: unknown) => console.error(`cleanup: ${(error as Error).message}`));
}

// ---------------------------------------------------------------------------------------------
// The mail relay: an SMTP server that keeps each verification code for its address.

interface MailSink {
  url: string;
  received(): number;
  /** The verification code emailed to this address (waits for it). */
  codeFor(email: string, timeoutMs: number): Promise<string>;
}

async function startMailSink(): Promise<MailSink> {
  const codes = new Map<string, string>();
  const waiting = new Map<string, (code: string) => void>();
  let received = 0;
  const arrived = (email: string, code: string) => {
    const wake = waiting.get(email);
    if (wake) wake(code);
    else codes.set(email, code);
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      let text = '';
      stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
      stream.on('end', () => {
        received++;
        // Quoted-printable: soft line breaks ("=" at the end of a line) joined again.
        const code = /halaman verifikasi: (\d{6})/.exec(text.replace(/=\r?\n/g, ''))?.[1];
        if (code) for (const to of session.envelope.rcptTo) arrived(to.address.toLowerCase(), code);
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received: () => received,
    codeFor(email, timeoutMs) {
      const code = codes.get(email);
      if (code) {
        codes.delete(email);
        return Promise.resolve(code);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(email);
          reject(new Error(`no verification email within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        waiting.set(email, (arrivedCode) => {
          clearTimeout(timer);
          waiting.delete(email);
          resolve(arrivedCode);
        });
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The load balancer: round robin over the server processes, as a TLS-terminating proxy would
// forward (X-Forwarded-For, X-Forwarded-Proto: https). It records every exchange.

interface Exchange {
  start: number;
  end: number;
  status: number;
  upstream: number;
  /** Method and path, opaque ids (interaction uids, client ids) as ":id", no query. */
  route: string;
}

function routeOf(req: http.IncomingMessage): string {
  const path = new URL(req.url ?? '/', 'http://proxy').pathname.replace(/\/[\w-]{20,}/g, '/:id');
  return `${req.method} ${path}`;
}

interface Proxy {
  origin: string;
  exchanges: Exchange[];
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade'];
function withoutHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.includes(name)));
}

async function startProxy(port: number, upstreamPorts: number[]): Promise<Proxy> {
  // A connection per request to the upstreams, as nginx does by default: reusing one that the
  // server is closing for idleness would fail a request (502) for a reason of the proxy's own.
  const agent = new http.Agent({ keepAlive: false });
  const exchanges: Exchange[] = [];
  let turn = 0;
  const server = http.createServer((req, res) => {
    const upstream = turn++ % upstreamPorts.length;
    const start = now();
    res.on('close', () => exchanges.push({ start, end: now(), status: res.statusCode, upstream, route: routeOf(req) }));
    const forwardedFor = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
    const forwarded = http.request(
      {
        host: '127.0.0.1',
        port: upstreamPorts[upstream],
        method: req.method,
        path: req.url,
        agent,
        timeout: UPSTREAM_TIMEOUT_MS,
        headers: { ...withoutHopByHop(req.headers), 'x-forwarded-for': forwardedFor, 'x-forwarded-proto': 'https' },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers));
        answer.pipe(res);
      },
    );
    forwarded.on('timeout', () => forwarded.destroy(new Error('upstream timeout')));
    forwarded.on('error', (error) => {
      if (res.headersSent) res.destroy();
      else res.writeHead(error.message === 'upstream timeout' ? 504 : 502).end();
    });
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    agent.destroy();
  });
  return { origin: `http://127.0.0.1:${port}`, exchanges };
}

// ---------------------------------------------------------------------------------------------
// The server processes.

interface Server {
  name: string;
  port: number;
  metricsPort: number;
  served: Served;
}

async function startServer(name: string, env: Record<string, string>): Promise<Server> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const served = await startServe({ ...env, PORT: String(port), METRICS_PORT: String(metricsPort) }, { captureOutput: true });
  cleanups.push(() => served.stop());
  return { name, port, metricsPort, served };
}

/** A process that ended on its own is a failure: what it last wrote to standard error says why. */
function exitedProcesses(servers: Server[]): string[] {
  return servers
    .filter((server) => server.served.child.exitCode !== null || server.served.child.signalCode !== null)
    .map((server) => {
      const { exitCode, signalCode } = server.served.child;
      return `${server.name} exited (${signalCode ?? `status ${exitCode}`}); the end of its standard error:\n${server.served.stderr().slice(-3000)}`;
    });
}

/** The server's error log lines (JSON, level error or fatal) counted by message, error code and where in src/ (dist/ when built) it was thrown. */
function errorsLogged(log: string): string[] {
  const causes = log.split('\n').filter((line) => /"level":(50|60)/.test(line)).map((line) => {
    const entry = JSON.parse(line) as { msg?: string; err?: { code?: string; message?: string; stack?: string } };
    // The first frame of ours above the database driver.
    const where = [...(entry.err?.stack ?? '').matchAll(/\/((?:src|dist)\/[^:)]+:\d+)/g)].map((m) => m[1]!).find((frame) => !/^(src|dist)\/db\//.test(frame));
    return `${entry.msg}: ${entry.err?.code ?? entry.err?.message ?? ''}${where ? ` at ${where}` : ''}`;
  });
  return countsOf(causes).map((line) => `  ${line}`);
}

/** The status of GET /readyz on one process, or 0 when it does not answer within 5 s. */
async function readiness(server: Server): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/readyz`, { headers: { 'x-forwarded-proto': 'https' }, signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** The V8 heap in use (prom-client's nodejs_heap_size_used_bytes), in MB. */
async function heapUsedMb(server: Server): Promise<number> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? NaN) / 2 ** 20;
  } catch {
    return NaN;
  }
}

/** Resolves with the time at which check() first holds, polling every 100 ms; undefined after limitMs. */
async function firstTime(check: () => Promise<boolean>, limitMs: number): Promise<number | undefined> {
  const deadline = now() + limitMs;
  while (now() < deadline) {
    if (await check()) return now();
    await sleep(100);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// What a citizen and a relying party do, over the proxy.

interface Session {
  agent: BenchAgent;
  accessToken: string;
  refreshToken: string;
  idToken: string;
}

/** What the load created and was told it created: the consistency check looks for each of these. */
interface Ledger {
  registered: string[];
  verified: string[];
  clients: string[];
}

interface Endpoints {
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string;
  end_session_endpoint: string;
  registration_endpoint: string;
}

class Flows {
  private registrations = 0;

  constructor(
    private readonly issuer: string,
    private readonly origin: string,
    private readonly endpoints: Endpoints,
    private readonly client: { id: string; basic: string },
    private readonly mail: MailSink,
    readonly ledger: Ledger,
  ) {}

  browser(): BenchAgent {
    return new BenchAgent(this.issuer, this.origin);
  }

  private authorizationUrl(params: Record<string, string>): string {
    const url = new URL(this.endpoints.authorization_endpoint);
    for (const [name, value] of Object.entries({ client_id: this.client.id, response_type: 'code', redirect_uri: CALLBACK, nonce: randomUUID(), ...params })) {
      url.searchParams.set(name, value);
    }
    return url.toString();
  }

  /** The code at the callback, or an error that says where the flow ended (never the URL's secrets). */
  private static codeAt(where: string, state: string): string {
    const url = new URL(where);
    const code = url.searchParams.get('code');
    if (!code || url.searchParams.get('state') !== state) {
      throw new Error(`login ended at ${url.pathname}${url.searchParams.has('error') ? ` (${url.searchParams.get('error')})` : ''}`);
    }
    return code;
  }

  private async tokenRequest(agent: BenchAgent, fields: Record<string, string>): Promise<Record<string, string>> {
    const res = await agent.post(this.endpoints.token_endpoint, fields, { authorization: this.client.basic });
    const body = (await res.json().catch(() => ({}))) as Record<string, string>;
    if (res.status !== 200) throw new Error(`${fields.grant_type} answered ${res.status} ${body.error ?? ''}`);
    return body;
  }

  private async userinfo(agent: BenchAgent, accessToken: string): Promise<void> {
    const res = await agent.request(this.endpoints.userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`userinfo answered ${res.status}`);
  }

  /** A whole login in a fresh browser (authorization code with PKCE, offline access, consent), then userinfo. */
  async login(email: string): Promise<Session> {
    const agent = this.browser();
    const { verifier, challenge } = pkcePair();
    const state = randomUUID();
    const scope = 'openid profile email offline_access';
    const url = this.authorizationUrl({ scope, state, prompt: 'consent', code_challenge: challenge, code_challenge_method: 'S256' });
    const code = Flows.codeAt(await signIn(agent, url, email, PASSWORD), state);
    const tokens = await this.tokenRequest(agent, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier });
    if (!tokens.refresh_token || !tokens.id_token) throw new Error('the login gave no refresh token or ID token');
    await this.userinfo(agent, tokens.access_token!);
    return { agent, accessToken: tokens.access_token!, refreshToken: tokens.refresh_token, idToken: tokens.id_token };
  }

  /** The refresh token grant; the session takes the rotated tokens. */
  async refresh(session: Session): Promise<void> {
    const tokens = await this.tokenRequest(session.agent, { grant_type: 'refresh_token', refresh_token: session.refreshToken });
    if (!tokens.refresh_token) throw new Error('the refresh gave no refresh token');
    session.refreshToken = tokens.refresh_token;
    session.accessToken = tokens.access_token!;
  }

  /** The session's browser asks for a code again without any page (prompt=none): its session is alive. */
  async silentLogin(session: Session): Promise<void> {
    const state = randomUUID();
    const { challenge } = pkcePair();
    const url = this.authorizationUrl({ scope: 'openid', state, prompt: 'none', code_challenge: challenge, code_challenge_method: 'S256' });
    Flows.codeAt((await session.agent.follow(url)).url, state);
  }

  /** The session's grant still works after the outage: refresh, userinfo with the new token, single sign-on. */
  async stillWorks(session: Session): Promise<void> {
    await this.refresh(session);
    await this.userinfo(session.agent, session.accessToken);
    await this.silentLogin(session);
  }

  /** RP-initiated logout in the session's browser, confirmed, back to the client's post-logout URI. */
  async logout(session: Session): Promise<void> {
    const url = new URL(this.endpoints.end_session_endpoint);
    url.searchParams.set('id_token_hint', session.idToken);
    url.searchParams.set('post_logout_redirect_uri', AFTER_LOGOUT);
    const { res } = await session.agent.follow(url.toString());
    const page = (await res?.text()) ?? '';
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)?.[1];
    const action = /action="([^"]+)"/.exec(page)?.[1];
    if (res?.status !== 200 || !xsrf || !action) throw new Error(`the logout page answered ${res?.status}`);
    const done = await session.agent.post(new URL(action, this.issuer).toString(), { xsrf, logout: 'yes' });
    await done.arrayBuffer();
    if (done.status !== 303 || done.headers.get('location') !== AFTER_LOGOUT) throw new Error(`the logout answered ${done.status}`);
  }

  /**
   * Registration at /daftar, then the code from the email at /verifikasi. Returns the email (an
   * account that can sign in) and how long the email took (not counted in the latency).
   */
  async register(): Promise<{ email: string; mailMs: number }> {
    const k = this.registrations++;
    const person = seededCitizen(REGISTRATION_BASE + k);
    const email = `daftar${k}.${randomUUID().slice(0, 8)}@${REGISTRATION_DOMAIN}`;
    const agent = this.browser();
    const form = await agent.request('/daftar');
    const formPage = await form.text();
    if (form.status !== 200) throw new Error(`/daftar answered ${form.status}`);
    const [year, month, day] = person.birthdate.split('-') as [string, string, string];
    const posted = await agent.post('/daftar', {
      _csrf: csrfTokenOf(formPage), lanjut: '', nik: person.nik, name: `Warga Daftar ${lettersOf(k)}`, birth_day: day, birth_month: month,
      birth_year: year, email, phone: '', password: PASSWORD, password_confirm: PASSWORD, privacy: 'ya',
    });
    await posted.arrayBuffer();
    if (posted.status !== 303) throw new Error(`registration answered ${posted.status}`);
    this.ledger.registered.push(email);
    const codePage = await agent.request('/verifikasi?dikirim=1');
    const codeHtml = await codePage.text();
    if (codePage.status !== 200) throw new Error(`/verifikasi answered ${codePage.status}`);
    const mailStart = now();
    const code = await this.mail.codeFor(email, 60_000);
    const mailMs = now() - mailStart;
    const verified = await agent.post('/verifikasi', { _csrf: csrfTokenOf(codeHtml), token: '', code });
    await verified.arrayBuffer();
    if (verified.status !== 200) throw new Error(`verification answered ${verified.status}`);
    this.ledger.verified.push(email);
    return { email, mailMs };
  }

  /** RFC 7591 dynamic registration of a web client with an initial access token. */
  async registerClient(initialAccessToken: string): Promise<void> {
    const res = await this.browser().request(this.endpoints.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${initialAccessToken}` },
      body: JSON.stringify({
        client_name: 'Layanan Uji Ketahanan',
        redirect_uris: ['https://layanan.kedirikota.go.id/callback'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'openid profile',
        policy_uri: 'https://layanan.kedirikota.go.id/privasi',
        contacts: ['pengembang@kedirikota.go.id'],
      }),
    });
    const body = (await res.json().catch(() => ({}))) as Record<string, string>;
    if (res.status !== 201 || !body.client_id) throw new Error(`client registration answered ${res.status} ${body.error ?? ''}`);
    this.ledger.clients.push(body.client_id);
  }
}

/** k in letters (a name holds no digits): 0 -> "A", 26 -> "Ba". */
function lettersOf(k: number): string {
  let text = '';
  for (let n = k; ; n = Math.floor(n / 26) - 1) {
    text = String.fromCharCode(97 + (n % 26)) + text;
    if (n < 26) break;
  }
  return text[0]!.toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Mixed traffic: workers that each pick an operation by weight, again and again.

type Kind = 'login' | 'refresh' | 'logout' | 'register' | 'client';
const KINDS: Kind[] = ['login', 'refresh', 'logout', 'register', 'client'];

interface Op {
  kind: Kind;
  start: number;
  end: number;
  /** Latency: the time of its requests (a registration's wait for the email left out). */
  ms: number;
  error?: string;
}

class MixedLoad {
  readonly ops: Op[] = [];
  private readonly sessions: Session[] = [];
  private clientsLeft = 0;
  private stopping = false;
  private workers: Array<Promise<void>> = [];

  constructor(
    private readonly flows: Flows,
    private readonly accounts: string[],
    private readonly weights: Partial<Record<Kind, number>>,
    private readonly initialAccessToken?: { token: string; uses: number },
  ) {
    this.clientsLeft = initialAccessToken?.uses ?? 0;
  }

  start(concurrency: number): void {
    this.stopping = false;
    this.workers = Array.from({ length: concurrency }, () => this.work());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    while (!this.stopping) await this.once(this.pick());
  }

  /** A kind by weight; one that has nothing to work on (no session, no token use left) becomes a login. */
  private pick(): Kind {
    const total = KINDS.reduce((sum, kind) => sum + (this.weights[kind] ?? 0), 0);
    let draw = Math.random() * total;
    const kind = KINDS.find((k) => (draw -= this.weights[k] ?? 0) < 0) ?? 'login';
    if ((kind === 'refresh' || kind === 'logout') && this.sessions.length === 0) return 'login';
    if (kind === 'client' && this.clientsLeft <= 0) return 'login';
    return kind;
  }

  private async once(kind: Kind): Promise<void> {
    const start = now();
    try {
      const excluded = await this.perform(kind);
      const end = now();
      this.ops.push({ kind, start, end, ms: end - start - excluded });
    } catch (error) {
      const end = now();
      this.ops.push({ kind, start, end, ms: end - start, error: (error as Error).message });
    }
  }

  /** Runs one operation; returns the milliseconds not to count in its latency. */
  private async perform(kind: Kind): Promise<number> {
    switch (kind) {
      case 'login': {
        const email = this.accounts[Math.floor(Math.random() * this.accounts.length)]!;
        this.sessions.push(await this.flows.login(email));
        if (this.sessions.length > MAX_SESSIONS) this.sessions.shift();
        return 0;
      }
      case 'refresh': {
        // Taken out while in use; a failed refresh drops the session (its chain may be spent).
        const session = this.takeSession();
        await this.flows.refresh(session);
        this.sessions.push(session);
        return 0;
      }
      case 'logout':
        await this.flows.logout(this.takeSession());
        return 0;
      case 'register': {
        const { email, mailMs } = await this.flows.register();
        this.accounts.push(email);
        return mailMs;
      }
      case 'client':
        this.clientsLeft--;
        await this.flows.registerClient(this.initialAccessToken!.token);
        return 0;
    }
  }

  private takeSession(): Session {
    return this.sessions.splice(Math.floor(Math.random() * this.sessions.length), 1)[0]!;
  }
}

// ---------------------------------------------------------------------------------------------
// Figures.

interface Window {
  from: number;
  to: number;
}
const overlaps = (a: { start: number; end: number }, w: Window) => a.start <= w.to && a.end >= w.from;
const outside = <T extends { start: number; end: number }>(items: T[], windows: Window[]) => items.filter((item) => !windows.some((w) => overlaps(item, w)));
const is5xx = (e: Exchange) => e.status >= 500;
const ms = (n: number) => (Number.isNaN(n) ? '-' : `${n.toFixed(0)} ms`);

function latencies(values: number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? NaN };
}

/** Operations by kind: "login 120 (2 failed), refresh 340". */
function byKind(ops: Op[]): string {
  return KINDS.map((kind) => {
    const of = ops.filter((op) => op.kind === kind);
    const failed = of.filter((op) => op.error).length;
    return of.length ? `${kind} ${of.length}${failed ? ` (${failed} failed)` : ''}` : '';
  }).filter(Boolean).join(', ');
}

/** The most frequent values, with counts: "12 × GET /auth 500". */
function countsOf(values: string[], top = 8): string[] {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, top).map(([value, count]) => `${count} × ${value}`);
}

// ---------------------------------------------------------------------------------------------
// Consistency: what the load was told it created exists whole; nothing exists half-written.

async function consistencyProblems(databaseUrl: string, ledger: Ledger, clientTokenUses: number): Promise<string[]> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const problems: string[] = [];
    const { rows: citizens } = await db.query<{ email: string; verified: boolean; complete: boolean; audited: boolean; mailed: boolean; token: boolean; consumed: boolean }>(
      `select lower(c.email) as email, c.email_verified as verified,
         (c.password_hash like '$argon2id$%' and c.nik_hash <> '' and c.nik_enc <> '' and c.name <> '') as complete,
         exists(select 1 from audit_events a where a.citizen_id = c.id and a.type = 'citizen.created') as audited,
         exists(select 1 from outbox o where lower(o.to_address) = lower(c.email)) as mailed,
         exists(select 1 from account_tokens t where t.citizen_id = c.id and t.purpose = 'verify_email') as token,
         exists(select 1 from account_tokens t where t.citizen_id = c.id and t.purpose = 'verify_email' and t.consumed_at is not null) as consumed
       from citizens c where c.email like $1`,
      [`%@${REGISTRATION_DOMAIN}`],
    );
    const stored = new Map(citizens.map((row) => [row.email, row]));
    const lost = ledger.registered.filter((email) => !stored.has(email));
    if (lost.length) problems.push(`${lost.length} registrations answered as done are not in the database`);
    const unverified = ledger.verified.filter((email) => !stored.get(email)?.verified);
    if (unverified.length) problems.push(`${unverified.length} verifications answered as done are not recorded`);
    const halfWritten = citizens.filter((c) => !c.complete || !c.audited || !c.mailed || !c.token || c.verified !== c.consumed);
    if (halfWritten.length) problems.push(`${halfWritten.length} half-written accounts (a row without its password, NIK, audit entry, token or email, or verified without its token spent)`);

    const { rows: clients } = await db.query<{ client_id: string; whole: boolean }>(
      `select c.client_id, (c.status = 'pending' and c.client_secret_enc is not null and
         exists(select 1 from client_requests r where r.client_id = c.client_id and r.kind = 'create' and r.source = 'dynamic' and r.status = 'pending') and
         exists(select 1 from audit_events a where a.client_id = c.client_id and a.type = 'client.registered_dynamically')) as whole
       from clients c where c.registration_token_hash is not null`,
    );
    const storedClients = new Set(clients.map((c) => c.client_id));
    const lostClients = ledger.clients.filter((id) => !storedClients.has(id));
    if (lostClients.length) problems.push(`${lostClients.length} client registrations answered as done are not in the database`);
    const halfClients = clients.filter((c) => !c.whole);
    if (halfClients.length) problems.push(`${halfClients.length} half-written clients (without their pending request, secret or audit entry)`);
    const { rows: tokens } = await db.query<{ used: number }>('select coalesce(sum($1::int - uses_left), 0)::int as used from initial_access_tokens', [clientTokenUses]);
    if (tokens[0]!.used !== clients.length) problems.push(`initial access token uses spent (${tokens[0]!.used}) differ from the clients registered (${clients.length})`);

    console.log(`  accounts: ${ledger.registered.length} registrations answered, ${citizens.length} in the database (${citizens.filter((c) => c.verified).length} verified; ${ledger.verified.length} verifications answered), ${halfWritten.length} half-written`);
    console.log(`  clients: ${ledger.clients.length} registrations answered, ${clients.length} in the database, ${halfClients.length} half-written; token uses spent ${tokens[0]!.used}`);
    return problems;
  } finally {
    await db.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Phase 1: the database goes away and comes back.

interface OutageResult {
  window: Window;
  failures: string[];
}

async function outagePhase(cluster: Cluster, servers: Server[], proxy: Proxy, flows: Flows, accounts: string[], clientToken: string): Promise<OutageResult> {
  const failures: string[] = [];
  console.log(`\nphase 1: database outage (${BEFORE_OUTAGE_SECONDS} s of load, PostgreSQL stopped for ${OUTAGE_SECONDS} s, then ${AFTER_RECOVERY_SECONDS} s after recovery)`);
  const held = await Promise.all(Array.from({ length: HELD_GRANTS }, (_, i) => flows.login(accounts[i]!)));
  const load = new MixedLoad(flows, accounts, { login: 4, refresh: 4, register: 1, logout: 1, client: 1 }, { token: clientToken, uses: CLIENT_REGISTRATIONS });
  load.start(CONCURRENCY);
  await sleep(BEFORE_OUTAGE_SECONDS * 1000);

  const stopAt = now();
  await cluster.stop();
  const stoppedAt = now();
  console.log(`  PostgreSQL stopped (pg_ctl stop -m immediate took ${seconds(stoppedAt - stopAt)})`);
  const detected = await Promise.all(servers.map((server) => firstTime(async () => (await readiness(server)) === 503, OUTAGE_SECONDS * 1000)));
  servers.forEach((server, i) => console.log(`  ${server.name}: /readyz 503 ${detected[i] === undefined ? 'NOT within the outage' : `${seconds(detected[i]! - stopAt)} after the stop`}`));
  if (detected.includes(undefined)) failures.push('a process did not report the outage on /readyz');
  await sleep(Math.max(0, stopAt + OUTAGE_SECONDS * 1000 - now()));

  const startAt = now();
  await cluster.start();
  const upAt = now();
  console.log(`  PostgreSQL started again after ${seconds(startAt - stopAt)} down (pg_ctl start took ${seconds(upAt - startAt)}, crash recovery included)`);
  const limit = RECOVERY_LIMIT_SECONDS * 1000;
  const [ready, firstLogin] = await Promise.all([
    Promise.all(servers.map((server) => firstTime(async () => (await readiness(server)) === 200, limit))),
    firstTime(() => flows.login(accounts[0]!).then(() => true, () => false), limit),
  ]);
  servers.forEach((server, i) => console.log(`  ${server.name}: /readyz 200 ${ready[i] === undefined ? 'NOT' : seconds(ready[i]! - upAt)} after PostgreSQL was back`));
  console.log(`  first successful login ${firstLogin === undefined ? 'NOT' : seconds(firstLogin - upAt)} after PostgreSQL was back`);
  const recoveredAt = Math.max(...[...ready, firstLogin].map((t) => t ?? now()));
  if ([...ready, firstLogin].includes(undefined)) failures.push(`no recovery within ${RECOVERY_LIMIT_SECONDS} s of the database's return`);
  const window = { from: stopAt, to: recoveredAt };
  console.log(`  recovered ${seconds(recoveredAt - upAt)} after PostgreSQL was back; outage window (stop to recovery) ${seconds(recoveredAt - stopAt)}`);

  await sleep(AFTER_RECOVERY_SECONDS * 1000);
  await load.stop();

  const during = proxy.exchanges.filter((e) => overlaps(e, window));
  const statuses = new Map<number, number>();
  for (const e of during) statuses.set(e.status, (statuses.get(e.status) ?? 0) + 1);
  const outageLatency = latencies(during.map((e) => e.end - e.start));
  console.log(`  requests in the outage window: ${during.length} (${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}: ${n}`).join(', ')}); p99 ${ms(outageLatency.p99)}, max ${ms(outageLatency.max)}`);
  const hung = during.filter((e) => e.end - e.start > HANG_MS).length;
  if (hung) failures.push(`${hung} requests of the outage took more than ${HANG_MS / 1000} s (hung)`);
  const other5xx = during.filter((e) => is5xx(e) && e.status !== 503);
  if (other5xx.length) {
    console.log(`  5xx other than 503 in the window, by route: ${countsOf(other5xx.map((e) => `${e.route} ${e.status}`)).join('; ')}`);
    failures.push(`${other5xx.length} answers in the outage window were 5xx other than 503`);
  }
  failures.push(...outsideWindow('phase 1', proxy.exchanges, load.ops, [window]));
  console.log(`  operations: ${byKind(load.ops)}`);

  const heldFailures = (await Promise.all(held.map((session) => flows.stillWorks(session).then(() => undefined, (error: Error) => error.message)))).filter(Boolean);
  console.log(`  grants from before the outage: ${HELD_GRANTS - heldFailures.length} of ${HELD_GRANTS} still refresh, read userinfo and sign in silently`);
  if (heldFailures.length) failures.push(`grants from before the outage that no longer work: ${heldFailures.join('; ')}`);
  failures.push(...(await consistencyProblems(cluster.url, flows.ledger, CLIENT_REGISTRATIONS)));
  return { window, failures };
}

/** 5xx answers and failed operations outside the outage windows: each is a failure. */
function outsideWindow(phase: string, exchanges: Exchange[], ops: Op[], windows: Window[]): string[] {
  const failures: string[] = [];
  const fives = outside(exchanges.filter(is5xx), windows);
  const failed = outside(ops.filter((op) => op.error), windows);
  console.log(`  ${phase}: 5xx outside the outage window: ${fives.length}; failed operations outside it: ${failed.length}`);
  if (fives.length) failures.push(`${phase}: ${fives.length} 5xx answers outside the outage window: ${countsOf(fives.map((e) => `${e.route} ${e.status}`)).join('; ')}`);
  if (failed.length) {
    failures.push(`${phase}: ${failed.length} operations failed outside the outage window`);
    console.log(countsOf(failed.map((op) => `${op.kind}: ${op.error}`)).map((line) => `    ${line}`).join('\n'));
  }
  return failures;
}

// ---------------------------------------------------------------------------------------------
// Phase 2: the soak.

interface Sample {
  at: number;
  rssMb: number[];
  heapMb: number[];
}

async function sample(servers: Server[]): Promise<Sample> {
  return {
    at: now(),
    rssMb: servers.map((server) => (server.served.child.exitCode === null ? sampleProcess(server.served.child.pid!).rssMb : NaN)),
    heapMb: await Promise.all(servers.map(heapUsedMb)),
  };
}

/** Per process and minute: the last RSS and the lowest heap in use (the heap after collections) of that minute. */
function perMinute(samples: Sample[], from: number, minute: number, process: number): { rss: number; heap: number } {
  const inMinute = samples.filter((s) => s.at > from + (minute - 1) * 60_000 && s.at <= from + minute * 60_000 + 1000);
  return { rss: inMinute.at(-1)?.rssMb[process] ?? NaN, heap: Math.min(...inMinute.map((s) => s.heapMb[process] ?? NaN)) };
}

/**
 * Memory grows without bound when, for a process, the mean RSS or the mean of the per-minute lowest
 * heap of the last 3 minutes is more than GROWTH_LIMIT above that of minutes 2-4 (minute 1 is the
 * warm-up). Needs 6 minutes or more: the two stretches must not overlap.
 */
function memoryVerdict(samples: Sample[], from: number, minutes: number, servers: Server[]): string[] {
  if (minutes < 6) {
    console.log(`  memory: ${minutes} minutes are too few to judge growth (6 or more: minutes 2-4 against the last 3)`);
    return [];
  }
  const failures: string[] = [];
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  servers.forEach((server, p) => {
    const stretch = (first: number) => [first, first + 1, first + 2].map((m) => perMinute(samples, from, m, p));
    const [early, late] = [stretch(2), stretch(minutes - 2)];
    const rssGrowth = mean(late.map((m) => m.rss)) / mean(early.map((m) => m.rss)) - 1;
    const heapGrowth = mean(late.map((m) => m.heap)) / mean(early.map((m) => m.heap)) - 1;
    const grows = rssGrowth > GROWTH_LIMIT || heapGrowth > GROWTH_LIMIT;
    const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
    console.log(`  memory of ${server.name}: last 3 minutes against minutes 2-4: RSS ${pct(rssGrowth)}, lowest heap ${pct(heapGrowth)} (limit +${GROWTH_LIMIT * 100} %): ${grows ? 'GROWING' : 'bounded'}`);
    if (grows) failures.push(`memory of ${server.name} grows: RSS ${pct(rssGrowth)}, heap ${pct(heapGrowth)}`);
  });
  return failures;
}

async function soakPhase(servers: Server[], proxy: Proxy, flows: Flows, accounts: string[], outage: Window): Promise<string[]> {
  console.log(`\nphase 2: soak, ${MINUTES} minutes of mixed traffic (${CONCURRENCY} concurrent users)`);
  const load = new MixedLoad(flows, accounts, { login: 4, refresh: 4, register: 1, logout: 1 });
  const from = now();
  const firstExchange = proxy.exchanges.length;
  const samples: Sample[] = [await sample(servers)];
  load.start(CONCURRENCY);
  for (let minute = 1; minute <= MINUTES; minute++) {
    while (now() < from + minute * 60_000) {
      await sleep(Math.min(SAMPLE_EVERY_MS, from + minute * 60_000 - now()));
      samples.push(await sample(servers));
    }
    printMinute(minute, from, proxy.exchanges.slice(firstExchange), load.ops, samples, servers);
  }
  await load.stop();
  samples.push(await sample(servers));

  const exchanges = proxy.exchanges.slice(firstExchange);
  const fives = exchanges.filter(is5xx).length;
  const failed = load.ops.filter((op) => op.error).length;
  const all = latencies(exchanges.map((e) => e.end - e.start));
  console.log(`\nsoak summary (${MINUTES} minutes, ${CONCURRENCY} concurrent users, two processes behind the round-robin proxy):`);
  console.log(`  HTTP requests: ${exchanges.length} (${(exchanges.length / (MINUTES * 60)).toFixed(1)}/s); 5xx: ${fives}; per request p50 ${ms(all.p50)}, p99 ${ms(all.p99)}, max ${ms(all.max)}`);
  console.log(`  operations: ${load.ops.length}; failed: ${failed} (error rate ${((failed / Math.max(1, load.ops.length)) * 100).toFixed(2)} %)`);
  for (const kind of KINDS) {
    const ok = load.ops.filter((op) => op.kind === kind && !op.error);
    if (!ok.length) continue;
    const l = latencies(ok.map((op) => op.ms));
    console.log(`    ${kind.padEnd(8)} ${String(ok.length).padStart(6)} done, p50 ${ms(l.p50).padStart(7)}, p99 ${ms(l.p99).padStart(7)}`);
  }
  const start = MINUTES >= 2 ? 1 : 0;
  servers.forEach((server, p) => {
    const [first, last] = [start ? perMinute(samples, from, 1, p) : { rss: samples[0]!.rssMb[p]!, heap: samples[0]!.heapMb[p]! }, { rss: samples.at(-1)!.rssMb[p]!, heap: samples.at(-1)!.heapMb[p]! }];
    const peak = sampleProcess(server.served.child.pid!).peakRssMb;
    console.log(`  ${server.name}: RSS ${first.rss.toFixed(0)} MB at ${start ? 'the end of minute 1' : 'the start'}, ${last.rss.toFixed(0)} MB at the end (peak ${peak.toFixed(0)} MB); heap in use ${first.heap.toFixed(0)} -> ${last.heap.toFixed(0)} MB`);
  });
  return [...outsideWindow('phase 2', exchanges, load.ops, [outage]), ...memoryVerdict(samples, from, MINUTES, servers)];
}

function printMinute(minute: number, from: number, exchanges: Exchange[], ops: Op[], samples: Sample[], servers: Server[]): void {
  const [start, end] = [from + (minute - 1) * 60_000, from + minute * 60_000];
  const inMinute = exchanges.filter((e) => e.end > start && e.end <= end);
  const opsInMinute = ops.filter((op) => op.end > start && op.end <= end);
  const p99 = latencies(inMinute.map((e) => e.end - e.start)).p99;
  const memory = servers.map((server, p) => {
    const m = perMinute(samples, from, minute, p);
    return `${server.name} RSS ${m.rss.toFixed(0)} MB heap ${m.heap.toFixed(0)} MB`;
  });
  const total = exchanges.filter((e) => e.end <= end).length;
  console.log(
    `  minute ${String(minute).padStart(2)}: ${inMinute.length} requests (${total} so far), ${byKind(opsInMinute)}; failed ${opsInMinute.filter((op) => op.error).length}, 5xx ${inMinute.filter(is5xx).length}, p99 ${ms(p99)}; ${memory.join('; ')}`,
  );
}

// ---------------------------------------------------------------------------------------------

/** The operator's setup: a web client, the seeded citizens, an initial access token for dynamic registration. */
async function setUp(env: Record<string, string>): Promise<{ clientId: string; clientSecret: string; clientToken: string }> {
  const cli = async (args: string[], extra: Record<string, string> = {}, stdin = '') => {
    const result = await kediriId(args, { ...env, ...extra }, stdin);
    if (result.code !== 0) throw new Error(`kediri-id ${args.slice(0, 2).join(' ')}: ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout) as Record<string, string>;
  };
  const client = await cli([
    'client', 'create', '--unit', 'dispendukcapil', '--name', 'Uji Ketahanan', '--redirect-uri', CALLBACK, '--post-logout-redirect-uri', AFTER_LOGOUT,
    '--scope', 'openid offline_access profile email', '--grant-type', 'authorization_code', '--grant-type', 'refresh_token',
  ]);
  // Seeding is refused in production: it runs as a test tool, as in the benchmark.
  await cli(['dev', 'seed', '--citizens', String(SEEDED_CITIZENS)], { NODE_ENV: 'test' }, PASSWORD);
  const operator = seededCitizen(REGISTRATION_BASE - 1);
  const admin = await cli(['admin', 'create', '--email', 'operator@kediri-id.invalid', '--nik', operator.nik, '--name', 'Operator Uji', '--birthdate', operator.birthdate], {}, PASSWORD);
  // Initial access tokens are issued in the admin console; here through the same service.
  const config = loadConfig(env);
  const db = await openDatabase(config);
  try {
    const services = await createServices(config, db);
    const issued = await services.dynamicRegistration.issueAccessToken({ unit: 'dpmptsp', uses: CLIENT_REGISTRATIONS, expiresInHours: 2 }, admin.id!, '127.0.0.1');
    return { clientId: client.client_id!, clientSecret: client.client_secret!, clientToken: issued.token };
  } finally {
    await db.close();
  }
}

async function main(): Promise<number> {
  const began = now();
  console.log(`Kediri ID soak: ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), node ${process.version}, load average ${loadAverage()}; SOAK_MINUTES=${MINUTES} SOAK_CONCURRENCY=${CONCURRENCY} SOAK_OUTAGE_SECONDS=${OUTAGE_SECONDS}`);
  const dir = await mkdtemp(join(os.tmpdir(), 'kediri-soak-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  // PostgreSQL of our own: the outage needs a cluster we may stop.
  const cluster = await createCluster(dir, DATABASE_NAME);
  cleanups.push(() => cluster.stop());
  const mail = await startMailSink();
  const proxyPort = await freePort();
  const issuer = `https://127.0.0.1:${proxyPort}`;
  const env: Record<string, string> = {
    ...SERVER_ENV_FIXED,
    ISSUER: issuer,
    DATABASE_URL: cluster.url,
    ENCRYPTION_KEY: newSecret(),
    SMTP_URL: mail.url,
    DATA_DIR: join(dir, 'data'),
  };
  // One after the other: the first applies the migrations and creates the shared keys.
  const servers = [await startServer('process A', env), await startServer('process B', env)];
  const proxy = await startProxy(proxyPort, servers.map((s) => s.port));
  const { clientId, clientSecret, clientToken } = await setUp(env);
  const discovery = (await (await fetch(`${proxy.origin}/.well-known/openid-configuration`)).json()) as Endpoints;
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
  const flows = new Flows(issuer, proxy.origin, discovery, { id: clientId, basic }, mail, { registered: [], verified: [], clients: [] });
  const accounts = Array.from({ length: SEEDED_CITIZENS }, (_, i) => `warga${i}@${SEED_EMAIL_DOMAIN}`);
  console.log(`setup: PostgreSQL ${cluster.url.replace(/^.*@/, '')} of our own, two server processes, ${SEEDED_CITIZENS} seeded citizens; ${seconds(now() - began)}`);

  const outage = await outagePhase(cluster, servers, proxy, flows, accounts, clientToken);
  const failures = [...outage.failures, ...exitedProcesses(servers)];
  // SOAK_MINUTES=0: the outage phase alone. A process that died leaves nothing to soak.
  if (MINUTES > 0 && exitedProcesses(servers).length === 0) {
    failures.push(...(await soakPhase(servers, proxy, flows, accounts, outage.window)), ...exitedProcesses(servers));
  }
  console.log('\nafter both phases:');
  failures.push(...(await consistencyProblems(cluster.url, flows.ledger, CLIENT_REGISTRATIONS)));
  console.log(`  emails received by the relay: ${mail.received()}`);
  const total5xx = proxy.exchanges.filter(is5xx).length;
  console.log(`\nin all: ${proxy.exchanges.length} HTTP requests, ${total5xx} 5xx (${outside(proxy.exchanges.filter(is5xx), [outage.window]).length} outside the outage window); ${seconds(now() - began)}; load average ${loadAverage()}`);
  if (failures.length) {
    console.log(`\nFAILED:\n${failures.map((f) => `  - ${f}`).join('\n')}`);
    for (const server of servers) console.log(`\n${server.name}: errors in its log, by message and cause:\n${errorsLogged(server.served.stdout()).join('\n')}`);
    return 1;
  }
  console.log('\nPASSED');
  return 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}
let status = 1;
try {
  status = await main();
} catch (error) {
  console.error(`soak failed: ${(error as Error).stack}`);
} finally {
  await cleanUp();
}
process.exit(status);
