/**
 * Interop with Python's `websockets` (Debian's python3-websockets, 10.x) over real sockets
 * against a ferry server. Each scenario runs python_peer.py in a child process of Debian's
 * /usr/bin/python3, which prints what it observed as one line of JSON.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import {
  BIG_PATTERN,
  bigBinary,
  bigText,
  InteropServer,
  KEEPALIVE_WAIT_MS,
  MIB,
  newId,
  UTF8_CLOSE_REASON,
  UTF8_SAMPLE,
  WAIT_MS,
} from "./fixture.ts";

/** Debian's interpreter, which has python3-websockets; not whatever `python3` is on PATH. */
const PYTHON = "/usr/bin/python3";
const PEER = fileURLToPath(new URL("./python_peer.py", import.meta.url));
const CHILD_TIMEOUT_MS = 3 * WAIT_MS;
const T = { timeout: CHILD_TIMEOUT_MS + 5_000 };

const children = new Set<ChildProcess>();

/** JSON with every non-ASCII character escaped, so that argv does not depend on the locale. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function pythonEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONNOUSERSITE: "1", PYTHONDONTWRITEBYTECODE: "1" };
  delete env["PYTHONPATH"];
  delete env["PYTHONHOME"];
  return env;
}

/** Runs `python_peer.py scenario url args` and returns its JSON result. */
function runPeer(scenario: string, url: string, args: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [PEER, scenario, url, asciiJson(args)], {
      stdio: ["ignore", "pipe", "pipe"],
      env: pythonEnv(),
    });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`python peer '${scenario}' timed out after ${CHILD_TIMEOUT_MS} ms\n${stderr}`));
    }, CHILD_TIMEOUT_MS);
    child.once("error", (error) => {
      clearTimeout(timer);
      children.delete(child);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code !== 0) {
        reject(new Error(`python peer '${scenario}' exited with ${code ?? signal}\n${stderr}${stdout}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as Record<string, unknown>);
      } catch {
        reject(new Error(`python peer '${scenario}' printed no JSON: ${stdout}\n${stderr}`));
      }
    });
  });
}

function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

describe("interop: Python websockets ↔ ferry server", () => {
  let server: InteropServer;

  before(async () => {
    const probe = await runPythonVersion();
    assert.match(probe, /^\d+\.\d+/, `${PYTHON} cannot import websockets (apt-get install python3-websockets)`);
    server = await InteropServer.start();
  });

  after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await server?.stop();
  });

  test("text message echo", T, async () => {
    const result = await runPeer("echo", server.url("/echo"), { messages: [{ text: "hello ferry" }, { text: "" }] });
    assert.deepEqual(result["replies"], [
      { type: "text", text: "hello ferry" },
      { type: "text", text: "" },
    ]);
  });

  test("binary message echo", T, async () => {
    const result = await runPeer("echo", server.url("/echo"), { messages: [{ hex: "0001027f80feff" }, { hex: "" }] });
    assert.deepEqual(result["replies"], [
      { type: "binary", hex: "0001027f80feff" },
      { type: "binary", hex: "" },
    ]);
  });

  test("UTF-8 multi-byte text echo", T, async () => {
    const result = await runPeer("echo", server.url("/echo"), { messages: [{ text: UTF8_SAMPLE }] });
    assert.deepEqual(result["replies"], [{ type: "text", text: UTF8_SAMPLE }]);
  });

  test("1 MiB text and 1 MiB binary, each direction via echo", T, async () => {
    const result = await runPeer("big", server.url("/echo"), { pattern: BIG_PATTERN });
    assert.deepEqual(
      { ...result, websockets_version: undefined },
      {
        sent_text_bytes: MIB,
        text_type: "str",
        text_equal: true,
        sent_binary_bytes: MIB,
        binary_type: "bytes",
        binary_equal: true,
        websockets_version: undefined,
      },
    );
  });

  test("fragmented messages from Python (str fragments; bytes from an async generator, with a ping between)", T, async () => {
    const textFragments = ["start ", "é中", "", UTF8_SAMPLE, " 🚀", " end"];
    const result = await runPeer("fragments", server.url("/echo"), { text_fragments: textFragments });
    assert.equal(result["text"], textFragments.join(""));
    assert.equal(result["text_equal"], true);
    assert.equal(result["binary_equal"], true);
    assert.equal(result["binary_bytes"], 200_000);
    assert.equal(result["pong_received"], true);
  });

  test("ferry fragments large outbound messages (maxFrameSize 1000) and Python reassembles them", T, async () => {
    const result = await runPeer("ferry_fragments", server.url("/small-frames"), { repeats: 8000, length: 150_000 });
    assert.equal(result["text_type"], "str");
    assert.equal(result["text_sha256"], sha256(bigText(8000)));
    assert.equal(result["binary_type"], "bytes");
    assert.equal(result["binary_sha256"], sha256(bigBinary(150_000)));
  });

  test("ping from Python is answered", T, async () => {
    const result = await runPeer("ping", server.url("/echo"), { payload: "are you there?" });
    assert.equal(result["pong_received"], true);
  });

  test("ferry's keep-alive pings (pingInterval) are answered by Python", T, async () => {
    const result = await runPeer("keepalive", server.url("/keepalive"), { wait_ms: KEEPALIVE_WAIT_MS });
    assert.ok((result["pongs"] as number) >= 2, `ferry saw ${result["pongs"]} pongs`);
    assert.equal(result["open"], true);
  });

  test("sub-protocol: ferry picks the client's first offer it supports; no match → none (Python accepts that)", T, async () => {
    const chosen = await runPeer("subprotocol", server.url("/proto"), { offer: ["chat.v9", "chat.v1", "chat.v2"] });
    assert.equal(chosen["subprotocol"], "chat.v1");
    assert.equal(chosen["ferry_says"], "chat.v1");
    const unmatched = await runPeer("subprotocol", server.url("/proto"), { offer: ["chat.v9"] });
    assert.equal(unmatched["subprotocol"], null);
    assert.equal(unmatched["ferry_says"], "(none)");
  });

  test("Python closes with 4000 and a reason: ferry's onClose sees both, Python gets the code echoed", T, async () => {
    const id = newId("py");
    const result = await runPeer("close_from_peer", server.url("/echo", id), { code: 4000, reason: "done here" });
    assert.equal(result["close_code"], 4000);
    assert.equal(result["close_reason"], "");
    assert.deepEqual(await server.closed(id), { code: 4000, reason: "done here" });
  });

  test("ferry returns closeFrame(4001, \"bye\"): Python sees 4001 and \"bye\"", T, async () => {
    const id = newId("py");
    const result = await runPeer("close_from_server", server.url("/echo", id), { command: "cmd:close" });
    assert.deepEqual({ ...result, websockets_version: undefined }, { code: 4001, reason: "bye", close_code: 4001, websockets_version: undefined });
    assert.equal((await server.closed(id)).code, 4001);
  });

  test("caller.close(4002, \"caller bye\"): Python sees it", T, async () => {
    const id = newId("py");
    const result = await runPeer("close_from_server", server.url("/echo", id), { command: "cmd:caller-close" });
    assert.equal(result["code"], 4002);
    assert.equal(result["reason"], "caller bye");
    assert.equal((await server.closed(id)).code, 4002);
  });

  test("close reasons with multi-byte UTF-8, both directions", T, async () => {
    const id = newId("py");
    await runPeer("close_from_peer", server.url("/echo", id), { code: 4000, reason: "tschüß 🚀" });
    assert.deepEqual(await server.closed(id), { code: 4000, reason: "tschüß 🚀" });
    const result = await runPeer("close_from_server", server.url("/echo"), { command: "cmd:close-utf8" });
    assert.equal(result["code"], 4003);
    assert.equal(result["reason"], UTF8_CLOSE_REASON);
  });

  test("gracefulStop: Python sees 1001", T, async () => {
    const own = await InteropServer.start();
    try {
      const id = newId("py");
      const result = runPeer("wait_close", own.url("/echo", id));
      result.catch(() => undefined);
      await own.opened(id);
      await own.stop();
      const closed = await result;
      assert.equal(closed["code"], 1001);
      assert.equal(closed["close_code"], 1001);
    } finally {
      await own.stop();
    }
  });

  test("a cross-origin Origin header is refused by the same-origin default (403)", T, async () => {
    const result = await runPeer("refused", server.url("/same-origin"), { origin: "http://elsewhere.example" });
    assert.equal(result["status"], 403);
  });
});

/** websockets.__version__ from Debian's python3, or the error text. */
function runPythonVersion(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, ["-c", "import websockets; print(websockets.__version__)"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: pythonEnv(),
    });
    children.add(child);
    let output = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), WAIT_MS);
    child.once("error", (error) => {
      clearTimeout(timer);
      children.delete(child);
      resolve(String(error));
    });
    child.once("close", () => {
      clearTimeout(timer);
      children.delete(child);
      resolve(output.trim());
    });
  });
}
