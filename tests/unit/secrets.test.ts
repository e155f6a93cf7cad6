import { describe, expect, test } from '@jest/globals';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { createSealer, newSecret, resolveEncryptionKey } from '../../src/secrets.js';

describe('sealing at rest', () => {
  const sealer = createSealer(newSecret());

  test('a sealed value opens to the plaintext, and never contains it', () => {
    const sealed = sealer.seal('nik', '3571014101900001');
    expect(sealed).not.toContain('3571014101900001');
    expect(sealer.open('nik', sealed)).toBe('3571014101900001');
    expect(sealer.seal('nik', '3571014101900001')).not.toBe(sealed);
  });

  test('a tampered value, another purpose or another key does not open', () => {
    const sealed = sealer.seal('nik', '3571014101900001');
    const [v, iv, body] = sealed.split('.');
    const flipped = Buffer.from(body!, 'base64url');
    flipped[0]! ^= 1;
    expect(() => sealer.open('nik', `${v}.${iv}.${flipped.toString('base64url')}`)).toThrow();
    expect(() => sealer.open('client-secret', sealed)).toThrow();
    expect(() => createSealer(newSecret()).open('nik', sealed)).toThrow();
  });

  test('the keyed hash is stable per key and purpose, and differs across them', () => {
    expect(sealer.keyedHash('nik', 'a')).toBe(sealer.keyedHash('nik', 'a'));
    expect(sealer.keyedHash('nik', 'a')).not.toBe(sealer.keyedHash('pairwise-subject', 'a'));
    expect(createSealer(newSecret()).keyedHash('nik', 'a')).not.toBe(sealer.keyedHash('nik', 'a'));
  });
});

describe('the embedded default keeps a generated key in DATA_DIR', () => {
  test('generated once, owner-only, and the same on the next start', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'kediri-secrets-'));
    try {
      const config = loadConfig({ DATA_DIR: dataDir });
      // Starts at the same moment all end with one key, each reading a whole file (never a half-written one).
      const [first, ...concurrent] = await Promise.all(Array.from({ length: 20 }, () => resolveEncryptionKey(config)));
      expect(new Set(concurrent)).toEqual(new Set([first]));
      expect(await readdir(dataDir)).toEqual(['secrets.json']);
      expect(await resolveEncryptionKey(config)).toBe(first);
      const file = join(dataDir, 'secrets.json');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ encryptionKey: first });
      expect(await resolveEncryptionKey(loadConfig({ DATA_DIR: dataDir, ENCRYPTION_KEY: newSecret() }))).not.toBe(first);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
