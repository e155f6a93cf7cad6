import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/**
 * bin/kediri-id.js runs the build in dist/ only while nothing under src/ or migrations/ changed
 * since the build began, else the sources through tsx (so a developer's edit is never served
 * stale). Here it runs in a tree of its own whose dist/main.js and src/main.ts say which ran.
 */
describe('bin/kediri-id.js: the build or the sources', () => {
  let tree: string;
  /** When the build began (dist/BUILT_AT); every source is older unless a test makes it newer. */
  const builtAt = new Date('2026-01-01T12:00:00Z');
  const before = new Date(builtAt.getTime() - 60_000);
  const after = new Date(builtAt.getTime() + 60_000);

  function run(): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(tree, 'bin', 'kediri-id.js'), 'help'], { cwd: tree });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** Every file and folder of the tree back before the build; then the build as it was made. */
  async function reset(): Promise<void> {
    await rm(tree, { recursive: true, force: true });
    for (const dir of ['bin', 'dist', 'src/db', 'migrations']) await mkdir(join(tree, dir), { recursive: true });
    await copyFile(join(REPO, 'bin', 'kediri-id.js'), join(tree, 'bin', 'kediri-id.js'));
    await writeFile(join(tree, 'package.json'), '{ "type": "module" }\n');
    await symlink(join(REPO, 'node_modules'), join(tree, 'node_modules'));
    await writeFile(join(tree, 'dist', 'main.js'), "export async function main() { process.stdout.write('build'); return 0; }\n");
    await writeFile(join(tree, 'src', 'main.ts'), "export async function main(): Promise<number> { process.stdout.write('sources'); return 0; }\n");
    await writeFile(join(tree, 'src', 'db', 'open.ts'), 'export {};\n');
    await writeFile(join(tree, 'migrations', '001_foundation.sql'), 'select 1;\n');
    for (const path of ['src/main.ts', 'src/db/open.ts', 'src/db', 'src', 'migrations/001_foundation.sql', 'migrations']) {
      await utimes(join(tree, path), before, before);
    }
    await writeFile(join(tree, 'dist', 'BUILT_AT'), `${builtAt.toISOString()}\n`);
    await utimes(join(tree, 'dist', 'BUILT_AT'), builtAt, builtAt);
  }

  beforeAll(async () => {
    tree = await mkdtemp(join(tmpdir(), 'kediri-bin-'));
  });
  afterAll(() => rm(tree, { recursive: true, force: true }));

  test('the build, while every source is older than it', async () => {
    await reset();
    expect(await run()).toMatchObject({ code: 0, stdout: 'build', stderr: '' });
  });

  test.each([
    ['a source file edited', (t: string) => utimes(join(t, 'src/db/open.ts'), after, after)],
    ['a source file removed (its folder changed)', async (t: string) => {
      await unlink(join(t, 'src/db/open.ts'));
      await utimes(join(t, 'src/db'), after, after);
    }],
    ['a migration added', async (t: string) => {
      await writeFile(join(t, 'migrations', '002_next.sql'), 'select 2;\n');
      await utimes(join(t, 'migrations', '002_next.sql'), after, after);
    }],
    ['no build at all', (t: string) => rm(join(t, 'dist'), { recursive: true })],
  ])('the sources, through tsx: %s', async (_, change) => {
    await reset();
    await change(tree);
    expect(await run()).toMatchObject({ code: 0, stdout: 'sources', stderr: '' });
  });

  test('without src/ (the container image) the build, whatever the age of migrations/', async () => {
    await reset();
    await rm(join(tree, 'src'), { recursive: true });
    await utimes(join(tree, 'migrations'), after, after);
    expect(await run()).toMatchObject({ code: 0, stdout: 'build', stderr: '' });
  });

  test('a build older than the sources and no tsx to run them (development dependencies pruned): refused, with what to do', async () => {
    await reset();
    await unlink(join(tree, 'node_modules'));
    await utimes(join(tree, 'src/main.ts'), after, after);
    const refused = await run();
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/changed since the build in dist\/.*npm ci, or npm run build/);
  });
});
