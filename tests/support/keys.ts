import { expect } from '@jest/globals';
import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until just after this moment. */
export const sleepUntil = (at: Date | string) => sleep(Math.max(0, new Date(at).getTime() - Date.now() + 100));

export const kidOf = (jwt: string) => decodeProtectedHeader(jwt).kid;

export async function jwks(issuer: string): Promise<JSONWebKeySet> {
  return (await (await fetch(`${issuer}/jwks`)).json()) as JSONWebKeySet;
}

/** Polls the JWKS until it lists exactly these kids (a process reads the schedule every few seconds). */
export async function untilPublished(issuer: string, kids: string[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  const want = [...kids].sort();
  for (;;) {
    const published = (await jwks(issuer)).keys.map((key) => key.kid!).sort();
    if (JSON.stringify(published) === JSON.stringify(want)) return;
    if (Date.now() > deadline) expect(published).toEqual(want);
    await sleep(250);
  }
}
