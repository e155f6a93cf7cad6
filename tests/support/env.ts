/**
 * What every test server and test process runs with: NODE_ENV=test, and argon2id at parameters far
 * below the production minimum so that hashing a password costs next to nothing. The tests that
 * measure hashing (password-hashing.test.ts) give their own parameters.
 */
export const TEST_ENV: Record<string, string> = { NODE_ENV: 'test', ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };
