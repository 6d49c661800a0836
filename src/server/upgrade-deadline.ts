import type { Duplex } from "node:stream";

/**
 * One timer per socket that has not been upgraded yet, bounding the upgrade request as a
 * whole (SPEC §2 `timeout`): Node's own header timeouts start only at the first byte and are
 * checked on a coarse period, and end at the `upgrade` event, before the body and the
 * service's `upgrade()`. The timer goes at the 101 (or when the socket closes), so an open
 * WebSocket costs nothing here.
 */
export class UpgradeDeadlines {
  private readonly timers = new Map<Duplex, NodeJS.Timeout>();
  /** One listener for every socket: `this` is the socket that closed. */
  private readonly forget: (this: Duplex) => void;
  private readonly fire = (socket: Duplex): void => {
    this.stop(socket);
    this.onExpired(socket);
  };

  /** `ms` 0: no limit, nothing is tracked. */
  constructor(
    private readonly ms: number,
    private readonly onExpired: (socket: Duplex) => void,
  ) {
    const deadlines = this;
    this.forget = function (this: Duplex) {
      deadlines.stop(this);
    };
  }

  /** Starts the socket's time unless it is already running. */
  start(socket: Duplex): void {
    if (this.ms === 0 || this.timers.has(socket)) return;
    const timer = setTimeout(this.fire, this.ms, socket);
    timer.unref();
    this.timers.set(socket, timer);
    socket.once("close", this.forget);
  }

  /** Gives the socket its whole time again (a keep-alive connection after a plain answer). */
  restart(socket: Duplex): void {
    this.stop(socket);
    if (!socket.destroyed) this.start(socket);
  }

  /** Ends the socket's time: it was upgraded, or it closed. */
  stop(socket: Duplex): void {
    const timer = this.timers.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(socket);
    socket.off("close", this.forget);
  }
}
