/**
 * Type-level tests of what `upgrade()` and `describe` accept, checked by `tsc --noEmit` in
 * `npm test`: if `Service` accepts any object again, the lines marked @ts-expect-error stop
 * being errors and the check fails.
 */
import { bind, type Caller, type Service, type UpgradeService } from "../../src/index.ts";

class OnlyCustom {
  onSubscribe(_caller: Caller, _data: unknown): string {
    return "ok";
  }
}

class OnlyBound implements Service {
  onSubscribe = bind("json", () => "ok");
}

class Standard {
  private count = 0;
  onTextMessage(_caller: Caller, text: string): string {
    this.count++;
    return `${text} ${this.count}`;
  }
}

class NeedsRoom {
  constructor(readonly room: string) {}
  onTextMessage(_caller: Caller, text: string): string {
    return `${this.room}: ${text}`;
  }
}

class OptionalRoom {
  constructor(readonly room = "lobby") {}
  onTextMessage(_caller: Caller, text: string): string {
    return `${this.room}: ${text}`;
  }
}

export const accepted: UpgradeService[] = [
  { upgrade: () => new OnlyCustom() },
  { upgrade: () => new OnlyBound() },
  { upgrade: async () => new Standard() },
  { upgrade: () => ({}) },
  { upgrade: () => ({ onHeartbeat: (_caller: Caller, data: { n: number }) => data.n + 1 }) },
  { upgrade: (request) => (request.params["room"] === undefined ? new Error("no room") : new NeedsRoom(request.params["room"])) },
  { upgrade: () => new OnlyCustom(), describe: OnlyCustom },
  { upgrade: () => new OptionalRoom(), describe: OptionalRoom },
  { upgrade: () => new NeedsRoom("a"), describe: new NeedsRoom("example") },
];

export const refused: UpgradeService[] = [
  // @ts-expect-error a Map is not a service
  { upgrade: () => new Map() },
  // @ts-expect-error nor is a Set
  { upgrade: async () => new Set<string>() },
  // @ts-expect-error nor an array
  { upgrade: () => [] },
  // @ts-expect-error the class, not an instance of it
  { upgrade: () => Standard },
  // @ts-expect-error a handler that is not a function
  { upgrade: () => ({ onOpen: 3 }) },
  // @ts-expect-error describe with a class whose constructor needs arguments
  { upgrade: () => new NeedsRoom("a"), describe: NeedsRoom },
];
