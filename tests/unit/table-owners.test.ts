import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/*
 * One module owns each table (ARCHITECTURE.md "Shape rules"): SQL that names citizens, clients,
 * oidc_payloads, phone_codes, the upstream tables, the resource servers' or the data releases after a keyword that reads or writes a table is
 * allowed in its owner only.
 */
const OWNERS: Record<string, string[]> = {
  citizens: ['src/identity/citizens.ts'],
  clients: ['src/clients/clients.ts'],
  oidc_payloads: ['src/oidc/payloads.ts', 'src/oidc/adapter.ts'],
  phone_codes: ['src/identity/phone-codes.ts'],
  upstream_providers: ['src/federation/upstreams.ts'],
  upstream_links: ['src/federation/upstream-accounts.ts'],
  upstream_requests: ['src/federation/upstream-accounts.ts'],
  upstream_sessions: ['src/federation/upstream-accounts.ts'],
  upstream_logout_tokens: ['src/federation/upstream-accounts.ts'],
  resource_servers: ['src/clients/resource-servers.ts'],
  resource_server_clients: ['src/clients/resource-servers.ts'],
  data_releases: ['src/audit/data-releases.ts'],
};
const root = join(import.meta.dirname, '../..');
/** A keyword that reads or writes a table, then (over spaces, line breaks or their escapes) an owned table's name. */
const SQL = new RegExp(`\\b(from|into|update|join|table|truncate)(?:\\s|\\\\[nrt])+(${Object.keys(OWNERS).join('|')})\\b`, 'gi');

/** The code without its comments (a URL's // inside a string stays: a colon or quote comes before it). */
const withoutComments = (source: string) => source.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');

/** Each statement naming an owned table in this code: the table and the line. */
function tablesNamed(source: string): { table: string; line: number }[] {
  const code = withoutComments(source);
  return [...code.matchAll(SQL)].map((m) => ({ table: m[2]!.toLowerCase(), line: code.slice(0, m.index).split('\n').length }));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('one owner per table', () => {
  test('the check sees SQL across lines and in any case, and not prose in comments', () => {
    expect(tablesNamed('db.query(`select 1\n  FROM\n    clients c`)')).toEqual([{ table: 'clients', line: 2 }]);
    expect(tablesNamed("tx.query('update citizens set x = 1'); tx.query('delete from\\noidc_payloads')")).toHaveLength(2);
    expect(tablesNamed('// reads from clients\n/* the rows from citizens */\nconst clientsTable = citizens.find(); // join clients')).toEqual([]);
  });

  test('SQL on citizens, clients, oidc_payloads, phone_codes, the upstream tables, the resource servers\' and the data releases appears in their owning modules only', () => {
    const files = sourceFiles(join(root, 'src'));
    expect(files.length).toBeGreaterThan(50);
    const strays = files.flatMap((file) => {
      const path = relative(root, file);
      return tablesNamed(readFileSync(file, 'utf8'))
        .filter(({ table }) => !OWNERS[table]!.includes(path))
        .map(({ table, line }) => `${path}:${line} names ${table} (owned by ${OWNERS[table]!.join(', ')})`);
    });
    expect(strays).toEqual([]);
  });
});
