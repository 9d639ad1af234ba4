/**
 * `npm run build`: bundles each `functions/<name>.ts` into `dist/<name>/index.mjs` (the entry, handler `index.handler`)
 * plus the chunks it loads on demand (`chunk-*.mjs`: what only `import()` reaches, e.g. client-node for an intake
 * function that only enqueues), and packs that folder as `dist/<name>.zip`, the artifact serverless.yml deploys.
 * Prints the entry's size and the raw, gzip and zip size of the whole.
 *
 * The banner gives the ESM bundle a `require`: client-node's CommonJS dependencies require() Node builtins, which
 * esbuild's ESM output cannot do on its own ("Dynamic require of "stream" is not supported"). The import is aliased so
 * it cannot collide with a `createRequire` import inside the bundle.
 *
 * `@aws-sdk/*` stays external: the nodejs22.x runtime provides it, and only the admission function loads it (see
 * src/http/lambda.ts).
 *
 * client-node's generated API is left out (`withoutGeneratedApi`).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { build, type BuildOptions, type Plugin } from 'esbuild';

/** The exec wrapper's file name, in functions/ and at the root of every bundle (/var/task on Lambda). */
export const EXEC_WRAPPER = 'v8-flags';

/** What a bundle's `makeApiClient` throws: the generated API it would build on is not in the bundle. */
export const GENERATED_API_LEFT_OUT = 'client-node generated API is not bundled (daemonless sends raw JSON: src/k8s/transport.ts)';

/**
 * daemonless imports client-node's KubeConfig and request classes from their own modules (src/k8s/kubeconfig.ts,
 * transport.ts), and never its generated API: the transport sends raw JSON. But KubeConfig's module imports the generated
 * API's index for one method, `makeApiClient`, and that index loads every generated API class and model. This plugin
 * gives that one import a two-export stand-in whose exports throw `GENERATED_API_LEFT_OUT`. It took 0.48 MB of 1.48 MB
 * off the cluster chunk of the reconcile bundle, 9 MB of resident memory and 66 ms of its import (2026-12-01, node 22).
 */
export const withoutGeneratedApi: Plugin = {
  name: 'client-node-without-generated-api',
  setup(b) {
    b.onResolve({ filter: /^\.\/gen\/index\.js$/ }, (args) =>
      /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]config\.js$/.test(args.importer) ? { path: 'generated-api', namespace: 'daemonless-left-out' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'daemonless-left-out' }, () => ({
      contents: [
        `const leftOut = () => { throw new Error(${JSON.stringify(GENERATED_API_LEFT_OUT)}); };`,
        'export function createConfiguration() { leftOut(); }',
        'export class ServerConfiguration { constructor() { leftOut(); } }',
      ].join('\n'),
      loader: 'js',
    }));
  },
};

/** How a function is bundled; the memory test (test/http/memory.test.ts) bundles its probe the same way. */
export const functionBundleOptions = {
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  sourcemap: 'external',
  external: ['@aws-sdk/*'],
  plugins: [withoutGeneratedApi],
  banner: {
    js: "import { createRequire as __daemonlessCreateRequire } from 'module'; const require = __daemonlessCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
} satisfies BuildOptions;

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();

async function main(): Promise<void> {
  const root = join(import.meta.dirname, '..');
  const dist = join(root, 'dist');
  const functionsDir = join(root, 'functions');

  const names = readdirSync(functionsDir)
    .filter((file) => file.endsWith('.ts'))
    .map((file) => basename(file, '.ts'))
    .sort();

  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });

  const started = performance.now();
  // One build per function, split: what a function loads only with `import()` (the cluster side, for an intake
  // function that only enqueues: src/wiring.ts) lands in a chunk of its own that a cold start never reads or compiles.
  for (const name of names) {
    await build({
      ...functionBundleOptions,
      splitting: true,
      chunkNames: 'chunk-[hash]',
      entryPoints: { index: join(functionsDir, `${name}.ts`) },
      outdir: join(dist, name),
    });
  }
  const buildMs = performance.now() - started;

  const rows = names.map((name) => {
    const files = readdirSync(join(dist, name))
      .filter((file) => file.endsWith('.mjs'))
      .sort()
      .map((file) => ({ name: file, data: readFileSync(join(dist, name, file)) }));
    // The exec wrapper that gives the runtime daemonless's V8 flags (serverless.yml `AWS_LAMBDA_EXEC_WRAPPER`).
    const wrapper = { name: EXEC_WRAPPER, data: readFileSync(join(functionsDir, EXEC_WRAPPER)), mode: 0o755 };
    writeFileSync(join(dist, name, EXEC_WRAPPER), wrapper.data, { mode: wrapper.mode });
    const zip = zipFiles([...files, wrapper]);
    writeFileSync(join(dist, `${name}.zip`), zip);
    const entry = files.find((f) => f.name === 'index.mjs')?.data ?? Buffer.alloc(0);
    const raw = files.reduce((sum, f) => sum + f.data.length, 0);
    const gzip = files.reduce((sum, f) => sum + gzipSync(f.data, { level: 9 }).length, 0);
    return { name, entry: entry.length, raw, gzip, zip: zip.length };
  });

  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`.padStart(10);
  console.log(`built ${names.length} functions in ${Math.round(buildMs)} ms → dist/`);
  console.log(`${'function'.padEnd(14)}${'entry'.padStart(10)}${'raw'.padStart(10)}${'gzip'.padStart(10)}${'zip'.padStart(10)}`);
  for (const row of rows) console.log(`${row.name.padEnd(14)}${kb(row.entry)}${kb(row.raw)}${kb(row.gzip)}${kb(row.zip)}`);
}

/**
 * A minimal, reproducible zip (deflate, fixed 1980-01-01 timestamps, mode 0644 unless a file says otherwise): enough for a Lambda artifact without
 * adding a dependency.
 */
export function zipFiles(files: { name: string; data: Buffer; mode?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const dosTime = 0;
  const dosDate = (0 << 9) | (1 << 5) | 1;
  for (const file of files) {
    const name = Buffer.from(file.name, 'utf8');
    const compressed = deflateRawSync(file.data, { level: 9 });
    const crc = crc32(file.data);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // flags: UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(file.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, compressed);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, 2.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(dosTime, 12);
    central.writeUInt16LE(dosDate, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(file.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(0, 30); // extra
    central.writeUInt16LE(0, 32); // comment
    central.writeUInt16LE(0, 34); // disk
    central.writeUInt16LE(0, 36); // internal attributes
    central.writeUInt32LE(((0o100000 | (file.mode ?? 0o644)) << 16) >>> 0, 38); // regular file, rw-r--r-- unless told
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);

    offset += local.length + name.length + compressed.length;
  }
  const centralSize = centrals.reduce((sum, b) => sum + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0, 4);
  end.writeUInt16LE(0, 6);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  end.writeUInt16LE(0, 20);
  return Buffer.concat([...locals, ...centrals, end]);
}
