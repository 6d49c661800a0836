import { z } from "zod";
import { bind, type Caller, type UpgradeService } from "../src/index.ts";

const Join = z.object({ type: z.literal("join"), name: z.string().min(1).max(40) });
const Say = z.object({ type: z.literal("say"), text: z.string().min(1).max(2000) });

/** Everyone in the room, for broadcasts. */
const members = new Map<Caller, string>();

function broadcast(message: object): void {
  const text = JSON.stringify(message);
  for (const caller of members.keys()) void caller.writeTextMessage(text).catch(() => undefined);
}

/** A chat room with custom dispatch: `{"type":"join"}` → onJoin, `{"type":"say"}` → onSay. */
export class ChatService {
  onJoin = bind(Join, (caller, message) => {
    members.set(caller, message.name);
    broadcast({ type: "joined", name: message.name, members: members.size });
  });

  onSay = bind(Say, (caller, message) => {
    const name = members.get(caller);
    if (name === undefined) return { type: "error", message: "join first" };
    broadcast({ type: "said", name, text: message.text });
    return undefined;
  });

  onSayError(_caller: Caller, error: Error): object {
    return { type: "error", message: error.message };
  }

  onClose(caller: Caller): void {
    const name = members.get(caller);
    if (members.delete(caller) && name !== undefined) broadcast({ type: "left", name, members: members.size });
  }
}

export const chatUpgrade: UpgradeService = {
  config: { dispatcherKey: "type", idleTimeout: 300 },
  upgrade: () => new ChatService(),
  describe: ChatService,
};
