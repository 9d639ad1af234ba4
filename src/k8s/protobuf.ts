/**
 * Node and pod lists in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), decoded straight into
 * what the core reads of them: the projections of core/fields.ts, nothing else built.
 *
 * Why: a DaemonSet-wide pass lists every node and every pod of its DaemonSets. As JSON, the API server encodes each
 * whole item with Go's reflection-based encoder (the largest part of its CPU spent on our requests, measured), and the
 * function parses every field of it before keeping a few. In protobuf the API server's generated marshallers do the
 * encoding, and here every field not read is skipped by its length without being looked at: managed fields,
 * containers, volumes, the node's status.
 *
 * The wire format: a 4-byte magic `k8s\0`, then a `runtime.Unknown` whose `raw` holds the list message. Field numbers
 * are those of k8s.io/api/core/v1 and k8s.io/apimachinery/pkg/apis/meta/v1 `generated.proto`, which Kubernetes keeps
 * stable (a field's number never changes). Empty strings, false and zero times are what protobuf carries for fields
 * that JSON leaves out, so they are left out here too. Times become RFC 3339 to the second, as in JSON.
 */
import type { V1Node, V1NodeSelector, V1NodeSelectorRequirement, V1OwnerReference, V1Pod, V1PodCondition, V1Taint } from '@kubernetes/client-node';

export const PROTOBUF = 'application/vnd.kubernetes.protobuf';

/** One page of a list: its items (projected) and the continue token. */
export interface DecodedPage<T> {
  items: T[];
  metadata: { continue?: string; resourceVersion?: string };
}

/** A `Status` the API server answered instead (an error), as its JSON would read. */
export interface DecodedStatus {
  kind: 'Status';
  message?: string;
  reason?: string;
  code?: number;
}

export class ProtobufError extends Error {}

export function decodePodList(body: Uint8Array): DecodedPage<V1Pod> {
  return decodeList(envelope(body, 'PodList'), decodePod);
}

export function decodeNodeList(body: Uint8Array): DecodedPage<V1Node> {
  return decodeList(envelope(body, 'NodeList'), decodeNode);
}

/** The Status of an error answer in protobuf, or undefined when the body is not one. */
export function decodeStatus(body: Uint8Array): DecodedStatus | undefined {
  try {
    const r = envelope(body, 'Status');
    const status: DecodedStatus = { kind: 'Status' };
    while (r.more()) {
      const [field, wire] = r.key();
      if (field === 3 && wire === LEN) status.message = r.string();
      else if (field === 4 && wire === LEN) status.reason = r.string();
      else if (field === 6 && wire === VARINT) status.code = r.varint();
      else r.skip(wire);
    }
    return status;
  } catch {
    return undefined;
  }
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** A cursor over one message's bytes. */
class Reader {
  private readonly buf: Buffer;
  private pos: number;
  private readonly end: number;

  constructor(buf: Buffer, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  more(): boolean {
    return this.pos < this.end;
  }

  key(): [field: number, wire: number] {
    const k = this.varint();
    return [Math.floor(k / 8), k % 8];
  }

  /**
   * A varint. Up to seven bytes (49 bits) in plain arithmetic, which is exact; longer ones, such as a negative int64
   * (ten bytes, two's complement: the zero time's seconds), through BigInt.
   */
  varint(): number {
    const start = this.pos;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
      scale *= 128;
    }
    this.pos = start;
    let long = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.byte();
      long |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return Number(BigInt.asIntN(64, long));
    }
    throw new ProtobufError('a varint longer than ten bytes');
  }

  /** A length-delimited field's length: never negative (a 10-byte varint can be), which would move the reader back. */
  private length(): number {
    const length = this.varint();
    if (length < 0) throw new ProtobufError('a negative length');
    return length;
  }

  /** The bytes of a length-delimited field, as a reader of their own. */
  sub(): Reader {
    const length = this.length();
    const start = this.pos;
    this.pos += length;
    if (this.pos > this.end) throw new ProtobufError('a field runs past the end of its message');
    return new Reader(this.buf, start, start + length);
  }

  string(): string {
    const length = this.length();
    const start = this.pos;
    this.pos += length;
    if (this.pos > this.end) throw new ProtobufError('a string runs past the end of its message');
    return this.buf.toString('utf8', start, this.pos);
  }

  skip(wire: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === LEN) {
      // Not `this.pos += this.varint()`: that adds the length to the position from before the length was read.
      const length = this.length();
      this.pos += length;
    }
    else if (wire === I64) this.pos += 8;
    else if (wire === I32) this.pos += 4;
    else throw new ProtobufError(`wire type ${wire} is not used by Kubernetes' messages`);
    if (this.pos > this.end) throw new ProtobufError('a field runs past the end of its message');
  }

  private byte(): number {
    if (this.pos >= this.end) throw new ProtobufError('a varint runs past the end of its message');
    return this.buf[this.pos++] as number;
  }
}

