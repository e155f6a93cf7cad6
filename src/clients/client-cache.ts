import type { Db, Queryable } from '../db/db.js';

/** Clients in memory at most; past it the oldest entry goes. */
const MAX_ENTRIES = 10_000;
/** A backstop only: a change is forgotten when its notification arrives, in milliseconds. */
const MAX_AGE_MS = 60_000;

interface Entry<T> {
  value: T;
  at: number;
}

/** Every cache of this process (tests run several instances in one): forgetClient reaches them all. */
const caches = new Set<(clientId?: string) => void>();

/**
 * Forgets a client (or, without one, every client) in this process's caches at once, for writers
 * to call beside their change: the database's notification reaches every process too, but a
 * moment later, and a request of this process's own that follows the change must see it.
 */
export function forgetClient(clientId?: string): void {
  for (const forget of caches) forget(clientId);
}

/**
 * A unit's name or logo changed, which every page naming one of its clients shows: announced to
 * every process (at the commit of `tx`) and forgotten in this one at once.
 */
export async function announceUnitChange(tx: Queryable): Promise<void> {
  await tx.query("select pg_notify('client_changed', '')");
  forgetClient();
}

/**
 * The provider asks for the client on every protocol request, and the login pages for its name and
 * unit; this keeps the answers (the database reads, the secret's decryption) in memory while the
 * process hears of every change: the clients table's trigger (migration 013) announces each
 * changed client_id on client_changed, and every view of that client is forgotten. While the
 * process is not listening (before follow(), or when the connection that listens has dropped)
 * nothing is cached and every lookup reads the database.
 *
 * A lookup that was under way when a change was announced does not store what it read: it may
 * have read the row before the change. Only clients that exist are kept: a client_id nobody has
 * (anyone may send one, of any length) is looked up each time and takes no memory.
 */
export function createClientCache() {
  const views = new Set<Map<string, Entry<unknown>>>();
  let listening = false;
  /** Changes announced so far: a lookup stores its result only if none came while it ran. */
  let changes = 0;

  const forget = (clientId?: string) => {
    changes++;
    for (const entries of views) {
      if (clientId === undefined) entries.clear();
      else entries.delete(clientId);
    }
  };

  caches.add(forget);

  return {
    /** A view of each client, read by `load`: a copy each time (oidc-provider adjusts the metadata it is given). */
    view<T>(load: (clientId: string) => Promise<T | undefined>): (clientId: string) => Promise<T | undefined> {
      const entries = new Map<string, Entry<T>>();
      views.add(entries as Map<string, Entry<unknown>>);
      return async (clientId) => {
        const entry = entries.get(clientId);
        if (entry && performance.now() - entry.at < MAX_AGE_MS) return structuredClone(entry.value);
        const before = changes;
        const value = await load(clientId);
        if (value && listening && before === changes) {
          entries.delete(clientId);
          if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
          entries.set(clientId, { value: structuredClone(value), at: performance.now() });
        }
        return value;
      };
    },

    /** Starts caching, for as long as the database's client_changed notifications are heard. */
    async follow(db: Db): Promise<void> {
      // An empty payload is a change to every client (a unit renamed: announceUnitChange).
      await db.listen('client_changed', (clientId) => forget(clientId || undefined), (heard) => {
        listening = heard;
        forget();
      });
    },
  };
}
