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

/** Resolves after `seconds`, or at once when `signal` is aborted (a close() during a reconnect). */
export function abortableSleep(seconds: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const wake = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", wake);
      resolve();
    };
    const timer = setTimeout(wake, seconds * 1000);
    signal.addEventListener("abort", wake, { once: true });
  });
}