/** The `raw` message inside the `k8s\0` + runtime.Unknown envelope, checked to be of `kind`. */
function envelope(body: Uint8Array, kind: string): Reader {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (buf.length < 4 || buf[0] !== 0x6b || buf[1] !== 0x38 || buf[2] !== 0x73 || buf[3] !== 0x00) {
    throw new ProtobufError('not a Kubernetes protobuf message (no k8s\\0 prefix)');
  }
  const r = new Reader(buf, 4, buf.length);
  let raw: Reader | undefined;
  let found = '';
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === LEN) {
      const typeMeta = r.sub();
      while (typeMeta.more()) {
        const [f, w] = typeMeta.key();
        if (f === 2 && w === LEN) found = typeMeta.string();
        else typeMeta.skip(w);
      }
    } else if (field === 2 && wire === LEN) raw = r.sub();
    else r.skip(wire);
  }
  if (found !== kind) throw new ProtobufError(`expected a ${kind}, got ${found || 'no kind'}`);
  return raw ?? new Reader(buf, 0, 0);
}

function decodeList<T>(r: Reader, item: (r: Reader) => T): DecodedPage<T> {
  const page: DecodedPage<T> = { items: [], metadata: {} };
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === LEN) {
      const meta = r.sub();
      while (meta.more()) {
        const [f, w] = meta.key();
        if (f === 2 && w === LEN) page.metadata.resourceVersion = meta.string();
        else if (f === 3 && w === LEN) setIf(page.metadata, 'continue', meta.string());
        else meta.skip(w);
      }
    } else if (field === 2 && wire === LEN) page.items.push(item(r.sub()));
    else r.skip(wire);
  }
  return page;
}

type Meta = NonNullable<V1Pod['metadata']>;

/** ObjectMeta: the fields core/fields.ts keeps (nodes keep a subset of the pods' ones). */
function decodeMeta(r: Reader): Meta {
  const m: Meta = {};
  while (r.more()) {
    const [field, wire] = r.key();
    if (wire !== LEN) {
      r.skip(wire);
      continue;
    }
    switch (field) {
      case 1:
        setIf(m, 'name', r.string());
        break;
      case 3:
        setIf(m, 'namespace', r.string());
        break;
      case 5:
        setIf(m, 'uid', r.string());
        break;
      case 8:
        setTime(m, 'creationTimestamp', r.sub());
        break;
      case 9:
        setTime(m, 'deletionTimestamp', r.sub());
        break;
      case 11: {
        const [key, value] = mapEntry(r.sub());
        (m.labels ??= {})[key] = value;
        break;
      }
      case 13:
        (m.ownerReferences ??= []).push(decodeOwnerReference(r.sub()));
        break;
      case 14:
        (m.finalizers ??= []).push(r.string());
        break;
      default:
        r.skip(wire);
    }
  }
  return m;
}

function mapEntry(r: Reader): [string, string] {
  let key = '';
  let value = '';
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === LEN) key = r.string();
    else if (field === 2 && wire === LEN) value = r.string();
    else r.skip(wire);
  }
  return [key, value];
}

