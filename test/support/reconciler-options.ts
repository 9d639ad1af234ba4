/** The reconciler options the shell's unit tests run with (test/reconcile/): small limits, so that tests reach them. */
import { defaultPlanOptions } from '../../src/core/model.ts';
import type { ReconcilerOptions } from '../../src/reconcile/index.ts';

export const shellTestOptions: ReconcilerOptions = {
  plan: defaultPlanOptions,
  writeConcurrency: 4,
  timeBudgetMs: 1_000,
  wideReadThreshold: 3,
  eventsPerReason: 2,
  kinds: ['DaemonSet'],
  staleViewMs: 2_000,
};
