import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { deleteOldAudit, forgetAuditDevices, type Audit } from './audit/audit.js';
import { UNVERIFIED_NOTICE_DAYS, type RetentionPolicy } from './config.js';
import type { Db, Queryable } from './db/db.js';
import type { CitizenNotices, NoticeKind } from './identity/citizen-notices.js';
import type { CitizenStore, RetentionRecipient } from './identity/citizens.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

/** Rows one statement of the job changes at most: no statement holds many locks or runs long. */
export const RETENTION_BATCH = 500;
/** Batches of one kind in one run at most, so that a run ends; what is left waits for the next run. */
const MAX_BATCHES = 100;
/** How long a process holds the job; a process that dies lets it run out (the next run starts after). */
const LEASE_MINUTES = 15;
/** Logins are copied from the audit log since the last run's start, less this margin (a login's transaction that committed late). */
const COPY_MARGIN_MS = 60 * 60 * 1000;

/** One batch of a table's sweep of expired rows, in the table's owner module; returns how many rows it deleted. */
export type Sweep = (limit: number) => Promise<number>;

export type RetentionAction = 'deleted' | 'scrubbed' | 'warned' | 'disabled';

/** What one run did: rows by table and action, notices by kind. */
export interface RetentionReport {
  rows: Record<string, Partial<Record<RetentionAction, number>>>;
  notices: Partial<Record<NoticeKind, number>>;
}

interface Deps {
  db: Db;
  citizens: CitizenStore;
  notices: CitizenNotices;
  audit: Audit;
  metrics: Metrics['retention'];
  policy: RetentionPolicy;
  /** Every table with expiring rows, by name, and its owner's sweep. */
  sweeps: Record<string, Sweep>;
  log: Logger;
}

/** When the retention job last finished (epoch seconds; 0: never), for the metrics. */
export async function lastRetentionSuccess(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ at: number | null }>('select extract(epoch from last_success_at)::float8 as at from retention_lease where id = 1');
  return rows[0]?.at ?? 0;
}

/**
 * The retention job (UU PDP 27/2022; the policy is in config.ts RetentionPolicy): one job for
 * the whole instance, which every process offers to run now and then (main.ts) and one runs at a
 * time, the one that takes the lease row (retention_lease, migration 024; no session-level lock,
 * so that it works behind PgBouncer in transaction mode). In order:
 * 1. the logins audited since the last run are copied to the accounts (citizens.last_active_at);
 * 2. registrations never verified are told UNVERIFIED_NOTICE_DAYS before their deletion, then deleted;
 * 3. inactive accounts are warned, then disabled (locked, not deleted) unless they signed in since;
 * 4. audit entries lose their IP address and device, later the entries themselves go;
 * 5. every table's expired rows are swept, by the sweep of its owner module.
 * Each notice is written in the transaction that records it was sent, so it goes once; each
 * deletion and disabling is audited with the account id only. Every statement changes at most
 * RETENTION_BATCH rows.
 */
