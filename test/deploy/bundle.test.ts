/**
 * The function bundles leave client-node's generated API out (scripts/build.ts `withoutGeneratedApi`): what they keep
 * of client-node still loads a kubeconfig and authenticates requests, and the one method that needed the generated API
 * fails with a message that says why.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { functionBundleOptions, GENERATED_API_LEFT_OUT } from '../../scripts/build.ts';

const dir = mkdtempSync(join(tmpdir(), 'daemonless-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const entry = join(import.meta.dirname, 'bundle', 'entry.ts');

async function bundle(name: string, withPlugins: boolean): Promise<{ file: string; inputs: string[] }> {
  const options = { ...functionBundleOptions, sourcemap: false, metafile: true, entryPoints: { [name]: entry }, outdir: dir };
  const result = await build(withPlugins ? options : { ...options, plugins: [] });
  const metafile = result.metafile as Metafile;
  return { file: join(dir, `${name}.mjs`), inputs: Object.keys(metafile.inputs) };
}

const generated = (inputs: string[]) => inputs.filter((i) => /client-node\/dist\/gen\/(models|apis)\//.test(i));

describe('function bundles and client-node', () => {
  it('leave every generated model and API out, and still authenticate a request from a kubeconfig', async () => {
    const { file, inputs } = await bundle('with', true);
    expect(generated(inputs)).toEqual([]);
    const probe = (await import(pathToFileURL(file).href)) as typeof import('./bundle/entry.ts');
    expect(await probe.authorization('s3cret')).toBe('Bearer s3cret');
    expect(() => probe.makeApiClient()).toThrow(GENERATED_API_LEFT_OUT);
  });

  it('would carry hundreds of generated modules without the plugin (what the plugin is for)', async () => {
    const { inputs } = await bundle('without', false);
    expect(generated(inputs).length).toBeGreaterThan(300);
  });
});
