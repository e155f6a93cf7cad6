// Jest loads its global setup outside its module system (no ts-jest, no .js-to-.ts mapping): tsx
// imports the TypeScript here.
import { tsImport } from 'tsx/esm/api';

/** Once per jest run: the migrated database every test file copies (createTestDb in db.ts). */
export default async function globalSetup() {
  const { createTemplate } = await tsImport('./db.ts', import.meta.url);
  globalThis.dropTestTemplate = await createTemplate();
}
