/**
 * The trials' event delivery: instead of the API server's audit webhook (off in trials), watches on nodes, pods and
 * DaemonSets whose events are re-delivered to the functions as watch-event JSON (`POST /events/watch`, NDJSON), the
 * way a webhook or a queue would deliver them at worst — per a seeded plan:
 *
 *  - dropped (share `dropRate`: item 2, loss; the resync must heal it),
 *  - duplicated (share `duplicateRate`, 2..`maxCopies` copies, each with its own delay),
 *  - delayed (0..`maxDelayMs` each) and so reordered, batched (1..`maxBatch` events per request, shuffled),
 *  - sent concurrently by `senders` independent senders,
 *  - redelivered after a 5xx or a connection failure (as a webhook backend or SQS retries), up to `maxAttempts`.
 *
 * Counters say what was done (events seen, dropped, copies, requests, answers by status, retries, given up).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { CoreV1Api } from '@kubernetes/client-node';
import type { DaemonSets } from '../daemonsets.ts';
import { startListWatch, type ListWatch } from '../simulator/list-watch.ts';
import { silentLogger } from '../simulator/log.ts';
import { createRng, type Rng } from './rng.ts';

export interface DeliveryPlan {
  dropRate: number;
  duplicateRate: number;
  maxCopies: number;
  maxDelayMs: number;
  maxBatch: number;
  senders: number;
  maxAttempts: number;
}

export const defaultPlan: DeliveryPlan = { dropRate: 0, duplicateRate: 0.3, maxCopies: 3, maxDelayMs: 300, maxBatch: 4, senders: 3, maxAttempts: 8 };

/** A seeded variation of the plan for one trial: how hard this trial's delivery is. */
export function drawPlan(rng: Rng, base: Partial<DeliveryPlan> = {}): DeliveryPlan {
  return {
    dropRate: base.dropRate ?? 0,
    duplicateRate: base.duplicateRate ?? rng.pick([0.1, 0.3, 0.6]),
    maxCopies: base.maxCopies ?? rng.int(2, 4),
    maxDelayMs: base.maxDelayMs ?? rng.pick([0, 100, 300, 800]),
    maxBatch: base.maxBatch ?? rng.int(1, 6),
    senders: base.senders ?? rng.int(1, 6),
    maxAttempts: base.maxAttempts ?? 8,
  };
}

export interface DeliveryCounters {
  /** Watch events seen. */
  events: number;
  dropped: number;
  /** Extra copies sent beyond the first (duplicates). */
  duplicates: number;
  /** HTTP requests made (each a batch), and their answers by status ('error' for a failed connection). */
  requests: number;
  answers: Record<string, number>;
  /** Requests sent again after a 5xx or connection failure. */
  retries: number;
  /** Batches given up after maxAttempts (their events are lost, like drops: left to the resync). */
  givenUp: number;
  /** 4xx answers to watch events the API server produced: the functions refused real input (a bug). */
  refused: number;
  maxInFlight: number;
}

export interface DeliveryOptions {
  kc: KubeConfig;
  /** Base URL of the functions, e.g. http://127.0.0.1:8787 */
  functionsUrl: string;
  token: string;
  /** The label naming an object's trial (its plan). */
  labelKey: string;
  /** The kind of DaemonSet the trials create (the cluster mode's): its events are delivered. */
  daemonSets: DaemonSets;
  log?: (line: string) => void;
}

interface Item {
  due: number;
  line: string;
  maxBatch: number;
  maxAttempts: number;
}

export class Delivery {
  private readonly lastDrops = new Map<string, number>();
  readonly counters: DeliveryCounters = { events: 0, dropped: 0, duplicates: 0, requests: 0, answers: {}, retries: 0, givenUp: 0, refused: 0, maxInFlight: 0 };
  /** Per trial (by the trial label of the object): its plan and its own random stream. */
  private readonly plans = new Map<string, { plan: DeliveryPlan; rng: Rng }>();
  private fallback = { plan: defaultPlan, rng: createRng(0) };
  private senderCount = defaultPlan.senders;
  private queue: Item[] = [];
  private inFlight = 0;
  private senders: Promise<void>[] = [];
  private running = true;
  private paused = false;
  private readonly watches: ListWatch[];
  private wake: (() => void) | undefined;
  /** Batching draws (which due items go together) depend on timing across trials: a stream of their own. */
  private readonly batchRng = createRng(7);
  readonly synced: Promise<void>;

  private readonly options: DeliveryOptions;

  constructor(options: DeliveryOptions) {
    this.options = options;
    const core = options.kc.makeApiClient(CoreV1Api);
    const common = { kc: options.kc, log: silentLogger, onList: () => {} };
    this.watches = [
      startListWatch({ ...common, name: 'nodes', path: '/api/v1/nodes', list: () => core.listNode(), onEvent: (type, obj) => this.accept(type, obj) }),
      startListWatch({
        ...common,
        name: 'pods',
        path: '/api/v1/pods',
        list: () => core.listPodForAllNamespaces(),
        onEvent: (type, obj) => this.accept(type, obj),
      }),
      startListWatch({
        ...common,
        name: 'daemonsets',
        path: options.daemonSets.path(),
        list: () => options.daemonSets.list(),
        onEvent: (type, obj) => this.accept(type, obj),
      }),
    ];
    this.synced = Promise.all(this.watches.map((w) => w.synced)).then(() => undefined);
    this.resize(this.senderCount);
  }

