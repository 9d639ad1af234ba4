/**
 * Reads a deployment artifact (.zip: stored or deflated entries, as `npm run build` and common zip tools write them)
 * into a folder, as Lambda unpacks a function's code into /var/task. No dependency: central directory + zlib.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { inflateRawSync } from 'node:zlib';

export class ZipError extends Error {
  override name = 'ZipError';
}

export interface ZipEntry {
  name: string;
  data: Buffer;
  /** The Unix permission bits the zip records (external attributes of a Unix-made entry), if any. */
  mode?: number;
}

export function readZip(zip: Buffer): ZipEntry[] {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new ZipError('not a zip file (no end of central directory)');
  const count = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i += 1) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new ZipError(`bad central directory entry ${i}`);
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const madeBy = zip.readUInt16LE(offset + 4) >> 8;
    const unixMode = madeBy === 3 ? (zip.readUInt32LE(offset + 38) >>> 16) & 0o777 : 0;
    const localOffset = zip.readUInt32LE(offset + 42);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    offset += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith('/')) continue;
    const localNameLength = zip.readUInt16LE(localOffset + 26);
    const localExtraLength = zip.readUInt16LE(localOffset + 28);
    const start = localOffset + 30 + localNameLength + localExtraLength;
    const raw = zip.subarray(start, start + compressedSize);
    const mode = unixMode ? { mode: unixMode } : {};
    if (method === 0) entries.push({ name, data: Buffer.from(raw), ...mode });
    else if (method === 8) entries.push({ name, data: inflateRawSync(raw), ...mode });
    else throw new ZipError(`${name}: compression method ${method} not supported`);
  }
  return entries;
}

export function extractZip(zip: Buffer, dir: string): string[] {
  const names: string[] = [];
  for (const entry of readZip(zip)) {
    const target = normalize(join(dir, entry.name));
    if (!target.startsWith(normalize(dir) + sep)) throw new ZipError(`${entry.name}: path leaves the target folder`);
    mkdirSync(dirname(target), { recursive: true });
    // Lambda keeps the recorded mode: an executable (an exec wrapper) stays executable.
    writeFileSync(target, entry.data, entry.mode === undefined ? {} : { mode: entry.mode });
    if (entry.mode !== undefined) chmodSync(target, entry.mode);
    names.push(entry.name);
  }
  return names;
}