function decodeOwnerReference(r: Reader): V1OwnerReference {
  // apiVersion, kind, name and uid are always in the JSON (no omitempty); the two bools only when set.
  const ref: V1OwnerReference = { apiVersion: '', kind: '', name: '', uid: '' };
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 5 && wire === LEN) ref.apiVersion = r.string();
    else if (field === 1 && wire === LEN) ref.kind = r.string();
    else if (field === 3 && wire === LEN) ref.name = r.string();
    else if (field === 4 && wire === LEN) ref.uid = r.string();
    else if (field === 6 && wire === VARINT) ref.controller = r.varint() !== 0;
    else if (field === 7 && wire === VARINT) ref.blockOwnerDeletion = r.varint() !== 0;
    else r.skip(wire);
  }
  return ref;
}

/** metav1.Time (seconds, nanos) as JSON writes it: RFC 3339 in UTC, to the second; the zero time is left out. */
const ZERO_TIME_SECONDS = -62_135_596_800;
function setTime<T extends object>(target: T, key: keyof T & string, r: Reader): void {
  const seconds = timeSeconds(r);
  if (seconds !== undefined) (target as Record<string, unknown>)[key] = rfc3339(seconds);
}

/**
 * A metav1.Time's seconds since the epoch (field 1); undefined for the zero time. Go writes nothing for a zero time, and
 * a field that is no pointer (a condition's `lastTransitionTime`) then goes out as an empty message, which Go reads back
 * as the zero time (JSON: null), not as the epoch.
 */
function timeSeconds(r: Reader): number | undefined {
  let seconds: number | undefined;
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === VARINT) seconds = r.varint();
    else r.skip(wire);
  }
  return seconds === ZERO_TIME_SECONDS ? undefined : seconds;
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

/**
 * Seconds since the epoch as `YYYY-MM-DDThh:mm:ssZ`, what `Date#toISOString` gives without the milliseconds, by
 * integer arithmetic (days to civil date as in H. Hinnant's `civil_from_days`): a list of 1,000 pods carries 6,000
 * timestamps, and through `Date` their formatting was the largest single cost of decoding it. Years outside
 * 1000–9999 (never a real object's) go through `Date`.
 */
export function rfc3339(seconds: number): string {
  const days = Math.floor(seconds / 86_400);
  const ofDay = seconds - days * 86_400;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const ofEra = z - era * 146_097;
  const yearOfEra = Math.floor((ofEra - Math.floor(ofEra / 1_460) + Math.floor(ofEra / 36_524) - Math.floor(ofEra / 146_096)) / 365);
  const dayOfYear = ofEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 1000 || year > 9999) return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `${year}-${pad2(month)}-${pad2(day)}T${pad2(Math.floor(ofDay / 3_600))}:${pad2(Math.floor((ofDay % 3_600) / 60))}:${pad2(ofDay % 60)}Z`;
}

function setIf<T extends object>(target: T, key: keyof T & string, value: string): void {
  if (value !== '') (target as Record<string, unknown>)[key] = value;
}

function decodePod(r: Reader): V1Pod {
  const pod: V1Pod = { metadata: {}, spec: { containers: [] }, status: {} };
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === LEN) pod.metadata = decodeMeta(r.sub());
    else if (field === 2 && wire === LEN) decodePodSpec(r.sub(), pod.spec!);
    else if (field === 3 && wire === LEN) decodePodStatus(r.sub(), pod.status!);
    else r.skip(wire);
  }
  return pod;
}

function decodePodSpec(r: Reader, spec: NonNullable<V1Pod['spec']>): void {
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 10 && wire === LEN) setIf(spec, 'nodeName', r.string());
    else if (field === 18 && wire === LEN) {
      const required = requiredNodeAffinity(r.sub());
      if (required) spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required } };
    } else r.skip(wire);
  }
}

/** Affinity → nodeAffinity (1) → requiredDuringSchedulingIgnoredDuringExecution (1). */
function requiredNodeAffinity(affinity: Reader): V1NodeSelector | undefined {
  let required: V1NodeSelector | undefined;
  while (affinity.more()) {
    const [field, wire] = affinity.key();
    if (field !== 1 || wire !== LEN) {
      affinity.skip(wire);
      continue;
    }
    const nodeAffinity = affinity.sub();
    while (nodeAffinity.more()) {
      const [f, w] = nodeAffinity.key();
      if (f === 1 && w === LEN) required = decodeNodeSelector(nodeAffinity.sub());
      else nodeAffinity.skip(w);
    }
  }
  return required;
}

