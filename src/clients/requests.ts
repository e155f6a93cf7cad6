import { forgetClient } from './client-cache.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { isUniqueViolation, type Db, type Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import type { Outbox } from '../email/outbox.js';
import { requestDecisionEmail, type RequestDecision } from '../email/messages.js';
import type { Sealer } from '../secrets.js';
import {
  SENSITIVE_SCOPES,
  checkJwks,
  compare,
  metadataOf,
  registrationOf,
  requestedScope,
  type ClientRegistration,
  type SensitiveScope,
} from './registration.js';
import { isUuid } from '../ids.js';

const SECRET = 'client-secret';
export const REJECTION_REASON_MIN = 5;

export type RequestStatus = 'pending' | 'approved' | 'rejected' | 'withdrawn';

export interface ClientRequest {
  id: string;
  unit: string;
  unitName: string;
  clientId: string | null;
  kind: 'create' | 'change';
  source: 'portal' | 'dynamic';
  status: RequestStatus;
  details: ClientRegistration;
  submittedBy: string | null;
  submittedAt: Date;
  reviewedAt: Date | null;
  reason: string | null;
  approvedScope: string | null;
}

/** What an administrator decides for a client beyond its registration. */
export interface ClientProfile {
  subjectType: 'pairwise' | 'public';
  highAssurance: boolean;
  /** Whether it authenticates with private_key_jwt (high assurance needs it). */
  privateKeyJwt: boolean;
}

export interface UnitClient {
  clientId: string;
  name: string;
  unit: string;
  unitName: string;
  status: 'pending' | 'active' | 'rejected' | 'suspended';
  /** A secret not yet shown to the unit's developers (shown once). */
  secretWaiting: boolean;
  updatedAt: Date;
}

const REQUEST_COLUMNS = `r.id, r.unit_slug as unit, u.name as "unitName", r.client_id as "clientId", r.kind, r.source,
  r.status, r.details, r.submitted_by as "submittedBy", r.submitted_at as "submittedAt", r.reviewed_at as "reviewedAt",
  r.review_reason as reason, r.approved_scope as "approvedScope"`;
const CLIENT_COLUMNS = `c.client_id as "clientId", c.name, c.unit_slug as unit, u.name as "unitName", c.status,
  (c.client_secret_enc is not null and c.secret_shown_at is null) as "secretWaiting", c.updated_at as "updatedAt"`;

/**
 * Client registration requests and their review (README.md "Onboarding a unit's service"): a
 * developer of a unit submits a new client or a change to an approved one; an administrator approves it (the
 * client is created or updated in the same transaction, with the sensitive scopes the
 * administrator ticked, and no others) or rejects it with a reason; an approved client can be
 * suspended and reactivated. Every step is audited with actor and before/after, and the
 * developer who submitted is emailed each decision.
 */
