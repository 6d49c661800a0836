"""An echo server on Python's websockets (Debian's python3-websockets 10.x) for
test/client/interop.test.ts. It listens on 127.0.0.1 at any free port, prints that port on
one line, and serves until its stdin closes or it is killed.

Text commands (everything else is echoed as it came, text or binary):
  "close:<code>:<reason>"  close the connection with that code and reason
  "ping:<payload>"         send a ping with that payload; once the pong comes, send
                           "pong:<payload>" (the payload the pong carried)
  "protocol?"              send back the negotiated sub-protocol ("" when none)
  "closes?"                send back, as JSON, the close code and reason of every
                           connection that ended so far ([{"code": c, "reason": r}, ...])
"""

import asyncio
import json
import sys

import websockets


CLOSES = []


async def handler(ws, path=None):
    try:
        await echo(ws)
    finally:
        await ws.wait_closed()
        CLOSES.append({"code": ws.close_code, "reason": ws.close_reason})


async def echo(ws):
    async for message in ws:
        if isinstance(message, str) and message.startswith("close:"):
            _, code, reason = message.split(":", 2)
            await ws.close(int(code), reason)
            return
        if isinstance(message, str) and message.startswith("ping:"):
            payload = message[len("ping:"):].encode("utf-8")
            waiter = await ws.ping(payload)
            await asyncio.wait_for(waiter, 5)
            await ws.send("pong:" + payload.decode("utf-8"))
            continue
        if message == "protocol?":
            await ws.send(ws.subprotocol or "")
            continue
        if message == "closes?":
            await ws.send(json.dumps(CLOSES))
            continue
        await ws.send(message)


async def main():
    loop = asyncio.get_running_loop()
    async with websockets.serve(
        handler,
        "127.0.0.1",
        0,
        max_size=None,
        subprotocols=["chat.v1"],
        ping_interval=None,
        close_timeout=5,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        # Until stdin closes (the test ends) or the process is killed.
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
