/** After the jest run: the template of global-setup.js goes. */
export default async function globalTeardown() {
  await globalThis.dropTestTemplate?.();
}
