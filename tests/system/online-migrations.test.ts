import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import { migrate } from '../../src/db/migrate.js';
import { SITI } from '../support/fixtures.js';
import { createClientByCli, createSitiByCli, processEnvironment, startServe, type Served } from '../support/process.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';

/**
 * Upgrades without downtime: the new version's processes apply its migrations while the previous
 * version still serves (docs/operations.md). That holds when (1) every migration only adds, which
 * the first test reads off the SQL, with each reviewed exception written down, and (2) a version
 * keeps working on a schema that a newer version expanded, which the second test shows on
 * PostgreSQL: a running server under load while another process applies a next version's
 * typical migration, then a server of this version restarted on that newer schema.
 */
const MIGRATIONS = fileURLToPath(new URL('../../migrations/', import.meta.url));

/**
 * What would break the previous version, or block its writes while it runs: each rule is matched
 * against one clause (an ALTER TABLE of several clauses is read clause by clause).
 */
const RULES: Array<{ rule: string; pattern: RegExp }> = [
  { rule: 'drops something', pattern: /^drop (table|index|view|function|trigger|type|schema)\b|^alter table \w+ drop (column )?(?!constraint\b|default\b|not null\b)\w+/ },
  { rule: 'renames', pattern: /\brename\b/ },
  { rule: 'changes a column type', pattern: /^alter table \w+ alter (column )?\w+ (set data )?type\b/ },
  { rule: 'makes a column required', pattern: /\bset not null\b/ },
  { rule: 'adds a required column without a default', pattern: /^alter table \w+ add (column )?(?!constraint\b)\w+ (?!.*\bdefault\b).*\bnot null\b/ },
  { rule: 'adds a column whose default rewrites the table', pattern: /^alter table \w+ add (column )?\w+ .*\bdefault (gen_random_uuid|random|clock_timestamp|uuid_generate_v\d)\(/ },
  { rule: 'adds or replaces a constraint', pattern: /^alter table \w+ (add|drop) constraint\b/ },
  { rule: 'deletes or rewrites rows', pattern: /^(delete from|update|truncate)\b/ },
  { rule: 'builds an index on an existing table (writes wait)', pattern: /^create (unique )?index\b/ },
];

/**
 * The reviewed exceptions: file, rule, and why the previous version is still safe (or why it did
 * not matter then). A new migration that breaks a rule fails until it is reviewed and added here.
 */
const REVIEWED: Array<{ file: string; rule: string; why: string }> = [
  {
    file: '007_profile.sql', rule: 'adds or replaces a constraint',
    why: 'the purpose check is widened (change_email added), and the new_email check holds for every row the previous version writes (no new_email)',
  },
  { file: '008_onboarding.sql', rule: 'adds or replaces a constraint', why: 'the role check is widened (developer added)' },
  { file: '008_onboarding.sql', rule: 'builds an index on an existing table (writes wait)', why: 'audit_events indexes, landed before the first release' },
  ...['renames', 'drops something', 'makes a column required', 'deletes or rewrites rows', 'adds or replaces a constraint'].map((rule) => ({
    file: '009_key_rotation.sql', rule, why: 'landed before the first release, when no previous version served',
  })),
  {
    file: '012_account_index.sql', rule: 'builds an index on an existing table (writes wait)',
    why: 'oidc_payloads: sign-ins wait (they do not fail) while it is built, seconds at city scale; run the upgrade at a quiet hour',
  },
  {
    file: '014_phone_first.sql', rule: 'adds or replaces a constraint',
    why: 'citizens_contact_check (email or phone) holds for every row the previous version writes: it always writes an email (email itself may now be null: only this version writes a null there)',
  },
  {
    file: '014_phone_first.sql', rule: 'deletes or rewrites rows',
    why: 'phone numbers rewritten to E.164, and a verified number held by two accounts unverified on all but one: the previous version reads the phone as text either way',
  },
  {
    file: '014_phone_first.sql', rule: 'builds an index on an existing table (writes wait)',
    why: 'citizens (verified phone numbers only): writes to citizens wait a second or two at city scale; run the upgrade at a quiet hour',
  },
  {
    file: '020_upstream_sign_in.sql', rule: 'adds or replaces a constraint',
    why: 'every check is widened (verification_method adds upstream; the phone code and account token purposes add link_upstream; '
      + 'citizens_contact_check also lets an account without a password have no contact, which only this version writes): every row the previous version writes passes them',
  },
  {
    file: '024_retention.sql', rule: 'builds an index on an existing table (writes wait)',
    why: 'audit_events (partial: entries that still hold an IP address or device): every audited action (a login too) waits while it is built, from seconds to a minute at city scale; run the upgrade at a quiet hour',
  },
];

/** The clauses of a migration, lower case, without comments: its statements, and each clause of an ALTER TABLE on its own. */
function clausesOf(sql: string): string[] {
  return sql
    .replace(/--.*$/gm, '')
    .toLowerCase()
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter(Boolean)
    .flatMap((statement) => {
      const alter = /^(alter table (?:if exists )?(?:only )?)(\w+) (.*)$/.exec(statement);
      if (!alter) return [statement];
      return alter[3]!.split(/, (?=(?:add|drop|alter|rename|validate|set|reset|enable|disable|owner)\b)/).map((clause) => `alter table ${alter[2]} ${clause}`);
    });
}

/** The rules a piece of SQL breaks. */
const brokenRules = (sql: string) => RULES.filter(({ pattern }) => clausesOf(sql).some((clause) => pattern.test(clause))).map(({ rule }) => rule);

describe('migrations are safe to apply while the previous version serves', () => {
  test('every migration only adds, or its exception is reviewed above', async () => {
    const files = (await readdir(MIGRATIONS)).filter((f) => f.endsWith('.sql')).sort();
    const created = new Set<string>();
    const found: Array<{ file: string; rule: string }> = [];
    for (const file of files) {
      const createdHere = new Set<string>();
      for (const clause of clausesOf(await readFile(join(MIGRATIONS, file), 'utf8'))) {
        const table = /^create table (?:if not exists )?(\w+)/.exec(clause)?.[1];
        if (table) createdHere.add(table);
        for (const { rule, pattern } of RULES) {
          if (!pattern.test(clause)) continue;
          // An index on a table this same migration creates blocks nobody.
          const indexed = / on (\w+)/.exec(clause)?.[1];
          if (rule.startsWith('builds an index') && indexed && createdHere.has(indexed) && !created.has(indexed)) continue;
          if (!found.some((f) => f.file === file && f.rule === rule)) found.push({ file, rule });
        }
      }
      for (const table of createdHere) created.add(table);
    }
    const reviewed = REVIEWED.map(({ file, rule }) => ({ file, rule }));
    // Nothing unreviewed, and no review of a finding that is gone.
    expect(found.filter((f) => !reviewed.some((r) => r.file === f.file && r.rule === f.rule))).toEqual([]);
    expect(reviewed.filter((r) => !found.some((f) => f.file === r.file && f.rule === r.rule))).toEqual([]);
  });

  test('the rules catch what they are for, and let additions pass', () => {
    const breaking = [
      'alter table citizens drop column phone',
      'alter table citizens drop phone',
      'drop index citizens_email_idx',
      'alter table citizens rename column name to full_name',
      'alter table citizens alter column name type varchar(50)',
      'alter table citizens alter name type varchar(50)',
      'alter table citizens alter column phone set not null',
      'alter table citizens add column region text not null',
      'alter table citizens add region text not null',
      'alter table citizens add column a text not null, add column b int',
      'alter table citizens add column token uuid default gen_random_uuid()',
      'alter table citizens add constraint name_short check (length(name) < 10)',
      'update citizens set name = upper(name)',
      'truncate throttle',
    ];
    for (const sql of breaking) expect({ sql, broken: brokenRules(sql).length > 0 }).toEqual({ sql, broken: true });
    const additive = [
      "alter table citizens add column region text not null default ''",
      'alter table citizens add column nickname text, add column seen_at timestamptz default now()',
      'alter table citizens alter column phone drop not null',
      'create table notes (id int primary key, body text not null)',
    ];
    for (const sql of additive) expect({ sql, broken: brokenRules(sql) }).toEqual({ sql, broken: [] });
  });
});

/** What a next version typically adds to the hottest tables: a table, columns, an index, a trigger. */
const NEXT_VERSION_MIGRATION = `
create table next_version_notes (id bigserial primary key, citizen_id uuid references citizens (id) on delete cascade, note text not null);
alter table citizens add column next_version_region text not null default '';
alter table citizens add column next_version_nickname text;
alter table clients add column next_version_tier int not null default 0;
alter table oidc_payloads add column next_version_seen_at timestamptz;
alter table audit_events add column next_version_source text default 'web';
create index next_version_citizens_region_idx on citizens (next_version_region);
create function next_version_touch() returns trigger language plpgsql as $$ begin new.next_version_seen_at := now(); return new; end $$;
create trigger next_version_touch before insert on oidc_payloads for each row execute function next_version_touch();
`;

(process.env.DATABASE_URL ? describe : describe.skip)('this version on a schema a next version expanded (PostgreSQL)', () => {
  let setup: Awaited<ReturnType<typeof processEnvironment>>;
  let served: Served;
  let rp: oidc.Configuration;
  let nextMigrations: string;

  beforeAll(async () => {
    setup = await processEnvironment({ LOGIN_MAX_DELAY_SECONDS: '0', IP_LIMIT_LOGIN: '100000' });
    const { clientId, clientSecret } = await createClientByCli(setup.env, ['--scope', 'openid offline_access', '--grant-type', 'authorization_code', '--grant-type', 'refresh_token']);
    await createSitiByCli(setup.env);
    served = await startServe(setup.env);
    rp = await relyingParty(setup.issuer, clientId, clientSecret);
    // The next version's migrations: this version's, and one more.
    nextMigrations = await mkdtemp(join(tmpdir(), 'kediri-next-migrations-'));
    await cp(MIGRATIONS, nextMigrations, { recursive: true });
    await writeFile(join(nextMigrations, '999_next_version.sql'), NEXT_VERSION_MIGRATION);
  }, 90_000);
  afterAll(async () => {
    await served?.stop();
    await setup?.cleanup();
    if (nextMigrations) await rm(nextMigrations, { recursive: true, force: true });
  });

  test('logins and refreshes go on while another process migrates, and after it', async () => {
    const failures: string[] = [];
    let done = 0;
    let running = true;
    const signInAndRefresh = async () => {
      while (running && failures.length === 0) {
        try {
          const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid offline_access', prompt: 'consent' });
          await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
          done++;
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const load = [signInAndRefresh(), signInAndRefresh()];
    let applied: string[];
    try {
      while (done < 3 && failures.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      applied = await setup.withDatabase((db) => migrate(db, nextMigrations));
      const doneBefore = done;
      while (done < doneBefore + 4 && failures.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      running = false;
      await Promise.all(load);
    }

    expect(applied).toEqual(['999_next_version.sql']);
    expect(failures).toEqual([]);
    // The trigger of the next version ran on this version's writes.
    const touched = await setup.withDatabase((db) => db.query('select 1 from oidc_payloads where next_version_seen_at is not null limit 1'));
    expect(touched.rowCount).toBe(1);
    // Still ready: a newer version's migration is not one this version is missing.
    expect((await fetch(`${setup.issuer}/readyz`)).status).toBe(200);
  }, 120_000);

  test('a server of this version restarted on the expanded schema is ready and serves a login', async () => {
    await served.stop();
    served = await startServe(setup.env);
    expect((await fetch(`${setup.issuer}/readyz`)).status).toBe(200);
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid offline_access', prompt: 'consent' });
    expect(tokens.claims()!.sub).toBeTruthy();
  }, 60_000);
});
