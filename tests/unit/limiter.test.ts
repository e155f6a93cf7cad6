import { describe, expect, test } from '@jest/globals';
import { createLimiter } from '../../src/identity/passwords.js';

describe('createLimiter (argon2 hashes per process)', () => {
  test('runs at most the limit at once, all of them in the end, in the order they came; a failure frees its place', async () => {
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const run = createLimiter(2);
    const task = async (n: number) => {
      started.push(n);
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      if (n % 3 === 0) throw new Error(`failed ${n}`);
      return n * 10;
    };
    const results = await Promise.allSettled(Array.from({ length: 9 }, (_, n) => run(() => task(n))));
    expect(most).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      'failed 0', 10, 20, 'failed 3', 40, 50, 'failed 6', 70, 80,
    ]);
  });
});
