#!/usr/bin/env node
// The operator CLI. It runs the build in dist/ (made by `npm install`, or `npm run build`) while
// nothing under src/ or migrations/ has changed since that build began; otherwise the sources
// themselves, through tsx: slower to start, never stale. Without src/ (the container image) the
// build is all there is.
import { existsSync, readdirSync, statSync } from 'node:fs';

const builtAt = new URL('../dist/BUILT_AT', import.meta.url);
const src = new URL('../src/', import.meta.url);
const migrations = new URL('../migrations/', import.meta.url);

/** The newest modification time under dir (a folder's own changes when a file is added, renamed or removed). */
function newestChange(dir) {
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
    newest = Math.max(newest, entry.isDirectory() ? newestChange(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const buildIsCurrent =
  existsSync(builtAt) && (!existsSync(src) || Math.max(newestChange(src), newestChange(migrations)) <= statSync(builtAt).mtimeMs);
let main;
if (buildIsCurrent) {
  ({ main } = await import('../dist/main.js'));
} else {
  const { register } = await import('tsx/esm/api').catch(() => {
    process.stderr.write('kediri-id: src/ or migrations/ changed since the build in dist/, and tsx (a development dependency) is not there to run the sources: build again (npm ci, or npm run build)\n');
    process.exit(2);
  });
  register();
  ({ main } = await import('../src/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
