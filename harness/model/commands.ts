import fc from "fast-check";
import { CONFIGS, KEYS, STEPS_MS, System, type CallOutcome, type WorkerConfig } from "./system.ts";

/**
 * The model's steps as fast-check commands (`fc.commands`), so that a failing run shrinks to the
 * shortest order of steps that breaks an invariant. The model itself is the `System`; the
 * commands hold no model of their own (`check` is always true): every step is allowed in every
 * state, as it is in production.
 */

type Step = fc.Command<object, System>;

class Send implements Step {
  constructor(
    readonly config: WorkerConfig,
    readonly key: string,
    readonly outcome: CallOutcome,
  ) {}
  check = () => true;
  run(_: object, system: System) {
    system.send(this.config, this.key, this.outcome);
  }
  toString = () => `send(${this.config.name}, ${this.key.slice(0, 2)}, ${this.outcome})`;
}

class Advance implements Step {
  constructor(readonly ms: number) {}
  check = () => true;
  run(_: object, system: System) {
    system.advance(this.ms);
  }
  toString = () => `advance(${this.ms})`;
}

class Purge implements Step {
  constructor(
    readonly config: WorkerConfig,
    readonly key: string,
  ) {}
  check = () => true;
  run(_: object, system: System) {
    system.purge(this.config, this.key);
  }
  toString = () => `purge(${this.config.name}, ${this.key.slice(0, 2)})`;
}

const config = fc.constantFrom(...CONFIGS);
const key = fc.constantFrom(...KEYS);
const outcome = fc.constantFrom<CallOutcome>("answer", "answer", "unknown", "crash", "release");

/** Every step a run may take, weighted towards requests. */
export const STEPS = [
  fc.tuple(config, key, outcome).map(([c, k, o]) => new Send(c, k, o)),
  fc.tuple(config, key, outcome).map(([c, k, o]) => new Send(c, k, o)),
  fc.constantFrom(...STEPS_MS).map((ms) => new Advance(ms)),
  fc.tuple(config, key).map(([c, k]) => new Purge(c, k)),
];

/**
 * The property: whatever the order of steps, no invariant breaks (`System` throws `Violation`).
 *
 * @param variant - the `System`'s rules, the product's by default: a variant shows what the
 *   property finds when one rule is weakened
 */
export function exactlyOnce(...variant: ConstructorParameters<typeof System>) {
  return fc.property(fc.commands(STEPS, { maxCommands: 40, size: "max" }), (commands) => {
    fc.modelRun(() => ({ model: {}, real: new System(...variant) }), commands);
  });
}