function decodeNodeSelector(r: Reader): V1NodeSelector {
  const selector: V1NodeSelector = { nodeSelectorTerms: [] };
  while (r.more()) {
    const [field, wire] = r.key();
    if (field !== 1 || wire !== LEN) {
      r.skip(wire);
      continue;
    }
    const term = r.sub();
    const decoded: V1NodeSelector['nodeSelectorTerms'][number] = {};
    while (term.more()) {
      const [f, w] = term.key();
      if (f === 1 && w === LEN) (decoded.matchExpressions ??= []).push(decodeRequirement(term.sub()));
      else if (f === 2 && w === LEN) (decoded.matchFields ??= []).push(decodeRequirement(term.sub()));
      else term.skip(w);
    }
    selector.nodeSelectorTerms.push(decoded);
  }
  return selector;
}

function decodeRequirement(r: Reader): V1NodeSelectorRequirement {
  const requirement: V1NodeSelectorRequirement = { key: '', operator: '' };
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === LEN) requirement.key = r.string();
    else if (field === 2 && wire === LEN) requirement.operator = r.string();
    else if (field === 3 && wire === LEN) (requirement.values ??= []).push(r.string());
    else r.skip(wire);
  }
  return requirement;
}

/** phase (1), and of the conditions (2) the Ready one. */
function decodePodStatus(r: Reader, status: NonNullable<V1Pod['status']>): void {
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === LEN) setIf(status, 'phase', r.string());
    else if (field === 2 && wire === LEN) {
      const condition = decodeCondition(r.sub());
      if (condition.type === 'Ready') (status.conditions ??= []).push(condition);
    } else r.skip(wire);
  }
}

/** A condition; its lastTransitionTime is formatted only for the Ready one, the only one kept (`decodePodStatus`). */
function decodeCondition(r: Reader): V1PodCondition {
  const condition: V1PodCondition = { type: '', status: '' };
  let transition: number | undefined;
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === LEN) condition.type = r.string();
    else if (field === 2 && wire === LEN) condition.status = r.string();
    else if (field === 4 && wire === LEN) transition = timeSeconds(r.sub());
    else r.skip(wire);
  }
  if (transition !== undefined && condition.type === 'Ready') condition.lastTransitionTime = rfc3339(transition) as unknown as Date;
  return condition;
}

function decodeNode(r: Reader): V1Node {
  const node: V1Node = { metadata: {}, spec: {} };
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === LEN) {
      const { name, uid, labels, creationTimestamp, deletionTimestamp } = decodeMeta(r.sub());
      node.metadata = { ...(name ? { name } : {}), ...(uid ? { uid } : {}), ...(labels ? { labels } : {}), ...(creationTimestamp ? { creationTimestamp } : {}), ...(deletionTimestamp ? { deletionTimestamp } : {}) };
    } else if (field === 2 && wire === LEN) decodeNodeSpec(r.sub(), node.spec!);
    else r.skip(wire);
  }
  return node;
}

/** unschedulable (4) when true, taints (5). */
function decodeNodeSpec(r: Reader, spec: NonNullable<V1Node['spec']>): void {
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 4 && wire === VARINT) {
      if (r.varint() !== 0) spec.unschedulable = true;
    } else if (field === 5 && wire === LEN) (spec.taints ??= []).push(decodeTaint(r.sub()));
    else r.skip(wire);
  }
}

function decodeTaint(r: Reader): V1Taint {
  const taint: V1Taint = { key: '', effect: '' };
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === LEN) taint.key = r.string();
    else if (field === 2 && wire === LEN) setIf(taint, 'value', r.string());
    else if (field === 3 && wire === LEN) taint.effect = r.string();
    else if (field === 4 && wire === LEN) setTime(taint, 'timeAdded', r.sub());
    else r.skip(wire);
  }
  return taint;
}
