/**
 * Where ferry reports what it cannot hand to anyone: a handler that threw, a service that
 * returned an invalid close frame. `FERRY_LOG=silent` turns it off (tests that provoke these
 * on purpose); otherwise it goes to stderr.
 */
export function logError(message: string, error?: unknown): void {
  if (process.env["FERRY_LOG"] === "silent") return;
  if (error === undefined) console.error(`ferry: ${message}`);
  else console.error(`ferry: ${message}`, error);
}

/** A likely mistake in how ferry is used (a handler that can never be called); silenced like logError. */
export function logWarning(message: string): void {
  if (process.env["FERRY_LOG"] === "silent") return;
  console.warn(`ferry: ${message}`);
}
