import { randomUUID } from 'node:crypto';
import { isUniqueViolation, type Db, type Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import type { Outbox } from '../email/outbox.js';
import { requestDecisionEmail, type RequestDecision } from '../email/messages.js';
import { newSecret } from '../secrets.js';
import type { CitizenStore } from '../identity/citizens.js';
import { cibaPossible, newClientId, type ClientProfile, type ClientStore, type ProfileSettings, type UnitClient } from './clients.js';
import {
  SENSITIVE_SCOPES,
  checkJwks,
  compare,
  metadataOf,
  registrationOf,
  requestedScope,
  usesSecret,
  type ClientRegistration,
  type SensitiveScope,
} from './registration.js';
import { isUuid } from '../ids.js';

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

const REQUEST_COLUMNS = `r.id, r.unit_slug as unit, u.name as "unitName", r.client_id as "clientId", r.kind, r.source,
  r.status, r.details, r.submitted_by as "submittedBy", r.submitted_at as "submittedAt", r.reviewed_at as "reviewedAt",
  r.review_reason as reason, r.approved_scope as "approvedScope"`;

/**
 * Client registration requests and their review (README.md "Onboarding a unit's service"): a
 * developer of a unit submits a new client or a change to an approved one; an administrator approves it (the
 * client is created or updated in the same transaction, with the sensitive scopes the
 * administrator ticked, and no others) or rejects it with a reason; an approved client can be
 * suspended and reactivated. Every step is audited with actor and before/after, and the
 * developer who submitted is emailed each decision.
 */
export function createClientRequests(db: Db, clients: ClientStore, citizens: CitizenStore, outbox: Outbox, audit: Audit, issuer: string) {
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
    const client = await clients.find(on, clientId);
    if (!client) return undefined;
    const { rows } = await on.query<{ reasons: ClientRegistration['scopeReasons'] | null }>(
      `select details->'scopeReasons' as reasons from client_requests
       where client_id = $1 and status = 'approved' order by reviewed_at desc limit 1`,
      [clientId],
    );
    return { ...registrationOf(client.metadata), scopeReasons: rows[0]?.reasons ?? {} };
  }

  /** Emails the developer who submitted the request about the decision. */
  async function tellSubmitter(tx: Queryable, request: ClientRequest, decision: RequestDecision, reason?: string) {
    if (!request.submittedBy) return;
    const submitter = await citizens.findById(request.submittedBy, tx);
    if (submitter) await outbox.enqueue(requestDecisionEmail(submitter.email, submitter.name, request.details.name, decision, reason, `${issuer}/developer/permintaan/${request.id}`), tx);
  }

  /** Whether a request for this client waits for review. */
  async function hasPendingRequest(on: Queryable, clientId: string): Promise<boolean> {
    const open = await on.query("select 1 from client_requests where client_id = $1 and status = 'pending'", [clientId]);
    return open.rowCount > 0;
  }

  return {
    hasPendingRequest,
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
          const client = await clients.find(tx, input.clientId);
          if (!client || client.unit !== input.unit) throw new InputError('client_unknown');
          if (await hasPendingRequest(tx, input.clientId)) throw new InputError('request_already_open');
          clientStatus = client.status;
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
    clients: (units?: string[]): Promise<UnitClient[]> => clients.list(units),

    client: (clientId: string): Promise<UnitClient | undefined> => clients.unitClient(clientId),

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
        const confidentialSecret = usesSecret(registration);
        let clientId = request.clientId;
        let before: Record<string, unknown> | undefined;
        const allowNik = scope.split(' ').includes('nik');
        if (clientId) {
          before = await clients.applyRegistration(tx, clientId, { name: registration.name, metadata, allowNik, withSecret: confidentialSecret });
        } else {
          clientId = newClientId(request.unit);
          await clients.insert(tx, {
            clientId, unit: request.unit, name: registration.name, status: 'active', metadata, allowNik,
            ...(confidentialSecret && { secret: newSecret() }),
          });
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
        if (request.clientId) await clients.rejectPending(tx, request.clientId);
        await audit({ type: 'client_request.rejected', actor: reviewer, clientId: request.clientId ?? undefined, ip, details: { request: id, reason: why } }, tx);
        await tellSubmitter(tx, request, 'rejected', why);
      });
    },

    /** Suspends an active client or reactivates a suspended one; takes effect on its next request. */
    async setStatus(clientId: string, status: 'active' | 'suspended', actor: string, ip: string): Promise<void> {
      await db.transaction(async (tx) => {
        const from = await clients.lockStatus(tx, clientId);
        if (from !== (status === 'active' ? 'suspended' : 'active')) throw new InputError('client_status_invalid');
        await clients.writeStatus(tx, clientId, status);
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

    /** The settings an administrator decides for a client: its subject type, high assurance, CIBA and whether it is a kiosk. */
    profile: (clientId: string): Promise<ClientProfile | undefined> => clients.profile(db, clientId),

    /**
     * Sets them: a public subject (the same sub for every unit: only for clients that need to
     * match citizens across units) or the pairwise default; high assurance (FAPI 2.0) only for a
     * client that authenticates with private_key_jwt; CIBA (a counter asks a citizen to confirm
     * on their own phone) only for a client that authenticates, with private_key_jwt when
     * pairwise; a kiosk (the device flow), never high assurance as well. Takes effect on the
     * client's next request.
     */
    async setProfile(clientId: string, next: ProfileSettings, actor: string, ip: string): Promise<void> {
      await db.transaction(async (tx) => {
        const before = await clients.profile(tx, clientId, true);
        if (!before) throw new InputError('client_unknown');
        if (next.highAssurance && !before.privateKeyJwt) throw new InputError('high_assurance_needs_private_key_jwt', 'high_assurance');
        if (next.ciba && !cibaPossible({ ...before, subjectType: next.subjectType })) throw new InputError('ciba_needs_client_authentication', 'ciba');
        if (next.highAssurance && next.kiosk) throw new InputError('kiosk_not_high_assurance', 'kiosk');
        // oidc-provider's rule for the device flow: a pairwise client without redirects names its
        // sector by its jwks_uri and authenticates with its keys (ours is the unit, but the rule
        // stands). A kiosk is therefore a public-subject client, or private_key_jwt at a jwks_uri.
        if (next.kiosk && next.subjectType === 'pairwise' && !(before.privateKeyJwt && before.jwksUri)) {
          throw new InputError('kiosk_pairwise_needs_jwks_uri', 'kiosk');
        }
        await clients.writeProfile(tx, clientId, next);
        await audit({
          type: 'client.profile_changed',
          actor,
          clientId,
          ip,
          details: { before: { subjectType: before.subjectType, highAssurance: before.highAssurance, ciba: before.ciba, kiosk: before.kiosk }, after: next },
        }, tx);
      });
    },

    /** The client's secret, once: to a developer of its unit, the first time after approval or rotation. */
    async revealSecret(clientId: string, developer: string, ip: string): Promise<string | undefined> {
      return db.transaction(async (tx) => {
        const secret = await clients.takeSecretToShow(tx, clientId);
        if (secret === undefined) return undefined;
        await audit({ type: 'client.secret_shown', actor: developer, clientId, ip }, tx);
        return secret;
      });
    },

    /** The public keys of a private_key_jwt client, replaced by its developer (checked as at registration). */
    async setJwks(clientId: string, given: NonNullable<ClientRegistration['jwks']>, developer: string, ip: string): Promise<void> {
      const jwks = checkJwks(given);
      if (!jwks) throw new InputError('jwks_invalid', 'jwks');
      await db.transaction(async (tx) => {
        if (!(await clients.replaceJwks(tx, clientId, jwks))) throw new InputError('client_not_private_key_jwt');
        await audit({ type: 'client.jwks_updated', actor: developer, clientId, ip, details: { kids: jwks.keys.map((k) => k.kid ?? null) } }, tx);
      });
    },

    /** A new secret for a client that authenticates with one; the old one stops working at once. */
    async rotateSecret(clientId: string, developer: string, ip: string): Promise<string> {
      return db.transaction(async (tx) => {
        const secret = await clients.replaceSecret(tx, clientId);
        if (secret === undefined) throw new InputError('client_has_no_secret');
        await audit({ type: 'client.secret_rotated', actor: developer, clientId, ip }, tx);
        return secret;
      });
    },
  };
}

export type ClientRequests = ReturnType<typeof createClientRequests>;
