/**
 * resourceVersions compared (KEP-5504: those of one resource are integers that grow with every write, guaranteed since
 * Kubernetes 1.35; they have always been etcd revisions). Anything else (missing, not a decimal integer) compares as
 * unknown, and the caller takes the cautious way: reads again, runs the pass.
 */

const DECIMAL = /^(0|[1-9][0-9]{0,38})$/;

/**
 * Whether a list read at resourceVersion `later` saw every write that one read at `earlier` saw (or a write stored at
 * `earlier`). False when either is missing or not a decimal integer.
 */
export function readNoEarlier(later: string | undefined, earlier: string | undefined): boolean {
  if (later === undefined || earlier === undefined || !DECIMAL.test(later) || !DECIMAL.test(earlier)) return false;
  return BigInt(later) >= BigInt(earlier);
}

/** The later of two resourceVersions; undefined when either is missing or they do not compare. */
export function laterVersion(a: string | undefined, b: string | undefined): string | undefined {
  if (readNoEarlier(a, b)) return a;
  if (readNoEarlier(b, a)) return b;
  return undefined;
}
