// The browser side of test/interop/chromium.test.ts. Served as plain JavaScript to a page in
// headless Chromium (not through tsx, whose keepNames helpers do not exist in a page), it
// defines `peer.run(scenario, args)`: runs one scenario with the browser's own WebSocket
// against a ferry server and resolves with what it observed (JSON-friendly values only).
"use strict";
(() => {
  const TIMEOUT_MS = 10000;
  const MIB = 1024 * 1024;

  function within(promise, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms waiting for ${what}`)), TIMEOUT_MS);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  /** A WebSocket whose messages, errors and close are collected as they arrive. */
  function connect(url, protocols) {
    const ws = protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols);
    ws.binaryType = "arraybuffer";
    const messages = [];
    const readers = [];
    const state = { errored: false };
    ws.addEventListener("message", (event) => {
      const message = typeof event.data === "string" ? event.data : new Uint8Array(event.data);
      const reader = readers.shift();
      if (reader !== undefined) reader(message);
      else messages.push(message);
    });
    ws.addEventListener("error", () => {
      state.errored = true;
    });
    const closed = new Promise((resolve) => {
      ws.addEventListener("close", (event) =>
        resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean, errored: state.errored }),
      );
    });
    const opened = new Promise((resolve, reject) => {
      ws.addEventListener("open", () => resolve());
      closed.then((event) => reject(Object.assign(new Error(`closed before open: ${event.code}`), { event })));
    });
    return {
      ws,
      get closed() {
        return within(closed, "the close event");
      },
      opened: within(opened, `open ${url}`),
      next() {
        if (messages.length > 0) return Promise.resolve(messages.shift());
        return within(new Promise((resolve) => readers.push(resolve)), "a message");
      },
    };
  }

  async function open(url, protocols) {
    const peer = connect(url, protocols);
    await peer.opened;
    return peer;
  }

  function describe(message) {
    return typeof message === "string" ? { type: "text", text: message } : { type: "binary", bytes: Array.from(message) };
  }

  function equalBytes(a, b) {
    if (!(a instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  async function sha256(data) {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** `length` pseudo-random bytes from a fixed seed (the LCG of fixture.ts). */
  function randomBytes(length, seed) {
    const bytes = new Uint8Array(length);
    let x = seed >>> 0;
    for (let i = 0; i < length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      bytes[i] = x >>> 24;
    }
    return bytes;
  }

  const scenarios = {
    /** Sends each of `messages` ({text}, {bytes}, {blob}) and returns the replies. */
    async echo({ url, messages }) {
      const peer = await open(url);
      const replies = [];
      for (const message of messages) {
        if ("text" in message) peer.ws.send(message.text);
        else if ("blob" in message) peer.ws.send(new Blob([new Uint8Array(message.blob)]));
        else peer.ws.send(new Uint8Array(message.bytes));
        replies.push(describe(await peer.next()));
      }
      peer.ws.close(1000);
      await peer.closed;
      return { replies };
    },

    /** 1 MiB text and 1 MiB binary out, both echoed back. */
    async big({ url, pattern }) {
      const unit = new TextEncoder().encode(pattern).length;
      const repeats = Math.floor(MIB / unit);
      const text = pattern.repeat(repeats) + "x".repeat(MIB - repeats * unit);
      const bytes = randomBytes(MIB, 46);
      const peer = await open(url);
      peer.ws.send(text);
      peer.ws.send(bytes);
      const echoedText = await peer.next();
      const echoedBytes = await peer.next();
      peer.ws.close(1000);
      await peer.closed;
      return {
        sentTextBytes: new TextEncoder().encode(text).length,
        textType: typeof echoedText,
        textEqual: echoedText === text,
        sentBinaryBytes: bytes.length,
        binaryEqual: equalBytes(echoedBytes, bytes),
      };
    },

    /** Asks ferry for messages larger than its maxFrameSize; reports their digests. */
    async ferryFragments({ url, repeats, length }) {
      const peer = await open(url);
      peer.ws.send(`cmd:big:${repeats}`);
      const text = await peer.next();
      peer.ws.send(`cmd:bigbin:${length}`);
      const bytes = await peer.next();
      peer.ws.close(1000);
      await peer.closed;
      return {
        textType: typeof text,
        textSha256: await sha256(text),
        binaryType: bytes instanceof Uint8Array ? "binary" : typeof bytes,
        binarySha256: await sha256(bytes),
      };
    },

    /** Stays connected while ferry pings, then asks how many pongs ferry got. */
    async keepalive({ url, waitMs }) {
      const peer = await open(url);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      peer.ws.send("cmd:pongs");
      const pongs = Number(await peer.next());
      const readyState = peer.ws.readyState;
      peer.ws.close(1000);
      await peer.closed;
      return { pongs, readyState };
    },

    async subprotocol({ url, offer }) {
      const peer = connect(url, offer);
      try {
        await peer.opened;
      } catch {
        return { opened: false, close: await peer.closed };
      }
      peer.ws.send("cmd:protocol");
      const ferrySays = await peer.next();
      peer.ws.close(1000);
      await peer.closed;
      return { opened: true, protocol: peer.ws.protocol, ferrySays };
    },

    async closeFromPeer({ url, code, reason }) {
      const peer = await open(url);
      peer.ws.close(code, reason);
      return await peer.closed;
    },

    /** Connects and waits for the server to close. */
    async waitClose({ url }) {
      const peer = await open(url);
      return await peer.closed;
    },

    async closeFromServer({ url, command }) {
      const peer = await open(url);
      peer.ws.send(command);
      return await peer.closed;
    },

    /** Opens, sends one text message and returns the reply, or how the connection failed. */
    async tryEcho({ url, text }) {
      const peer = connect(url);
      try {
        await peer.opened;
      } catch {
        return { opened: false, close: await peer.closed };
      }
      peer.ws.send(text);
      const reply = await peer.next();
      peer.ws.close(1000);
      await peer.closed;
      return { opened: true, reply };
    },
  };

  window.peer = {
    run(name, args) {
      const scenario = scenarios[name];
      if (scenario === undefined) return Promise.reject(new Error(`no scenario ${name}`));
      return within(scenario(args), `scenario ${name}`);
    },
  };
})();