export function createClientRequests(db: Db, sealer: Sealer, outbox: Outbox, audit: Audit, issuer: string) {
  const newSecret = () => randomBytes(32).toString('base64url');

  async function requestRow(on: Queryable, id: string, lock = false): Promise<ClientRequest | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await on.query<ClientRequest>(
      `select ${REQUEST_COLUMNS} from client_requests r join units u on u.slug = r.unit_slug where r.id = $1${lock ? ' for update of r' : ''}`,
      [id],
    );
    return rows[0];
  }

  /** The live registration of a client, with the scope reasons of its last approved request. */
  async function liveRegistration(on: Queryable, clientId: string): Promise<ClientRegistration | undefined> {
    const { rows } = await on.query<{ metadata: Record<string, unknown>; reasons: ClientRegistration['scopeReasons'] | null }>(
      `select c.metadata, (select r.details->'scopeReasons' from client_requests r
                           where r.client_id = c.client_id and r.status = 'approved' order by r.reviewed_at desc limit 1) as reasons
       from clients c where c.client_id = $1`,
      [clientId],
    );
    const row = rows[0];
    return row && { ...registrationOf(row.metadata), scopeReasons: row.reasons ?? {} };
  }

  /** Emails the developer who submitted the request about the decision. */
  async function tellSubmitter(tx: Queryable, request: ClientRequest, decision: RequestDecision, reason?: string) {
    if (!request.submittedBy) return;
    const { rows } = await tx.query<{ email: string; name: string }>('select email, name from citizens where id = $1', [request.submittedBy]);
    if (rows[0]) await outbox.enqueue(requestDecisionEmail(rows[0].email, rows[0].name, request.details.name, decision, reason, `${issuer}/developer/permintaan/${request.id}`), tx);
  }

  return {
    liveRegistration: (clientId: string) => liveRegistration(db, clientId),

    /**
     * Submits a request for a unit: a new client, or (clientId) a change to one of the unit's
     * approved clients, which may have one open request at a time. `pendingClientId`: the client
     * that dynamic registration created, pending until this request is approved.
     */
    async submit(
      input: { unit: string; registration: ClientRegistration; submittedBy: string | null; clientId?: string; source?: 'portal' | 'dynamic' },
      on: Queryable = db,
    ): Promise<string> {
      const id = randomUUID();
      const run = async (tx: Queryable) => {
        let clientStatus: string | undefined;
        if (input.clientId) {
          const { rows } = await tx.query<{ unit_slug: string; status: string }>('select unit_slug, status from clients where client_id = $1', [input.clientId]);
          if (!rows[0] || rows[0].unit_slug !== input.unit) throw new InputError('client_unknown');
          const open = await tx.query("select 1 from client_requests where client_id = $1 and status = 'pending'", [input.clientId]);
          if (open.rowCount) throw new InputError('request_already_open');
          clientStatus = rows[0].status;
        }
        // A change to a client that works today; a pending client (dynamic registration) is still new.
        const changesLive = clientStatus !== undefined && clientStatus !== 'pending';
        // The unique index decides between two requests for one client submitted at the same moment.
        await tx.query(
          `insert into client_requests (id, unit_slug, client_id, kind, source, details, submitted_by)
           values ($1, $2, $3, $4, $5, $6, $7)`,
          [id, input.unit, input.clientId ?? null, changesLive ? 'change' : 'create', input.source ?? 'portal', input.registration, input.submittedBy],
        ).catch((error: unknown) => {
          throw isUniqueViolation(error) ? new InputError('request_already_open') : error;
        });
        await audit({ type: 'client_request.submitted', actor: input.submittedBy ?? 'dynamic-registration', clientId: input.clientId, details: { request: id, unit: input.unit, after: input.registration } }, tx);
      };
      await (on === db ? db.transaction(run) : run(on));
      return id;
    },

    get: (id: string) => requestRow(db, id),

    /** The request with, side by side, the live client it would change (or nothing, for a new one). */
    async withComparison(id: string) {
      const request = await requestRow(db, id);
      if (!request) return undefined;
      const live = request.kind === 'change' && request.clientId ? await liveRegistration(db, request.clientId) : undefined;
      return { request, comparison: compare(request.details, live) };
    },

    /** The requests of these units, newest first. */
    async forUnits(units: string[]): Promise<ClientRequest[]> {
      const { rows } = await db.query<ClientRequest>(
        `select ${REQUEST_COLUMNS} from client_requests r join units u on u.slug = r.unit_slug
         where r.unit_slug = any($1) order by r.submitted_at desc limit 200`,
        [units],
      );
      return rows;
    },

    /** The review queue: pending requests, oldest first. */
    async queue(): Promise<ClientRequest[]> {
      const { rows } = await db.query<ClientRequest>(
        `select ${REQUEST_COLUMNS} from client_requests r join units u on u.slug = r.unit_slug
         where r.status = 'pending' order by r.submitted_at limit 200`,
      );
      return rows;
    },

    /** The clients of these units (all units when undefined), by unit and name. */
    async clients(units?: string[]): Promise<UnitClient[]> {
      const { rows } = await db.query<UnitClient>(
        `select ${CLIENT_COLUMNS} from clients c join units u on u.slug = c.unit_slug
         where $1::text[] is null or c.unit_slug = any($1) order by u.name, c.name`,
        [units ?? null],
      );
      return rows;
    },

    async client(clientId: string): Promise<UnitClient | undefined> {
      const { rows } = await db.query<UnitClient>(
        `select ${CLIENT_COLUMNS} from clients c join units u on u.slug = c.unit_slug where c.client_id = $1`,
        [clientId],
      );
      return rows[0];
    },

    /**
     * Approves a pending request: creates the client (or updates the one it changes) with the
     * requested scopes, of which the sensitive ones only where the administrator ticked them.
     * Returns the client id.
     */
    async approve(id: string, reviewer: string, allowed: SensitiveScope[], ip: string): Promise<string> {
      return db.transaction(async (tx) => {
        const request = await requestRow(tx, id, true);
        if (!request) throw new InputError('request_unknown');
        if (request.status !== 'pending') throw new InputError('request_not_pending');
        // Four eyes: an administrator who is also the developer does not approve their own request.
        if (request.submittedBy === reviewer) throw new InputError('own_request');
        const registration = request.details;
        const scope = requestedScope(registration).split(' ')
          .filter((s) => !(SENSITIVE_SCOPES as readonly string[]).includes(s) || allowed.includes(s as SensitiveScope))
          .join(' ');
        const metadata = metadataOf(registration, scope);
        const confidentialSecret = registration.authMethod === 'client_secret_basic';
        let clientId = request.clientId;
        let before: Record<string, unknown> | undefined;
        if (clientId) {
          const { rows } = await tx.query<{ metadata: Record<string, unknown>; client_secret_enc: string | null }>(
            'select metadata, client_secret_enc from clients where client_id = $1 for update',
            [clientId],
          );
          before = rows[0]?.metadata;
          // A client that needs a secret keeps its own, or gets one (shown once); others hold none.
          const secretEnc = confidentialSecret ? rows[0]?.client_secret_enc ?? sealer.seal(SECRET, newSecret()) : null;
          await tx.query(
            `update clients set name = $2, metadata = $3, allow_nik = $4, client_secret_enc = $5,
               secret_shown_at = case when $5::text is distinct from client_secret_enc then null else secret_shown_at end,
               status = case when status = 'pending' then 'active' else status end, updated_at = now()
             where client_id = $1`,
            [clientId, registration.name, metadata, scope.split(' ').includes('nik'), secretEnc],
          );
          forgetClient(clientId);
        } else {
          clientId = `${request.unit}-${randomBytes(9).toString('base64url')}`;
          await tx.query(
            `insert into clients (client_id, unit_slug, name, status, metadata, client_secret_enc, allow_nik)
             values ($1, $2, $3, 'active', $4, $5, $6)`,
            [clientId, request.unit, registration.name, metadata, confidentialSecret ? sealer.seal(SECRET, newSecret()) : null, scope.split(' ').includes('nik')],
          );
        }
        await tx.query(
          `update client_requests set status = 'approved', client_id = $2, reviewed_by = $3, reviewed_at = now(), approved_scope = $4
           where id = $1`,
          [id, clientId, reviewer, scope],
        );
        await audit({ type: 'client_request.approved', actor: reviewer, clientId, ip, details: { request: id, scope, before, after: metadata } }, tx);
        await tellSubmitter(tx, request, 'approved');
        return clientId;
      });
    },

    /** Rejects a pending request with a reason (a dynamically registered client is rejected with it). */
    async reject(id: string, reviewer: string, reason: string, ip: string): Promise<void> {
      const why = reason.trim();
      if (why.length < REJECTION_REASON_MIN) throw new InputError('rejection_reason_required', 'reason');
      await db.transaction(async (tx) => {
        const request = await requestRow(tx, id, true);
        if (!request) throw new InputError('request_unknown');
        if (request.status !== 'pending') throw new InputError('request_not_pending');
        await tx.query(
          "update client_requests set status = 'rejected', reviewed_by = $2, reviewed_at = now(), review_reason = $3 where id = $1",
          [id, reviewer, why],
        );
        if (request.clientId) await tx.query("update clients set status = 'rejected', updated_at = now() where client_id = $1 and status = 'pending'", [request.clientId]);
        if (request.clientId) forgetClient(request.clientId);
        await audit({ type: 'client_request.rejected', actor: reviewer, clientId: request.clientId ?? undefined, ip, details: { request: id, reason: why } }, tx);
        await tellSubmitter(tx, request, 'rejected', why);
      });
    },

    /** Suspends an active client or reactivates a suspended one; takes effect on its next request. */
    async setStatus(clientId: string, status: 'active' | 'suspended', actor: string, ip: string): Promise<void> {
      await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ status: string }>('select status from clients where client_id = $1 for update', [clientId]);
        const from = rows[0]?.status;
        if (from !== (status === 'active' ? 'suspended' : 'active')) throw new InputError('client_status_invalid');
        await tx.query('update clients set status = $2, updated_at = now() where client_id = $1', [clientId, status]);
        forgetClient(clientId);
        await audit({ type: 'client.status_changed', actor, clientId, ip, details: { before: from, after: status } }, tx);
        // The developers of the unit are told through the last approved request's submitter.
        const { rows: last } = await tx.query<{ id: string }>(
          "select id from client_requests where client_id = $1 and status = 'approved' order by reviewed_at desc limit 1",
          [clientId],
        );
        const request = last[0] && (await requestRow(tx, last[0].id));
        if (request) await tellSubmitter(tx, request, status === 'active' ? 'reactivated' : 'suspended');
      });
    },

    /** The settings an administrator decides for a client: its subject type and high assurance. */
    async profile(clientId: string): Promise<ClientProfile | undefined> {
      const { rows } = await db.query<ClientProfile>(
        `select subject_type as "subjectType", high_assurance as "highAssurance",
           metadata->>'token_endpoint_auth_method' = 'private_key_jwt' as "privateKeyJwt"
         from clients where client_id = $1`,
        [clientId],
      );
      return rows[0];
    },

    /**
     * Sets them: a public subject (the same sub for every unit: only for clients that need to
     * match citizens across units) or the pairwise default; high assurance (FAPI 2.0) only for a
     * client that authenticates with private_key_jwt. Takes effect on the client's next request.
     */
    async setProfile(clientId: string, next: Omit<ClientProfile, 'privateKeyJwt'>, actor: string, ip: string): Promise<void> {
      await db.transaction(async (tx) => {
        const { rows } = await tx.query<ClientProfile>(
          `select subject_type as "subjectType", high_assurance as "highAssurance",
             metadata->>'token_endpoint_auth_method' = 'private_key_jwt' as "privateKeyJwt"
           from clients where client_id = $1 for update`,
          [clientId],
        );
        const before = rows[0];
        if (!before) throw new InputError('client_unknown');
        if (next.highAssurance && !before.privateKeyJwt) throw new InputError('high_assurance_needs_private_key_jwt', 'high_assurance');
        await tx.query('update clients set subject_type = $2, high_assurance = $3, updated_at = now() where client_id = $1', [clientId, next.subjectType, next.highAssurance]);
        forgetClient(clientId);
        await audit({
          type: 'client.profile_changed',
          actor,
          clientId,
          ip,
          details: { before: { subjectType: before.subjectType, highAssurance: before.highAssurance }, after: next },
        }, tx);
      });
    },

    /** The client's secret, once: to a developer of its unit, the first time after approval or rotation. */
    async revealSecret(clientId: string, developer: string, ip: string): Promise<string | undefined> {
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<{ client_secret_enc: string }>(
          `update clients set secret_shown_at = now() where client_id = $1 and client_secret_enc is not null and secret_shown_at is null
           returning client_secret_enc`,
          [clientId],
        );
        if (!rows[0]) return undefined;
        await audit({ type: 'client.secret_shown', actor: developer, clientId, ip }, tx);
        return sealer.open(SECRET, rows[0].client_secret_enc);
      });
    },

    /** The public keys of a private_key_jwt client, replaced by its developer (checked as at registration). */
    async setJwks(clientId: string, given: NonNullable<ClientRegistration['jwks']>, developer: string, ip: string): Promise<void> {
      const jwks = checkJwks(given);
      if (!jwks) throw new InputError('jwks_invalid', 'jwks');
      await db.transaction(async (tx) => {
        const { rowCount } = await tx.query(
          `update clients set metadata = (metadata - 'jwks_uri') || jsonb_build_object('jwks', $2::jsonb), updated_at = now()
           where client_id = $1 and metadata->>'token_endpoint_auth_method' = 'private_key_jwt'`,
          [clientId, JSON.stringify(jwks)],
        );
        forgetClient(clientId);
        if (rowCount !== 1) throw new InputError('client_not_private_key_jwt');
        await audit({ type: 'client.jwks_updated', actor: developer, clientId, ip, details: { kids: jwks.keys.map((k) => k.kid ?? null) } }, tx);
      });
    },

    /** A new secret for a client that authenticates with one; the old one stops working at once. */
    async rotateSecret(clientId: string, developer: string, ip: string): Promise<string> {
      return db.transaction(async (tx) => {
        const secret = newSecret();
        const { rowCount } = await tx.query(
          `update clients set client_secret_enc = $2, secret_shown_at = now(), updated_at = now()
           where client_id = $1 and client_secret_enc is not null and status in ('active', 'suspended')`,
          [clientId, sealer.seal(SECRET, secret)],
        );
        forgetClient(clientId);
        if (rowCount !== 1) throw new InputError('client_has_no_secret');
        await audit({ type: 'client.secret_rotated', actor: developer, clientId, ip }, tx);
        return secret;
      });
    },
  };
}

export type ClientRequests = ReturnType<typeof createClientRequests>;
