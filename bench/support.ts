/** Helpers for bench/bench.ts: process figures from /proc, latency statistics, a small browser. */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { Agent } from '../tests/support/agent.js';

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export interface ProcSample {
  cpuSeconds: number;
  rssMb: number;
  peakRssMb: number;
}

/**
 * A server and its worker processes (WORKERS > 1): CPU time and resident sets added up; the
 * peak is that of the largest single process (the RSS target is per process).
 */
export function sampleProcess(pid: number): ProcSample {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  const samples = [sampleOne(pid), ...children.map(sampleOne)];
  return {
    cpuSeconds: samples.reduce((sum, s) => sum + s.cpuSeconds, 0),
    rssMb: samples.reduce((sum, s) => sum + s.rssMb, 0),
    peakRssMb: Math.max(...samples.map((s) => s.peakRssMb)),
  };
}

/**
 * The CPU seconds so far of each PostgreSQL backend serving admin's database, by pid (PostgreSQL
 * on this machine: read from /proc). A backend that ends takes its seconds with it.
 */
export async function backendCpu(admin: pg.Client): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
  const cpu = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      cpu.set(pid, sampleOne(pid).cpuSeconds);
    } catch {
      // It ended meanwhile.
    }
  }
  return cpu;
}

/** The CPU seconds the backends spent from one backendCpu reading to a later one. */
export const backendCpuSpent = (before: Map<number, number>, after: Map<number, number>): number =>
  [...after].reduce((sum, [pid, seconds]) => sum + seconds - (before.get(pid) ?? 0), 0);

/** utime + stime of one process (all its threads), its resident set and its peak (VmHWM). */
function sampleOne(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name "(...)": state is field 3, utime field 14, stime field 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { cpuSeconds, rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024 };
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface LoopResult {
  operations: number;
  errors: number;
  firstError: string | undefined;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/**
 * Runs `concurrency` workers for `seconds`; each calls op(worker) again and again and its latency
 * is recorded. A failed operation counts as an error (not in the latencies).
 */
export async function runLoop(seconds: number, concurrency: number, op: (worker: number) => Promise<void>): Promise<LoopResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await op(worker);
          latencies.push(performance.now() - t0);
        } catch (error) {
          errors++;
          firstError ??= (error as Error).message;
          if (errors > 50 && latencies.length === 0) throw new Error(`every operation fails: ${firstError}`);
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    operations: latencies.length,
    errors,
    firstError,
    seconds: elapsed,
    perSecond: latencies.length / elapsed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

/**
 * A step through n items that visits each once before any twice (coprime to n) and puts
 * consecutive ones far apart (about n × 0.618, the golden ratio's spacing).
 */
export function scatteredStep(n: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let step = Math.max(1, Math.round(n * 0.618034));
  while (gcd(step, n) !== 1) step++;
  return step;
}

export const base64url = (bytes: Buffer) => bytes.toString('base64url');
export function pkcePair() {
  const verifier = base64url(randomBytes(32));
  return { verifier, challenge: base64url(createHash('sha256').update(verifier).digest()) };
}

/**
 * A cookie-keeping browser for the server under test. The server runs as in production behind a
 * TLS proxy: its issuer is https://127.0.0.1:PORT, so every request carries X-Forwarded-Proto:
 * https and goes to http://127.0.0.1:PORT. URLs of the issuer are mapped to that origin.
 */
/**
 * The test suite's small browser (tests/support/agent.ts) as a benchmark drives it: the server runs
 * behind a pretend TLS proxy, so URLs on the https issuer go to its plain-http origin with
 * X-Forwarded-Proto, and requests are counted.
 */
export class BenchAgent extends Agent {
  requests = 0;

  constructor(
    private readonly issuer: string,
    origin: string,
    /** The client's address as the TLS proxy reports it (X-Forwarded-For); unset: the loopback address. */
    private readonly clientAddress?: string,
  ) {
    super(origin);
  }

  local(url: string): string {
    return url.startsWith(this.issuer) ? this.origin + url.slice(this.issuer.length) : url;
  }

  protected override isServer(url: string): boolean {
    return url.startsWith(this.issuer) || super.isServer(url);
  }

  override request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('x-forwarded-proto', 'https');
    if (this.clientAddress) headers.set('x-forwarded-for', this.clientAddress);
    this.requests++;
    return super.request(this.local(url), { ...init, headers });
  }
}
