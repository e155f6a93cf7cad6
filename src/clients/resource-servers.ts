import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Audit } from '../audit/audit.js';
import { isLoopback } from '../config.js';
import type { Db, Queryable } from '../db/db.js';
import { InputError } from '../errors.js';
import type { ClientStore } from './clients.js';
import { REQUESTABLE_SCOPES } from './registration.js';

/** A resource server's access-token lifetime in seconds: short, since a JWT cannot be revoked before it expires. */
export const ACCESS_TOKEN_TTL = { default: 5 * 60, min: 60, max: 15 * 60 } as const;
const MAX_SCOPES = 30;
const MAX_CLIENTS = 100;
/** A scope an API accepts: lower-case letters, digits and : . _ - (e.g. retribusi:baca). */
const SCOPE = /^[a-z0-9][a-z0-9:._-]{0,63}$/;
/** The scopes of the citizen's identity (claims): not an API's to accept. */
const IDENTITY_SCOPES: readonly string[] = ['openid', ...REQUESTABLE_SCOPES];
/** Held in memory at most this long; a change is forgotten when its notification arrives (ms). */
const MAX_AGE_MS = 60_000;

/** An API that clients ask tokens for with a resource indicator (RFC 8707). */
export interface ResourceServer {
  id: string;
  /** The tokens' audience, exactly as clients send it in `resource`. */
  indicator: string;
  name: string;
  /** What the API accepts; a token carries those of them the client asked for. */
  scopes: string[];
  /** The clients that may obtain tokens for it; none unless listed. */
  clientIds: string[];
  /** Seconds. */
  accessTokenTtl: number;
  updatedAt: Date;
}

/** A resource server as an operator or administrator gives it: the scopes and client ids as lists. */
export interface ResourceServerSettings {
  indicator: string;
  name: string;
  scopes: string[];
  clientIds: string[];
  accessTokenTtl: number;
}

/**
 * A resource indicator: an absolute https URI without fragment, query or credentials, printable
 * ASCII as clients send it; http only on this machine and only outside production.
 */
