import cluster from 'node:cluster';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Context, Next } from 'koa';
import client from 'prom-client';
import type { AuditEvent } from './audit/audit.js';
import type { Db } from './db/db.js';
import type { Channel } from './messaging/outbox.js';
import type { DeliveryResult } from './messaging/sender.js';

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export type LoginResult = 'succeeded' | 'failed' | 'throttled' | 'second_factor_failed';

/**
 * The Prometheus metrics of one server process, in a registry of its own. Served on
 * METRICS_PORT only (serveMetrics), never on the public port. Counts carry no identifiers: labels
 * are routes (patterns, not paths), statuses, event types, units and grant types.
 */
export function createMetrics(db: Db, { liveSessions, retentionLastSuccess }: {
  liveSessions: () => Promise<number>;
  /** When the instance's retention job last finished (epoch seconds; 0: never). */
  retentionLastSuccess: () => Promise<number>;
}) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const httpRequests = new client.Counter({
    name: 'kediri_http_requests_total', help: 'HTTP requests answered, by route pattern, method and status',
    labelNames: ['route', 'method', 'status'], registers,
  });
  const httpDuration = new client.Histogram({
    name: 'kediri_http_request_duration_seconds', help: 'Time to answer an HTTP request, by route pattern and method',
    labelNames: ['route', 'method'], buckets: HTTP_BUCKETS, registers,
  });
  const securityEvents = new client.Counter({
    name: 'kediri_security_events_total', help: 'Audited security events, by type', labelNames: ['type'], registers,
  });
  const logins = new client.Counter({
    name: 'kediri_logins_total', help: 'Password logins, by result and by the unit of the service signed in to',
    labelNames: ['result', 'unit'], registers,
  });
  const tokens = new client.Counter({
    name: 'kediri_tokens_issued_total', help: 'Successful token endpoint requests, by grant type', labelNames: ['grant_type'], registers,
  });
  const throttled = new client.Counter({
    name: 'kediri_throttled_total', help: 'Attempts refused by the brute-force defence, by what was limited (ip_login, ip_register, ip_reset, ip_code, account)',
    labelNames: ['limit'], registers,
  });
  const messages = new client.Counter({
    name: 'kediri_messages_total',
    help: 'WhatsApp and SMS messages, by channel and result: sent; failed (an attempt that failed on that channel); refused (a code not sent: a limit refused the request)',
    labelNames: ['channel', 'result'], registers,
  });

  /** A gauge read from the database at each scrape; every process sees the same rows, so processes' values are not added up. */
  const countGauge = (name: string, help: string, count: () => Promise<number>) =>
    new client.Gauge({
      name, help, registers, aggregator: 'max',
      async collect() {
        // A database that does not answer must not take the other figures down with it.
        this.set(await count().catch(() => Number.NaN));
      },
    });
  const countOf = (sql: string) => async () => (await db.query<{ n: number }>(sql)).rows[0]!.n;
  countGauge('kediri_active_sessions', 'Sign-in sessions not yet expired', liveSessions);
  countGauge('kediri_email_outbox_backlog', 'Emails waiting to be sent', countOf('select count(*)::int as n from outbox where sent_at is null and failed_at is null'));
  countGauge('kediri_message_outbox_backlog', 'WhatsApp and SMS messages waiting to be sent', countOf('select count(*)::int as n from message_outbox where sent_at is null and failed_at is null'));
  countGauge('kediri_logout_outbox_backlog', 'Back-channel logout notices waiting to be delivered', countOf('select count(*)::int as n from logout_outbox where delivered_at is null and failed_at is null'));
  countGauge('kediri_retention_last_success_timestamp_seconds', 'When the retention job last finished a run, by whichever process (Unix time; 0: never)', retentionLastSuccess);
  const retentionRuns = new client.Counter({
    name: 'kediri_retention_runs_total',
    help: 'Turns of this process at the retention job, by result: ran; skipped (another process held the lease); failed',
    labelNames: ['result'], registers,
  });
  const retentionRows = new client.Counter({
    name: 'kediri_retention_rows_total',
    help: 'Rows the retention job changed, by table and action: deleted; scrubbed (an audit entry\'s IP address and device); warned, disabled (accounts)',
    labelNames: ['table', 'action'], registers,
  });
  const retentionNotices = new client.Counter({
    name: 'kediri_retention_notices_total', help: 'Notices the retention job sent, by kind', labelNames: ['kind'], registers,
  });
  const retentionDuration = new client.Gauge({
    name: 'kediri_retention_duration_seconds', help: 'How long this process\'s last run of the retention job took', registers, aggregator: 'max',
  });
  // Counted by the driver (src/db): the benchmark divides it by the operations of each phase.
  new client.Counter({
    name: 'kediri_db_statements_total', help: 'Statements this process has sent to the database (a transaction\'s begin and end included)', registers,
    collect() {
      this.reset();
      this.inc(db.statements());
    },
  });
  const poolStats = db.poolStats;
  if (poolStats) {
    const pool = [
      ['total', 'PostgreSQL connections open in this process\'s pool'],
      ['idle', 'PostgreSQL connections idle in this process\'s pool'],
      ['waiting', 'Queries waiting for a connection of this process\'s pool'],
    ] as const;
    for (const [key, help] of pool) {
      new client.Gauge({ name: `kediri_db_pool_${key}`, help, registers, collect() { this.set(poolStats()[key]); } });
    }
  }

  return {
    registry,

    /** Koa middleware, early in the chain: counts and times every request under its route pattern. */
    async http(ctx: Context, next: Next) {
      const started = performance.now();
      try {
        await next();
      } finally {
        const route = routeOf(ctx);
        const { method } = ctx;
        httpDuration.observe({ route, method }, (performance.now() - started) / 1000);
        httpRequests.inc({ route, method, status: String(ctx.status) });
      }
    },
    securityEvent: (event: AuditEvent) => securityEvents.inc({ type: event.type }),
    login: (result: LoginResult, unit: string | undefined) => logins.inc({ result, unit: unit ?? 'kediri-id' }),
    tokenIssued: (grantType: string) => tokens.inc({ grant_type: grantType }),
    throttled: (limit: string) => throttled.inc({ limit }),
    /** A delivery attempt's outcome (src/messaging/sender.ts). */
    message: (channel: Channel, result: DeliveryResult) => messages.inc({ channel, result }),
    /** A message not sent because a limit refused its request, on the channel asked for. */
    messageRefused: (channel: Channel) => messages.inc({ channel, result: 'refused' }),
    /** The retention job (src/retention.ts). */
    retention: {
      run: (result: 'ran' | 'skipped' | 'failed', seconds?: number) => {
        retentionRuns.inc({ result });
        if (seconds !== undefined) retentionDuration.set(seconds);
      },
      rows: (table: string, action: 'deleted' | 'scrubbed' | 'warned' | 'disabled', count: number) => {
        if (count > 0) retentionRows.inc({ table, action }, count);
      },
      notices: (kind: string, count: number) => {
        if (count > 0) retentionNotices.inc({ kind }, count);
      },
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

type RoutedContext = Context & { _matchedRoute?: unknown };

/** The route pattern that answered (ours, or the provider's: its router sets the same field), never the path with its ids. */
export function routeOf(ctx: Context): string {
  const matched = (ctx as RoutedContext)._matchedRoute;
  return typeof matched === 'string' ? matched : 'unmatched';
}

/** For an answer given outside the routers (from memory, in front of the provider): the route to count and log it under. */
export function nameRoute(ctx: Context, route: string): void {
  (ctx as RoutedContext)._matchedRoute = route;
}

/**
 * GET /metrics on host:port: this process's registry, or, in the supervisor of WORKERS > 1, every
 * server process's figures aggregated (each worker answers through prom-client's cluster messages).
 */
export async function serveMetrics(host: string, port: number, registry: client.Registry | undefined): Promise<http.Server> {
  const aggregator = registry ? undefined : new client.AggregatorRegistry();
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    const text = aggregator ? aggregator.clusterMetrics() : registry!.metrics();
    text.then(
      (body) => res.writeHead(200, { 'Content-Type': registry?.contentType ?? aggregator!.contentType }).end(body),
      () => res.writeHead(503).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}

/** In a worker of WORKERS > 1: the supervisor's aggregation reads this registry. */
export function offerToSupervisor(registry: client.Registry): void {
  if (!cluster.isWorker) return;
  client.AggregatorRegistry.setRegistries([registry]);
  // Constructing one is what makes a worker answer the supervisor's requests for its figures.
  new client.AggregatorRegistry();
}
