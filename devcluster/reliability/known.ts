/**
 * Invariant violations the trials find on main that are reported to the lead and not yet fixed (src/ is not the
 * reliability work's to change). The CI short run and the integration trials tolerate these kinds — they still print
 * and count them — and fail on any other kind, on a trial that does not converge, and on a fuzz contract failure.
 * When src/ fixes them, empty this list: from then on they fail CI too.
 *
 * The three findings (docs/reliability.md, "What the trials found"):
 *  - duplicate: two passes that read different templates (an edit between their reads) create two pods on one node,
 *    because a pod's name hashes its revision; and the salted-name race design.md describes ("The race left").
 *  - budget / surge: a pod deleted (or created) on a state read before the write landed: an old pod that was not
 *    Ready when read is deleted after it became Ready (surge, OnDelete and maxUnavailable alike), and a surge create
 *    decided on a stale pod list.
 */
import type { ViolationKind } from './checker.ts';

export const knownViolationKinds: readonly ViolationKind[] = ['duplicate', 'budget', 'surge'];
