import type { Db } from './db.js';

/** Rows in memory at most per view; past it the oldest entry goes. */
const MAX_ENTRIES = 10_000;
/** A backstop only: a change is forgotten when its notification arrives, in milliseconds. */
const MAX_AGE_MS = 60_000;

interface Entry<T> {
  value: T;
  at: number;
}

/** Every cache of this process by channel (tests run several instances in one): forgetChanged reaches them all. */
const caches = new Map<string, Set<(key?: string) => void>>();

/**
 * Forgets a row (or, without a key, every row) in this process's caches of a channel at once, for
 * writers to call beside their change, so that this process's next requests read it again. A
 * lookup between the write and its transaction's commit still reads (and may keep) the row as it
 * was: the database's notification at the commit, which reaches every process, forgets it then.
 */
export function forgetChanged(channel: string, key?: string): void {
  for (const forget of caches.get(channel) ?? []) forget(key);
}

/** A view of the rows of one cache: a lookup by key, and what a read made elsewhere may leave in it. */
export interface CacheView<T> {
  (key: string): Promise<T | undefined>;
  /** The counter of changes heard so far: take it before a read, to `keep` what it found. */
  mark(): number;
  /** Keeps what a read found, unless a change was heard since its mark (it may be older than the change). */
  keep(key: string, value: T, mark: number): void;
}

/**
 * Rows kept in memory while the process hears of every change to them: a table's trigger announces
 * each changed row's key on `channel` (an empty payload: every row), and every view of that row is
 * forgotten. While the process is not listening (before follow(), or when the connection that
 * listens has dropped) nothing is kept and every lookup reads the database.
 *
 * A lookup that was under way when a change was announced does not keep what it read: it may have
 * read the row before the change. Only rows that exist are kept: a key nobody has (anyone may send
 * one, of any length) is looked up each time and takes no memory.
 */
export function createChangeCache(channel: string) {
  const views = new Set<Map<string, Entry<unknown>>>();
  let listening = false;
  /** Changes announced so far: a lookup keeps its result only if none came while it ran. */
  let changes = 0;

  const forget = (key?: string) => {
    changes++;
    for (const entries of views) {
      if (key === undefined) entries.clear();
      else entries.delete(key);
    }
  };
  let forgetters = caches.get(channel);
  if (!forgetters) caches.set(channel, (forgetters = new Set()));
  forgetters.add(forget);

  return {
    /** A view of each row, read by `load`: a copy each time (callers may change what they are given). */
    view<T>(load: (key: string) => Promise<T | undefined>): CacheView<T> {
      const entries = new Map<string, Entry<T>>();
      views.add(entries as Map<string, Entry<unknown>>);
      const keep = (key: string, value: T, mark: number) => {
        if (!listening || mark !== changes) return;
        entries.delete(key);
        if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
        entries.set(key, { value: structuredClone(value), at: performance.now() });
      };
      const find = async (key: string) => {
        const entry = entries.get(key);
        if (entry && performance.now() - entry.at < MAX_AGE_MS) return structuredClone(entry.value);
        const mark = changes;
        const value = await load(key);
        if (value) keep(key, value, mark);
        return value;
      };
      return Object.assign(find, { mark: () => changes, keep });
    },

    /** Starts keeping rows, for as long as the database's notifications on the channel are heard. */
    async follow(db: Db): Promise<void> {
      await db.listen(channel, (key) => forget(key || undefined), (heard) => {
        listening = heard;
        forget();
      });
    },
  };
}
