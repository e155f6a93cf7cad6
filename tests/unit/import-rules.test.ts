/**
 * Dependencies point one way (docs/architecture.md, "Import rules"). Every import of every .ts file
 * under src/ (static, `import type`, `export ... from`, dynamic `import()`) is read and checked
 * against this table: each file belongs to one layer, and a layer imports only the layers it
 * lists. Besides, the graph between folders (a top-level file counts as a folder of its own) has
 * no cycle. A new top-level file must be given its layer here.
 */
import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

type Layer = 'base' | 'db' | 'domain' | 'web' | 'root';

// prettier-ignore
const LAYERS: Record<Layer, { files: string[]; mayImport: Layer[] }> = {
  // The environment, plain error types, logging, the translator and the clock.
  base:   { files: ['config.ts', 'errors.ts', 'log.ts', 'i18n.ts', 'clock.ts'],
            mayImport: ['base'] },
  // The Db interface, its two drivers and the migrations.
  db:     { files: ['db/'],
            mayImport: ['base', 'db'] },
  // What Kediri ID does, with no page or HTTP route in it.
  domain: { files: ['identity/', 'clients/', 'audit/', 'email/', 'messaging/', 'oidc/', 'federation/',
                    'secrets.ts', 'ids.ts', 'metrics.ts', 'readiness.ts', 'backup.ts', 'doctor.ts', 'retention.ts'],
            mayImport: ['base', 'db', 'domain'] },
  // The Koa app, its middleware, pages and routes.
  web:    { files: ['web/'],
            mayImport: ['base', 'db', 'domain', 'web'] },
  // Composition roots: they build the parts and wire them together.
  root:   { files: ['services.ts', 'instance.ts', 'main.ts', 'operator.ts', 'operator-socket.ts', 'workers.ts'],
            mayImport: ['base', 'db', 'domain', 'web', 'root'] },
};

/** The one exception: the web app is built from the services and takes their type (services.ts), nothing else. */
const TYPE_ONLY_EXCEPTIONS: Array<{ from: Layer; to: string }> = [{ from: 'web', to: 'services.ts' }];

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

interface Import {
  /** The imported file, relative to src/ (e.g. "db/db.ts"). */
  target: string;
  typeOnly: boolean;
}

/** The relative imports of one source text, resolved to files under src/ (packages are left out). */
function importsOf(file: string, text: string): Import[] {
  const found: Array<{ specifier: string; typeOnly: boolean }> = [];
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined;
      const allTypes = !!clause && !clause.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly);
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: !!clause?.isTypeOnly || allTypes });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      // A computed specifier cannot be checked: refuse it rather than let it pass unseen.
      found.push({ specifier: arg && ts.isStringLiteralLike(arg) ? arg.text : '<computed>', typeOnly: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ specifier: node.argument.literal.text, typeOnly: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS));
  return found.flatMap(({ specifier, typeOnly }) => {
    if (specifier === '<computed>') return [{ target: '<computed import()>', typeOnly }];
    if (!specifier.startsWith('.')) return [];
    const target = relative(SRC, join(SRC, dirname(file), specifier)).replace(/\.js$/, '.ts');
    return target.startsWith('..') ? [] : [{ target, typeOnly }];
  });
}

/** The layer of a file under src/, or undefined for one the table does not place. */
function layerOf(file: string): Layer | undefined {
  const top = file.includes('/') ? `${file.split('/')[0]}/` : file;
  return (Object.keys(LAYERS) as Layer[]).find((layer) => LAYERS[layer].files.includes(top));
}

/** The folder a file counts in for cycles: its top-level folder, or the top-level file itself. */
const unitOf = (file: string) => (file.includes('/') ? `${file.split('/')[0]}/` : file);

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

/** Each broken rule, one line per import. */
function layerViolations(graph: Map<string, Import[]>): string[] {
  const problems: string[] = [];
  for (const [file, imports] of graph) {
    const from = layerOf(file);
    if (!from) {
      problems.push(`src/${file} has no layer: add it to LAYERS in tests/unit/import-rules.test.ts`);
      continue;
    }
    for (const { target, typeOnly } of imports) {
      const to = layerOf(target);
      if (to && LAYERS[from].mayImport.includes(to)) continue;
      if (typeOnly && TYPE_ONLY_EXCEPTIONS.some((e) => e.from === from && e.to === target)) continue;
      const allowed = LAYERS[from].mayImport.join(', ');
      problems.push(`src/${file} (${from}) imports src/${target}${to ? ` (${to})` : ''}: ${from} may import only ${allowed}`);
    }
  }
  return problems;
}

