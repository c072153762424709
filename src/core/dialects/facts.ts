/** What a dialect needs to know of a problem (all of it already in the problem document). */
export interface ProblemFacts {
  /** The gateway's code, e.g. `idempotency-key-reused`. */
  readonly code: string;
  readonly status: number;
  readonly detail: string;
  /** The Stripe-style `error.type`, e.g. `idempotency_error`. */
  readonly errorType: string;
  /** The problem type URI (RFC 9457 §3.1.1), where the gateway documents the problem. */
  readonly type: string;
}
