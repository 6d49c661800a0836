import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { Client } from "../../src/index.ts";

let demo: ChildProcess;
let port = 0;

before(async () => {
  demo = spawn(process.execPath, ["--import", "tsx", "demo/main.ts"], { env: { ...process.env, PORT: "0" }, stdio: ["ignore", "pipe", "inherit"] });
  port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the demo did not start within 20 s")), 20_000);
    let out = "";
    demo.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /http:\/\/localhost:(\d+)\//.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    demo.once("exit", (code) => reject(new Error(`the demo exited with ${code}`)));
  });
});

after(() => {
  demo.kill("SIGTERM");
});

test("npm start serves the page at /", async () => {
  const response = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(response.status, 200);
  assert.match(await response.text(), /<title>ferry demo<\/title>/);
});

test("the echo service at /ws", async () => {
  const client = await Client.connect(`ws://127.0.0.1:${port}/ws`);
  await client.writeTextMessage("hello demo");
  assert.equal(await client.readTextMessage(), "hello demo");
  await client.writeBinaryMessage(new Uint8Array([1, 2, 3]));
  assert.deepEqual([...(await client.readBinaryMessage())], [1, 2, 3]);
  await client.close();
});

test("the chat at /chat: custom dispatch, validation errors answered, broadcasts", async () => {
  const ada = await Client.connect(`ws://127.0.0.1:${port}/chat`);
  const bob = await Client.connect(`ws://127.0.0.1:${port}/chat`);
  await ada.writeMessage({ type: "join", name: "ada" });
  assert.deepEqual(await ada.readMessage(), { type: "joined", name: "ada", members: 1 });
  await bob.writeMessage({ type: "say", text: "" });
  const error = (await bob.readMessage()) as { type: string; message: string };
  assert.equal(error.type, "error");
  assert.match(error.message, /^data validation failed: text/);
  await bob.writeMessage({ type: "join", name: "bob" });
  assert.deepEqual(await bob.readMessage(), { type: "joined", name: "bob", members: 2 });
  assert.deepEqual(await ada.readMessage(), { type: "joined", name: "bob", members: 2 });
  await ada.writeMessage({ type: "say", text: "hi bob" });
  assert.deepEqual(await bob.readMessage(), { type: "said", name: "ada", text: "hi bob" });
  assert.deepEqual(await ada.readMessage(), { type: "said", name: "ada", text: "hi bob" });
  await bob.close();
  assert.deepEqual(await ada.readMessage(), { type: "left", name: "bob", members: 1 });
  await ada.close();
});