export function createRetention({ db, citizens, notices, audit, metrics, policy, sweeps, log }: Deps) {
  const holder = `${hostname()}:${process.pid}:${randomUUID()}`;

  /** The lease, when no other process holds it: the run's start and the last finished run's start. */
  async function claim(): Promise<{ startedAt: Date; lastSuccess: Date | null } | undefined> {
    const { rows } = await db.query<{ startedAt: Date; lastSuccess: Date | null }>(
      `update retention_lease set holder = $1, leased_until = now() + make_interval(mins => ${LEASE_MINUTES})
       where id = 1 and leased_until < now()
       returning now() as "startedAt", last_success_at as "lastSuccess"`,
      [holder],
    );
    return rows[0];
  }

  async function release(finishedFrom: Date | undefined): Promise<void> {
    await db.query(
      `update retention_lease set holder = null, leased_until = '-infinity', last_success_at = coalesce($2, last_success_at)
       where id = 1 and holder = $1`,
      [holder, finishedFrom ?? null],
    );
  }

  /** Holds the lease LEASE_MINUTES more; throws when another process took it meanwhile (this one took too long). */
  async function renew(): Promise<void> {
    const { rowCount } = await db.query(
      `update retention_lease set leased_until = now() + make_interval(mins => ${LEASE_MINUTES}) where id = 1 and holder = $1`,
      [holder],
    );
    if (rowCount !== 1) throw new Error('the retention lease ran out during the run; another process may be running the job');
  }

  /**
   * Runs `batch` until it changes fewer than RETENTION_BATCH rows (MAX_BATCHES at most), holding
   * the lease on before each batch (so a step that took too long, such as the first run's copy of
   * the logins, stops the run when another process has taken the lease meanwhile); returns the total.
   */
  async function drain(batch: () => Promise<number>): Promise<number> {
    let total = 0;
    for (let i = 0; i < MAX_BATCHES; i++) {
      await renew();
      const count = await batch();
      total += count;
      if (count < RETENTION_BATCH) break;
    }
    return total;
  }

  /** Accounts `mark` picks in one transaction, each told `kind` and audited as `type` (none for a notice alone). */
  function tellEach(mark: (tx: Queryable) => Promise<RetentionRecipient[]>, kind: NoticeKind, type: 'retention.account_warned' | 'retention.account_disabled' | undefined, report: RetentionReport) {
    return () => db.transaction(async (tx) => {
      const accounts = await mark(tx);
      for (const account of accounts) {
        await notices.send(account, kind, tx);
        if (type) await audit({ type, actor: 'retention', citizenId: account.id }, tx);
      }
      report.notices[kind] = (report.notices[kind] ?? 0) + accounts.length;
      return accounts.length;
    });
  }

  async function work(lastSuccess: Date | null): Promise<RetentionReport> {
    const report: RetentionReport = { rows: {}, notices: {} };
    const count = (table: string, action: RetentionAction, n: number) => {
      report.rows[table] = { ...report.rows[table], [action]: n };
    };
    await citizens.copyLastLogins(lastSuccess && new Date(lastSuccess.getTime() - COPY_MARGIN_MS));

    await drain(tellEach((tx) => citizens.markUnverifiedNoticed(tx, policy.unverifiedDays - UNVERIFIED_NOTICE_DAYS, RETENTION_BATCH), 'registration_expiring', undefined, report));
    count('citizens', 'deleted', await drain(() => db.transaction(async (tx) => {
      const ids = await citizens.deleteUnverified(tx, policy.unverifiedDays, UNVERIFIED_NOTICE_DAYS, RETENTION_BATCH);
      for (const id of ids) await audit({ type: 'retention.registration_deleted', actor: 'retention', citizenId: id }, tx);
      return ids.length;
    })));
    count('citizens', 'warned', await drain(tellEach((tx) => citizens.markInactiveWarned(tx, policy.inactiveWarnDays, RETENTION_BATCH), 'account_inactive', 'retention.account_warned', report)));
    count('citizens', 'disabled', await drain(tellEach((tx) => citizens.disableInactive(tx, policy.inactiveGraceDays, RETENTION_BATCH), 'account_disabled', 'retention.account_disabled', report)));

    count('audit_events', 'scrubbed', await drain(() => forgetAuditDevices(db, policy.auditDeviceDays, RETENTION_BATCH)));
    count('audit_events', 'deleted', await drain(() => deleteOldAudit(db, policy.auditDays, RETENTION_BATCH)));
    for (const [table, sweep] of Object.entries(sweeps)) count(table, 'deleted', await drain(() => sweep(RETENTION_BATCH)));
    return report;
  }

  return {
    /**
     * One run, when this process takes the lease; undefined when another process holds it. A run
     * that fails leaves the last success as it was (the metrics show its age) and frees the lease.
     */
    async run(): Promise<RetentionReport | undefined> {
      const lease = await claim();
      if (!lease) {
        metrics.run('skipped');
        return undefined;
      }
      const started = performance.now();
      let report: RetentionReport | undefined;
      try {
        report = await work(lease.lastSuccess);
      } catch (error) {
        metrics.run('failed', (performance.now() - started) / 1000);
        await release(undefined);
        throw error;
      }
      await release(lease.startedAt);
      metrics.run('ran', (performance.now() - started) / 1000);
      let changed = false;
      for (const [table, actions] of Object.entries(report.rows)) {
        for (const [action, n] of Object.entries(actions) as [RetentionAction, number][]) {
          metrics.rows(table, action, n);
          changed ||= n > 0;
        }
      }
      for (const [kind, n] of Object.entries(report.notices)) {
        metrics.notices(kind, n);
        changed ||= n > 0;
      }
      if (changed) log.info({ retention: report }, 'retention job ran');
      return report;
    },
  };
}

export type Retention = ReturnType<typeof createRetention>;
