/**
 * Type-level tests, checked by `tsc --noEmit` in `npm test`: if inference of bound message
 * types breaks, the lines marked @ts-expect-error stop being errors and the check fails.
 */
import * as v from "valibot";
import { z } from "zod";
import { bind, type Caller, Client, type Document, type JsonValue, type Service } from "../../src/index.ts";

const Subscribe = z.object({ id: z.string(), topic: z.string(), limit: z.number().default(10) });

export class Typed implements Service {
  onSubscribe = bind(Subscribe, (_caller: Caller, message) => {
    const topic: string = message.topic;
    const limit: number = message.limit;
    // @ts-expect-error the schema has no `missing` field
    void message.missing;
    // @ts-expect-error topic is a string, not a number
    const wrong: number = message.topic;
    return { topic, limit, wrong };
  });

  onValibot = bind(v.object({ n: v.number() }), (_caller, message) => {
    const n: number = message.n;
    // @ts-expect-error n is a number
    const s: string = message.n;
    return [n, s];
  });

  onText = bind("text", (_caller, message) => {
    const text: string = message;
    // @ts-expect-error text is not bytes
    const bytes: Uint8Array = message;
    return [text, bytes];
  });

  onBytes = bind("binary", (_caller, message) => message.byteLength);
  onXml = bind("xml", (_caller, message) => {
    const doc: Document = message;
    return doc.documentElement?.nodeName;
  });
  onJson = bind("json", (_caller, message) => {
    const json: JsonValue = message;
    return json;
  });
}

export async function clientSide(client: Client): Promise<void> {
  const order = await client.readMessage(Subscribe);
  const topic: string = order.topic;
  // @ts-expect-error no such field
  void order.nope;
  const text: string = await client.readMessage("text");
  const json: JsonValue = await client.readMessage();
  // @ts-expect-error a bound binary message is bytes
  const notText: string = await client.readMessage("binary");
  void [topic, text, json, notText];
}
