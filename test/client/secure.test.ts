import assert from "node:assert/strict";
import { createServer } from "node:https";
import { after, before, describe, test } from "node:test";
import { type Caller, Client, Listener, SslError } from "../../src/index.ts";
import { selfSignedCertificate, type TestCertificate } from "../helpers/certificates.ts";

process.env["FERRY_LOG"] ??= "silent";

describe("wss: over real TLS", () => {
  let certificate: TestCertificate;
  let port = 0;
  const secureOnServer: boolean[] = [];
  let stop = async (): Promise<void> => undefined;

  after(async () => {
    await stop();
    certificate.remove();
  });

  before(async () => {
    certificate = selfSignedCertificate();
    const server = createServer({ cert: certificate.cert, key: certificate.key });
    const listener = new Listener(server);
    listener.attach("/echo", {
      upgrade: () => ({
        onOpen: (caller: Caller) => void secureOnServer.push(caller.isSecure()),
        onTextMessage: (_c: Caller, text: string) => text,
      }),
    });
    await listener.start();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
    stop = async () => {
      await listener.immediateStop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    };
  });

  test("trusting the server's certificate: messages flow and both sides report isSecure()", async () => {
    const client = await Client.connect(`wss://localhost:${port}/echo`, { secureSocket: { cert: certificate.certFile } });
    assert.equal(client.isSecure(), true);
    await client.writeTextMessage("over tls");
    assert.equal(await client.readTextMessage(), "over tls");
    assert.deepEqual(secureOnServer, [true]);
    await client.close();
  });

  test("an untrusted certificate fails with SslError; enable: false skips verification", async () => {
    await assert.rejects(Client.connect(`wss://localhost:${port}/echo`), SslError);
    const client = await Client.connect(`wss://localhost:${port}/echo`, { secureSocket: { enable: false } });
    await client.writeTextMessage("unverified");
    assert.equal(await client.readTextMessage(), "unverified");
    await client.close();
  });

  test("a name the certificate does not carry fails, unless verifyHostName is false", async () => {
    const options = { secureSocket: { cert: certificate.certFile, serverName: "elsewhere.example" } };
    await assert.rejects(Client.connect(`wss://127.0.0.1:${port}/echo`, { secureSocket: { ...options.secureSocket } }), SslError);
    const client = await Client.connect(`wss://127.0.0.1:${port}/echo`, {
      secureSocket: { ...options.secureSocket, verifyHostName: false },
    });
    await client.close();
  });

  test("missing certificate files fail at connect with SslError", async () => {
    await assert.rejects(Client.connect(`wss://localhost:${port}/echo`, { secureSocket: { cert: "/nonexistent/ca.pem" } }), SslError);
  });
});
