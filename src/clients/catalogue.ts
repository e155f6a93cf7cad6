import { randomUUID } from 'node:crypto';
import { isUniqueViolation, type Db, type Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import { isUuid } from '../ids.js';
import { clientStates } from './clients.js';
import { checkEntryFields, type EntryInput, type RawEntry } from './catalogue-entry.js';
import type { Units } from './units.js';

export interface CatalogueEntry extends EntryInput {
  id: string;
  position: number;
}

/** An entry as the administrators' list shows it: with its client's name and status. */
export interface AdminEntry extends CatalogueEntry {
  unitName: string;
  clientName: string | null;
  clientActive: boolean;
}

export interface CatalogueUnit {
  slug: string;
  name: string;
  hasLogo: boolean;
  entries: CatalogueEntry[];
}

/** A problem of one line of an import. */
export interface LineProblem {
  line: number;
  error: InputError;
}

const COLUMNS = `id, unit_slug as unit, name, description_id as "descriptionId", description_en as "descriptionEn", kind,
  client_id as "clientId", acr, position`;

/** Whether an entry's text holds the words looked for (any case), in its name or either description. */
const matches = (entry: CatalogueEntry, q: string) =>
  [entry.name, entry.descriptionId, entry.descriptionEn].some((text) => text.toLocaleLowerCase('id').includes(q));

/**
 * The service catalogue (/layanan): each unit's services, online (an active client of the same
 * unit) or at the MPP counter. Owns catalogue_entries; every change is audited.
 */
export function createCatalogue(db: Db, audit: Audit, units: Units) {
  const rows = async (on: Queryable, where = '', params: unknown[] = []) =>
    (await on.query<CatalogueEntry>(`select ${COLUMNS} from catalogue_entries ${where} order by unit_slug, position, lower(name)`, params)).rows;

  /** The slugs of the units, read before a transaction (the embedded database has one connection). */
  const unitSlugs = async () => new Set((await units.list()).map((unit) => unit.slug));

  /** The checks of the fields, then of the unit (among `slugs`) and of the client against the database. */
  async function check(on: Queryable, raw: RawEntry, slugs: Set<string>): Promise<{ input?: EntryInput; problems: InputError[] }> {
    const checked = checkEntryFields(raw);
    const problems = [...checked.problems];
    const unit = raw.unit.trim();
    if (unit && !slugs.has(unit)) problems.push(new InputError('catalogue_unit_unknown', 'unit'));
    const clientId = checked.input?.clientId;
    if (clientId) {
      const client = (await clientStates(on, [clientId])).get(clientId);
      if (!client || client.status !== 'active' || client.unit !== unit) problems.push(new InputError('catalogue_client_invalid', 'client_id'));
    }
    return problems.length > 0 ? { problems } : { input: checked.input!, problems };
  }

  async function insert(tx: Queryable, input: EntryInput, position: number): Promise<string> {
    const id = randomUUID();
    await tx.query(
      `insert into catalogue_entries (id, unit_slug, name, description_id, description_en, kind, client_id, acr, position)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [id, input.unit, input.name, input.descriptionId, input.descriptionEn, input.kind, input.clientId, input.acr, position],
    );
    return id;
  }

  /** The next position in a unit: after its last entry. */
  async function nextPosition(tx: Queryable, unit: string): Promise<number> {
    const { rows: found } = await tx.query<{ next: number }>('select coalesce(max(position), -1)::int + 1 as next from catalogue_entries where unit_slug = $1', [unit]);
    return found[0]!.next;
  }

  /** A name the unit already lists is a problem of the name field, not a server fault. */
  async function uniquely<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (isUniqueViolation(error)) throw new InputError('catalogue_name_taken', 'name');
      throw error;
    }
  }

  /** As uniquely, the name taken given back as the problem of a form. */
  async function orProblems<T>(write: () => Promise<T>): Promise<T | { problems: InputError[] }> {
    try {
      return await uniquely(write);
    } catch (error) {
      if (error instanceof InputError && error.code === 'catalogue_name_taken') return { problems: [error] };
      throw error;
    }
  }

  const catalogue = {
    /**
     * The public catalogue: every unit with its entries, online ones only while their client is
     * active; `q` keeps the entries whose name or descriptions hold it (any case), `unit` one unit.
     */
    async listed({ q = '', unit = '' }: { q?: string; unit?: string } = {}): Promise<CatalogueUnit[]> {
      const all = await rows(db);
      const states = await clientStates(db, [...new Set(all.flatMap((e) => (e.clientId ? [e.clientId] : [])))]);
      const words = q.trim().toLocaleLowerCase('id');
      const shown = all.filter((e) => (e.kind === 'counter' || states.get(e.clientId!)?.status === 'active') && (!words || matches(e, words)));
      return (await units.list())
        .filter((u) => !unit || u.slug === unit)
        .map((u) => ({ slug: u.slug, name: u.name, hasLogo: u.hasLogo, entries: shown.filter((e) => e.unit === u.slug) }));
    },

    /** Every entry, for the administrators: with its client's name and whether the page shows it. */
    async all(): Promise<AdminEntry[]> {
      const all = await rows(db);
      const names = new Map((await units.list()).map((u) => [u.slug, u.name]));
      const states = await clientStates(db, all.flatMap((e) => (e.clientId ? [e.clientId] : [])));
      return all.map((e) => {
        const client = e.clientId ? states.get(e.clientId) : undefined;
        return { ...e, unitName: names.get(e.unit) ?? e.unit, clientName: client?.name ?? null, clientActive: client?.status === 'active' };
      });
    },

    async get(id: string, on: Queryable = db): Promise<CatalogueEntry | undefined> {
      if (!isUuid(id)) return undefined;
      return (await rows(on, 'where id = $1', [id]))[0];
    },

    /** The online entries of these clients (a developer's page). */
    async forClients(clientIds: string[]): Promise<CatalogueEntry[]> {
      return rows(db, 'where client_id = any($1)', [clientIds]);
    },

    /** Adds an entry at the end of its unit's list; returns its id, or the problems of its fields. */
    async create(raw: RawEntry, actor: string, ip?: string): Promise<{ id: string } | { problems: InputError[] }> {
      const slugs = await unitSlugs();
      return orProblems(() =>
        db.transaction(async (tx) => {
          const { input, problems } = await check(tx, raw, slugs);
          if (!input) return { problems };
          const id = await insert(tx, input, await nextPosition(tx, input.unit));
          await audit({ type: 'catalogue.entry_created', actor, ip, ...(input.clientId && { clientId: input.clientId }), details: { entry: id, after: input } }, tx);
          return { id };
        }),
      );
    },

    /** Changes an entry (its position too); the problems of its fields, if any. */
    async update(id: string, raw: RawEntry & { position: number }, actor: string, ip?: string): Promise<{ problems: InputError[] }> {
      const slugs = await unitSlugs();
      return orProblems(() =>
        db.transaction(async (tx) => {
          const before = await catalogue.get(id, tx);
          if (!before) throw new InputError('catalogue_entry_unknown');
          const { input, problems } = await check(tx, raw, slugs);
          if (!input) return { problems };
          await tx.query(
            `update catalogue_entries set unit_slug = $2, name = $3, description_id = $4, description_en = $5, kind = $6, client_id = $7,
               acr = $8, position = $9, updated_at = now() where id = $1`,
            [id, input.unit, input.name, input.descriptionId, input.descriptionEn, input.kind, input.clientId, input.acr, raw.position],
          );
          await audit({ type: 'catalogue.entry_updated', actor, ip, ...(input.clientId && { clientId: input.clientId }), details: { entry: id, before, after: { ...input, position: raw.position } } }, tx);
          return { problems: [] };
        }),
      );
    },

    /** Writes approved text onto an entry, or a new online entry for the client (catalogue-proposals.ts). */
    async applyText(tx: Queryable, target: { entryId: string | null; clientId: string }, text: Pick<EntryInput, 'name' | 'descriptionId' | 'descriptionEn' | 'acr'>): Promise<string> {
      return uniquely(async () => {
        if (target.entryId) {
          const changed = await tx.query(
            `update catalogue_entries set name = $2, description_id = $3, description_en = $4, acr = $5, updated_at = now()
             where id = $1 and client_id = $6`,
            [target.entryId, text.name, text.descriptionId, text.descriptionEn, text.acr, target.clientId],
          );
          if (changed.rowCount !== 1) throw new InputError('catalogue_entry_unknown');
          return target.entryId;
        }
        const client = (await clientStates(tx, [target.clientId])).get(target.clientId);
        if (!client || client.status !== 'active') throw new InputError('catalogue_client_invalid', 'client_id');
        const input: EntryInput = { ...text, unit: client.unit, kind: 'online', clientId: target.clientId };
        return insert(tx, input, await nextPosition(tx, client.unit));
      });
    },

    async remove(id: string, actor: string, ip?: string): Promise<void> {
      await db.transaction(async (tx) => {
        const before = await catalogue.get(id, tx);
        if (!before) throw new InputError('catalogue_entry_unknown');
        await tx.query('delete from catalogue_entries where id = $1', [id]);
        await audit({ type: 'catalogue.entry_deleted', actor, ip, ...(before.clientId && { clientId: before.clientId }), details: { entry: id, before } }, tx);
      });
    },

    /**
     * Adds the lines of an import (catalogue-csv.ts) in one transaction, each at the end of its
     * unit in file order; when any line has a problem (its own, or a name twice in a unit), nothing
     * is added and every problem is returned with its line. `refuse`: the file has problems of its
     * own (catalogue-csv.ts): the lines are checked and nothing is added.
     */
    async importLines(lines: { line: number; raw: RawEntry }[], actor: string, refuse = false): Promise<{ imported: number; problems: LineProblem[] }> {
      const slugs = await unitSlugs();
      return db.transaction(async (tx) => {
        const problems: LineProblem[] = [];
        const seen = new Set<string>();
        const checked: EntryInput[] = [];
        for (const { line, raw } of lines) {
          const { input, problems: found } = await check(tx, raw, slugs);
          problems.push(...found.map((error) => ({ line, error })));
          if (!input) continue;
          const key = `${input.unit}\n${input.name.toLocaleLowerCase()}`;
          const { rows: listed } = await tx.query('select 1 from catalogue_entries where unit_slug = $1 and lower(name) = lower($2)', [input.unit, input.name]);
          if (seen.has(key) || listed.length > 0) problems.push({ line, error: new InputError('catalogue_name_taken', 'name') });
          seen.add(key);
          checked.push(input);
        }
        if (problems.length > 0 || refuse) return { imported: 0, problems };
        for (const input of checked) await insert(tx, input, await nextPosition(tx, input.unit));
        await audit({ type: 'catalogue.imported', actor, details: { entries: checked.length } }, tx);
        return { imported: checked.length, problems };
      });
    },
  };
  return catalogue;
}

export type Catalogue = ReturnType<typeof createCatalogue>;
