import type { Clock } from '../../src/clock.js';

let offset = 0;

/**
 * The clock of this test file's in-process servers (startTestServer): the system clock, moved on
 * by what the test skipped with advance(). Each test file has its own (jest loads modules per file).
 */
export const testClock: Clock & { advance(ms: number): void } = {
  now: () => Date.now() + offset,
  advance(ms: number) {
    offset += ms;
  },
};
