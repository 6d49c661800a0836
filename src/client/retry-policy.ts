import type { RetryConfig } from "./client-configuration.ts";

/**
 * Seconds to wait before retry `n` (0 for the first): interval × backOffFactor^n, capped at
 * maxWaitInterval.
 */
export function retryDelay(config: Required<RetryConfig>, n: number): number {
  return Math.min(config.interval * config.backOffFactor ** n, config.maxWaitInterval);
}

/** Whether another retry is allowed after `done` retries (maxCount 0: always). */
export function mayRetry(config: Required<RetryConfig>, done: number): boolean {
  return config.maxCount === 0 || done < config.maxCount;
}
