import type { Caller, Service, UpgradeService } from "../src/index.ts";

/** Sends every message back as it came. */
export class EchoService implements Service {
  onTextMessage(_caller: Caller, text: string): string {
    return text;
  }

  onBinaryMessage(_caller: Caller, data: Uint8Array): Uint8Array {
    return data;
  }
}

export const echoUpgrade: UpgradeService = {
  config: { allowedOrigins: ["*"] },
  upgrade: () => new EchoService(),
};