export function isResourceIndicator(value: string, production: boolean): boolean {
  const url = /^[\x21-\x7e]+$/.test(value) ? URL.parse(value) : null;
  if (!url || /[?#]/.test(value) || url.username || url.password) return false;
  return url.protocol === 'https:' || (!production && url.protocol === 'http:' && isLoopback(url.hostname));
}

const settingsSchema = (production: boolean) =>
  z.object({
    indicator: z.string().trim().min(8).max(300).refine((value) => isResourceIndicator(value, production)),
    name: z.string().trim().min(2).max(100),
    scopes: z.array(z.string().regex(SCOPE).refine((scope) => !IDENTITY_SCOPES.includes(scope))).max(MAX_SCOPES),
    clientIds: z.array(z.string().regex(/^[\x21-\x7e]{1,200}$/)).max(MAX_CLIENTS),
    accessTokenTtl: z.number().int().min(ACCESS_TOKEN_TTL.min).max(ACCESS_TOKEN_TTL.max),
  });

/** The form field (and CLI flag, operator.ts) of each setting. */
const FIELD: Record<keyof ResourceServerSettings, string> = { indicator: 'indicator', name: 'name', scopes: 'scopes', clientIds: 'clients', accessTokenTtl: 'ttl' };

/**
 * The settings were refused: every problem, one per field, and the client ids that name no
 * client. Its own code and field are the first problem's.
 */
export class ResourceServerError extends InputError {
  constructor(readonly problems: InputError[], readonly unknownClients: string[] = []) {
    super(problems[0]!.code, problems[0]!.field);
  }
}

const COLUMNS = `rs.id, rs.indicator, rs.name, rs.scopes, rs.access_token_ttl as "accessTokenTtl", rs.updated_at as "updatedAt",
  coalesce(array_agg(c.client_id order by c.client_id) filter (where c.client_id is not null), '{}') as "clientIds"`;
const FROM = 'resource_servers rs left join resource_server_clients c on c.resource_server_id = rs.id';

/** What an audit entry shows of a resource server (compared to see a change). */
const shown = (s: ResourceServerSettings) => ({ indicator: s.indicator, name: s.name, scopes: s.scopes, clientIds: s.clientIds, accessTokenTtl: s.accessTokenTtl });

/**
 * This module owns resource_servers and resource_server_clients: the units' APIs that clients ask
 * access tokens for with a resource indicator, and which clients may. The provider asks for a
 * resource server at every token request that names one (oidc/resource-indicators.ts), so the
 * whole registry is held in memory while the process hears of every change: the tables' triggers
 * (migration 021) announce each on resource_servers_changed, and the registry is read again at
 * the next request. While the process is not listening (before followChanges(), or when the
 * connection that listens has dropped), every lookup reads the database.
 */
export function createResourceServers(db: Db, audit: Audit, clients: Pick<ClientStore, 'unitClient'>, { production = false } = {}) {
  const schema = settingsSchema(production);
  let registry: { byIndicator: Map<string, ResourceServer>; at: number } | undefined;
  let loading: { registry: Promise<Map<string, ResourceServer>>; changes: number } | undefined;
  let listening = false;
  /** Changes announced so far: a read stores its result only if none came while it ran. */
  let changes = 0;

  const forget = () => {
    changes++;
    registry = undefined;
  };

  async function readAll(): Promise<ResourceServer[]> {
    const { rows } = await db.query<ResourceServer>(`select ${COLUMNS} from ${FROM} group by rs.id order by rs.name, rs.indicator`);
    return rows;
  }

  /** The registry by indicator: from memory, or read once for every request that waits on it. */
  function current(): Promise<Map<string, ResourceServer>> {
    if (registry && performance.now() - registry.at < MAX_AGE_MS) return Promise.resolve(registry.byIndicator);
    if (loading?.changes === changes) return loading.registry;
    const before = changes;
    const read = readAll().then((all) => {
      const byIndicator = new Map(all.map((server) => [server.indicator, server]));
      if (listening && before === changes) registry = { byIndicator, at: performance.now() };
      return byIndicator;
    });
    loading = { registry: read, changes: before };
    void read.finally(() => {
      if (loading?.registry === read) loading = undefined;
    }).catch(() => {});
    return read;
  }

  /** The settings checked (every problem of their shape), with the scopes and client ids sorted, once each. */
  function shapeOf(input: ResourceServerSettings): { settings?: ResourceServerSettings; problems: InputError[] } {
    const parsed = schema.safeParse({ ...input, scopes: [...new Set(input.scopes)], clientIds: [...new Set(input.clientIds)] });
    if (parsed.success) return { settings: { ...parsed.data, scopes: [...parsed.data.scopes].sort(), clientIds: [...parsed.data.clientIds].sort() }, problems: [] };
    const keys = [...new Set(parsed.error.issues.map((issue) => String(issue.path[0]) as keyof ResourceServerSettings))];
    return { problems: keys.map((key) => new InputError(`resource_${FIELD[key]}_invalid`, FIELD[key])) };
  }

  /**
   * The settings checked, client ids naming clients; or a ResourceServerError with every problem.
   * Run before a write's transaction: the embedded database has one connection, which the
   * transaction holds (the clients' foreign key then holds against a client deleted meanwhile).
   */
  async function check(input: ResourceServerSettings): Promise<ResourceServerSettings> {
    const { settings, problems } = shapeOf(input);
    const clientIds = schema.shape.clientIds.safeParse([...new Set(input.clientIds)]);
    const unknown = clientIds.success ? await unknownClients(clientIds.data) : [];
    if (unknown.length > 0) problems.push(new InputError('resource_client_unknown', FIELD.clientIds, `no client ${unknown.join(', ')}`));
    if (!settings || problems.length > 0) throw new ResourceServerError(problems, unknown);
    return settings;
  }

  async function unknownClients(clientIds: string[]): Promise<string[]> {
    const found = await Promise.all(clientIds.map(async (id) => ((await clients.unitClient(id)) ? undefined : id)));
    return found.filter((id): id is string => id !== undefined);
  }

  /**
   * Runs a write's transaction; this process reads the registry again at its next request,
   * whatever the write did. A client deleted since the check (the foreign key) is an unknown client.
   */
  async function writing<T>(clientIds: string[], write: (tx: Queryable) => Promise<T>): Promise<T> {
    try {
      return await db.transaction(write);
    } catch (error) {
      // 23503: a foreign key violation.
      if ((error as { code?: unknown }).code !== '23503') throw error;
      const unknown = await unknownClients(clientIds);
      throw new ResourceServerError([new InputError('resource_client_unknown', FIELD.clientIds)], unknown);
    } finally {
      forget();
    }
  }

  async function writeClients(tx: Queryable, id: string, clientIds: string[]): Promise<void> {
    await tx.query('delete from resource_server_clients where resource_server_id = $1 and not (client_id = any($2))', [id, clientIds]);
    await tx.query(
      'insert into resource_server_clients (resource_server_id, client_id) select $1, unnest($2::text[]) on conflict do nothing',
      [id, clientIds],
    );
  }

  async function get(id: string): Promise<ResourceServer | undefined> {
    if (!z.uuid().safeParse(id).success) return undefined;
    const { rows } = await db.query<ResourceServer>(`select ${COLUMNS} from ${FROM} where rs.id = $1 group by rs.id`, [id]);
    return rows[0];
  }

  async function lockedById(tx: Queryable, id: string): Promise<ResourceServer | undefined> {
    if (!z.uuid().safeParse(id).success) return undefined;
    await tx.query('select 1 from resource_servers where id = $1 for update', [id]);
    const { rows } = await tx.query<ResourceServer>(`select ${COLUMNS} from ${FROM} where rs.id = $1 group by rs.id`, [id]);
    return rows[0];
  }

  return {
    /** The resource server with this indicator, exactly as a client sent it; from memory when it can. */
    async findByIndicator(indicator: string): Promise<ResourceServer | undefined> {
      return (await current()).get(indicator);
    },

    /** Every resource server, by name, read from the database (the console and the CLI). */
    list: () => readAll(),

    get,

    /** Adds a resource server (its indicator must be free) and audits it; returns it. */
    async create(input: ResourceServerSettings, actor: string, ip?: string): Promise<ResourceServer> {
      const settings = await check(input);
      const id = randomUUID();
      await writing(settings.clientIds, async (tx) => {
        const inserted = await tx.query(
          `insert into resource_servers (id, indicator, name, scopes, access_token_ttl) values ($1, $2, $3, $4, $5)
           on conflict (indicator) do nothing`,
          [id, settings.indicator, settings.name, settings.scopes, settings.accessTokenTtl],
        );
        if (inserted.rowCount === 0) throw new ResourceServerError([new InputError('resource_indicator_taken', FIELD.indicator)]);
        await writeClients(tx, id, settings.clientIds);
        await audit({ type: 'resource_server.created', actor, ip, details: { id, after: shown(settings) } }, tx);
      });
      return { id, ...settings, updatedAt: new Date() };
    },

    /**
     * Changes a resource server: `change` gets its settings and returns the new ones (the indicator
     * stays: it is the audience its APIs check). It is checked on the settings as they are, then
     * applied again to them read locked in the transaction (two changes at once both count).
     * Audited with before and after; settings that change nothing write nothing. Throws
     * InputError('resource_unknown') for an id that names none.
     */
    async update(id: string, change: (current: ResourceServerSettings) => ResourceServerSettings, actor: string, ip?: string): Promise<ResourceServer> {
      const current = await get(id);
      if (!current) throw new InputError('resource_unknown');
      const checked = await check({ ...change(shown(current)), indicator: current.indicator });
      return writing(checked.clientIds, async (tx) => {
        const existing = await lockedById(tx, id);
        if (!existing) throw new InputError('resource_unknown');
        const before = shown(existing);
        const { settings, problems } = shapeOf({ ...change(before), indicator: existing.indicator });
        if (!settings) throw new ResourceServerError(problems);
        const after = shown(settings);
        if (JSON.stringify(before) !== JSON.stringify(after)) {
          await tx.query(
            'update resource_servers set name = $2, scopes = $3, access_token_ttl = $4, updated_at = now() where id = $1',
            [id, settings.name, settings.scopes, settings.accessTokenTtl],
          );
          await writeClients(tx, id, settings.clientIds);
          await audit({ type: 'resource_server.updated', actor, ip, details: { id, before, after } }, tx);
        }
        return { ...existing, ...settings };
      });
    },

    /** Removes a resource server: its tokens still out there expire within its lifetime. */
    async delete(id: string, actor: string, ip?: string): Promise<void> {
      await writing([], async (tx) => {
        const existing = await lockedById(tx, id);
        if (!existing) throw new InputError('resource_unknown');
        await tx.query('delete from resource_servers where id = $1', [id]);
        await audit({ type: 'resource_server.deleted', actor, ip, details: { id, before: shown(existing) } }, tx);
      });
    },

    /** Keeps the registry in memory from now on, read again after each announced change. */
    async followChanges(): Promise<void> {
      await db.listen('resource_servers_changed', forget, (heard) => {
        listening = heard;
        forget();
      });
    },
  };
}

export type ResourceServers = ReturnType<typeof createResourceServers>;