  /**
   * The plan for the events of one trial (objects labelled `labelKey=trial`), drawn from its seed; items already
   * queued keep their fate. Senders are shared: as many as the most demanding trial running asks for.
   */
  configure(trial: string, plan: DeliveryPlan, seed: number): void {
    this.plans.set(trial, { plan, rng: createRng(seed).fork('delivery') });
    this.lastDrops.delete(trial);
    this.fallback = { plan: { ...plan }, rng: createRng(seed).fork('delivery-other') };
    this.resizeToPlans();
  }

  /** When an event of this trial was last dropped (epoch ms), if one was: only a resync after it can heal it. */
  lastDrop(trial: string): number | undefined {
    return this.lastDrops.get(trial);
  }

  /** The trial is over: its events get the fallback plan. */
  release(trial: string): void {
    this.plans.delete(trial);
    this.resizeToPlans();
  }

  private resizeToPlans(): void {
    this.senderCount = Math.max(1, ...[...this.plans.values()].map((p) => p.plan.senders));
    this.resize(this.senderCount);
  }

  /** While paused, events are still counted and queued but nothing is sent (a webhook backend that is down). */
  setPaused(paused: boolean): void {
    this.paused = paused;
    this.wake?.();
  }

  /** Resolves when nothing is queued or in flight (or after timeoutMs). */
  async drain(timeoutMs = 30_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while ((this.queue.length > 0 || this.inFlight > 0) && Date.now() < end) await sleep(50);
    return this.queue.length === 0 && this.inFlight === 0;
  }

  async stop(): Promise<void> {
    for (const w of this.watches) w.stop();
    this.running = false;
    this.wake?.();
    await Promise.all(this.senders);
  }

  private accept(type: string, object: unknown): void {
    this.counters.events += 1;
    const trial = (object as { metadata?: { labels?: Record<string, string> } }).metadata?.labels?.[this.options.labelKey];
    const { plan, rng } = (trial !== undefined ? this.plans.get(trial) : undefined) ?? this.fallback;
    if (rng.chance(plan.dropRate)) {
      this.counters.dropped += 1;
      if (trial !== undefined) this.lastDrops.set(trial, Date.now());
      return;
    }
    const copies = rng.chance(plan.duplicateRate) ? rng.int(2, Math.max(2, plan.maxCopies)) : 1;
    this.counters.duplicates += copies - 1;
    const line = JSON.stringify({ type, object });
    const now = Date.now();
    for (let i = 0; i < copies; i++) this.queue.push({ due: now + rng.int(0, plan.maxDelayMs), line, maxBatch: plan.maxBatch, maxAttempts: plan.maxAttempts });
    this.wake?.();
  }

  private resize(count: number): void {
    while (this.senders.length < count) {
      const index = this.senders.length;
      this.senders.push(this.sender(index));
    }
  }

  /** One sender: takes due items (a random batch), posts them, retries 5xx and failures with backoff. */
  private async sender(index: number): Promise<void> {
    while (this.running) {
      const now = Date.now();
      // Senders beyond the plan's count idle: a trial with fewer senders sends less concurrently.
      const due = index < this.senderCount && !this.paused ? this.queue.filter((i) => i.due <= now) : [];
      if (due.length === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 20);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        continue;
      }
      const batch = this.batchRng.shuffle(due).slice(0, this.batchRng.int(1, Math.max(...due.map((i) => i.maxBatch))));
      for (const item of batch) this.queue.splice(this.queue.indexOf(item), 1);
      this.inFlight += 1;
      this.counters.maxInFlight = Math.max(this.counters.maxInFlight, this.inFlight);
      try {
        await this.send(batch.map((i) => i.line).join('\n'), Math.min(...batch.map((i) => i.maxAttempts)));
      } finally {
        this.inFlight -= 1;
      }
    }
  }

  private async send(body: string, maxAttempts: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let status: string;
      try {
        this.counters.requests += 1;
        const response = await fetch(`${this.options.functionsUrl}/events/watch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
          body,
          signal: AbortSignal.timeout(60_000),
        });
        status = String(response.status);
        const text = await response.text();
        if (response.status >= 400 && response.status < 500) {
          this.counters.refused += 1;
          this.options.log?.(`delivery: ${response.status} for a real watch event: ${text.slice(0, 300)}`);
        }
      } catch {
        status = 'error';
      }
      this.counters.answers[status] = (this.counters.answers[status] ?? 0) + 1;
      const retryable = status === 'error' || Number(status) >= 500;
      if (!retryable) return;
      if (attempt >= maxAttempts) {
        this.counters.givenUp += 1;
        return;
      }
      this.counters.retries += 1;
      await sleep(Math.min(5_000, 100 * 2 ** (attempt - 1)));
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
