export interface FuzzReport {
  cases: number;
  outcomes: Record<string, number>;
  handlerCallsOnRefusal: number;
  crashes: number;
  failures: string[];
  peakHeapMB: number;
  durationSeconds: number;
}
export async function runFuzz(_options: { cases: number; seed: number; log: (line: string) => void }): Promise<FuzzReport> {
  throw new Error('not yet');
}
