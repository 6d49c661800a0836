import type { ResolvedRetryConfig } from "./client-configuration.ts";

/** What the timing of retries depends on. */
type RetryTiming = Pick<ResolvedRetryConfig, "maxCount" | "interval" | "backOffFactor" | "maxWaitInterval">;

/**
 * Seconds to wait before retry `n` (0 for the first): interval × backOffFactor^n, capped at
 * maxWaitInterval.
 */
export function retryDelay(config: RetryTiming, n: number): number {
  return Math.min(config.interval * config.backOffFactor ** n, config.maxWaitInterval);
}

/** Whether another retry is allowed after `done` retries (maxCount 0: always). */
export function mayRetry(config: RetryTiming, done: number): boolean {
  return config.maxCount === 0 || done < config.maxCount;
}
