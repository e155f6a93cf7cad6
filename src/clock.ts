/**
 * The time in application code that must not read the system clock directly (TOTP time steps), so
 * that a test can move it instead of waiting. Times the database keeps (now() in SQL) stay there.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch, as Date.now(). */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