/** Each cycle between folders (a strongly connected set of more than one), with the imports that make it. */
function folderCycles(graph: Map<string, Import[]>): string[] {
  const edges = new Map<string, Map<string, string[]>>();
  for (const [file, imports] of graph) {
    for (const { target } of imports) {
      const [a, b] = [unitOf(file), unitOf(target)];
      if (a === b || !graph.has(target)) continue;
      const out = edges.get(a) ?? new Map<string, string[]>();
      edges.set(a, out);
      out.set(b, [...(out.get(b) ?? []), `src/${file} imports src/${target}`]);
    }
  }
  // Tarjan's strongly connected components.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const components: string[][] = [];
  const connect = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const unit of [...graph.keys()].map(unitOf)) if (!index.has(unit)) connect(unit);
  return components.map((units) => {
    const path = shortestCycle(units, edges);
    const hops = path.slice(1).map((to, i) => `${path[i]} -> ${to}:\n      ${edges.get(path[i]!)!.get(to)!.join('\n      ')}`);
    return `cycle ${path.join(' -> ')} (among ${units.join(', ')}):\n    ${hops.join('\n    ')}`;
  });
}

/** The shortest cycle through the units of one strongly connected set, as a path that ends where it starts. */
function shortestCycle(units: string[], edges: Map<string, Map<string, string[]>>): string[] {
  let best: string[] | undefined;
  for (const start of units) {
    // Breadth first from `start` until an edge leads back to it.
    const previous = new Map<string, string>();
    const queue = [start];
    while (queue.length > 0) {
      const unit = queue.shift()!;
      const next = [...(edges.get(unit)?.keys() ?? [])].filter((w) => units.includes(w));
      if (next.includes(start)) {
        const path = [start];
        for (let at = unit; at !== start; at = previous.get(at)!) path.splice(1, 0, at);
        path.push(start);
        if (!best || path.length < best.length) best = path;
        break;
      }
      for (const w of next) {
        if (w === start || previous.has(w)) continue;
        previous.set(w, unit);
        queue.push(w);
      }
    }
  }
  return best!;
}

function importGraph(): Map<string, Import[]> {
  return new Map(sourceFiles().map((file) => [file, importsOf(file, readFileSync(join(SRC, file), 'utf8'))]));
}

describe('import rules', () => {
  const graph = importGraph();

  test('every import is read: static, type-only, re-exports and dynamic', () => {
    const text = [
      "import { a } from './config.js';",
      "import type { B } from '../db/db.js';",
      "import { type C } from './errors.js';",
      "export { d } from './log.js';",
      "const e = await import('./i18n.js');",
      "type F = import('../web/render.js').G;",
      "import pino from 'pino';",
    ].join('\n');
    expect(importsOf('oidc/x.ts', text)).toEqual([
      { target: 'oidc/config.ts', typeOnly: false },
      { target: 'db/db.ts', typeOnly: true },
      { target: 'oidc/errors.ts', typeOnly: true },
      { target: 'oidc/log.ts', typeOnly: false },
      { target: 'oidc/i18n.ts', typeOnly: false },
      { target: 'web/render.ts', typeOnly: true },
    ]);
  });

  test('the checks see a broken rule and a cycle', () => {
    const fake = new Map<string, Import[]>([
      ['db/db.ts', [{ target: 'web/render.ts', typeOnly: true }]],
      ['web/render.ts', [{ target: 'db/db.ts', typeOnly: false }]],
      ['web/app.ts', [{ target: 'services.ts', typeOnly: true }, { target: 'instance.ts', typeOnly: true }]],
      ['web/routes.ts', [{ target: 'services.ts', typeOnly: false }]],
      ['services.ts', []],
      ['instance.ts', []],
      ['new-helper.ts', []],
    ]);
    expect(layerViolations(fake)).toEqual([
      'src/db/db.ts (db) imports src/web/render.ts (web): db may import only base, db',
      'src/web/app.ts (web) imports src/instance.ts (root): web may import only base, db, domain, web',
      'src/web/routes.ts (web) imports src/services.ts (root): web may import only base, db, domain, web',
      'src/new-helper.ts has no layer: add it to LAYERS in tests/unit/import-rules.test.ts',
    ]);
    expect(folderCycles(fake)).toEqual([
      'cycle db/ -> web/ -> db/ (among db/, web/):\n    db/ -> web/:\n      src/db/db.ts imports src/web/render.ts\n' +
        '    web/ -> db/:\n      src/web/render.ts imports src/db/db.ts',
    ]);
  });

  test('each layer imports only the layers below it', () => {
    expect(graph.size).toBeGreaterThan(50);
    const problems = layerViolations(graph);
    if (problems.length > 0) throw new Error(`imports that break the rules (docs/architecture.md):\n  ${problems.join('\n  ')}`);
  });

  test('the folders import each other without a cycle', () => {
    expect(new Set([...graph.keys()].map(unitOf)).size).toBeGreaterThan(10);
    const cycles = folderCycles(graph);
    if (cycles.length > 0) throw new Error(`import cycles between folders (docs/architecture.md):\n  ${cycles.join('\n  ')}`);
  });
});
