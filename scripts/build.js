// npm run build (and `npm install`, through `prepare`): compiles src/ into dist/ for a fast start.
// - tsc emits the JavaScript (tsconfig.build.json); the other files under src/ (the data files the
//   code reads beside itself) are copied.
// - dist/pglite-template: an embedded database with every migration applied, which an empty
//   DATA_DIR starts from instead of running PGlite's initdb (src/db/open.ts).
// - dist/BUILT_AT: its time is when this build began. bin/kediri-id.js runs the build only while
//   nothing under src/ or migrations/ is newer.
// The old build goes first; the new one is made in dist.new/ and renamed to dist/ when whole, so
// a process that starts meanwhile, or after a failed build, finds none and runs the sources.
import { spawnSync } from 'node:child_process';
import { cpSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const next = `${root}dist.new`;
const began = new Date();

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.error('The build needs the development dependencies (TypeScript): npm ci, then npm prune --omit=dev to drop them.');
  process.exit(1);
}
rmSync(next, { recursive: true, force: true });
rmSync(`${root}dist`, { recursive: true, force: true });
const compiled = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', next], { cwd: root, stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);
cpSync(`${root}src`, next, { recursive: true, filter: (path) => !path.endsWith('.ts') });

const { PGLITE_TEMPLATE } = await import(`${next}/db/open.js`);
const { openPgliteDb } = await import(`${next}/db/pglite.js`);
const { migrate } = await import(`${next}/db/migrate.js`);
const template = await openPgliteDb(PGLITE_TEMPLATE);
await migrate(template);
await template.close();

writeFileSync(`${next}/BUILT_AT`, `${began.toISOString()}\n`);
utimesSync(`${next}/BUILT_AT`, began, began);
renameSync(next, `${root}dist`);
