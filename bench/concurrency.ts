/**
 * Runs `task` for indexes 0..count-1 with at most `limit` running at once, so opening
 * thousands of connections neither overruns the server's listen backlog nor waits for
 * them one by one. On the first failure it stops starting new tasks, waits for the running
 * ones, hands every result obtained to `discard`, and rethrows.
 */
export async function runLimited<T>(
  count: number,
  limit: number,
  task: (index: number) => Promise<T>,
  discard: (value: T) => void,
): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  let firstError: unknown;
  async function worker(): Promise<void> {
    while (next < count && firstError === undefined) {
      const index = next++;
      try {
        results[index] = await task(index);
      } catch (error) {
        firstError ??= error;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  if (firstError !== undefined) {
    for (const value of results) if (value !== undefined) discard(value);
    throw firstError;
  }
  return results;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with `message` if `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
