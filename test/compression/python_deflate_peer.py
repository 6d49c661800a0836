"""The Python side of test/compression/interop.test.ts: Python's websockets (Debian's
python3-websockets 10.x) with permessage-deflate, as a client or as a server.

  python_deflate_peer.py client URL ARGS_JSON
      Connects (compression as ARGS_JSON["deflate"] says: null for websockets' default
      offer, else ClientPerMessageDeflateFactory keyword arguments), sends each message of
      ARGS_JSON["messages"] ({"kind": "json"|"random"|"text", "size": n}), reads the echoes,
      and prints one line of JSON: the extension the server answered and, per message,
      whether the echo was equal.
  python_deflate_peer.py server ARGS_JSON
      Echo server on 127.0.0.1 (any port, printed on one line), compression as
      ARGS_JSON["deflate"] says (null: websockets' default); serves until stdin closes.
"""

import asyncio
import json
import random
import sys

import websockets
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

TIMEOUT = 10


def payload(kind, size, seed):
    if kind == "random":
        return random.Random(seed).randbytes(size)
    if kind == "text":
        unit = "grüße, 世界! 🚀 "
        text = (unit * (size // len(unit) + 1))[:size]
        return text
    rows = []
    length = 0
    while length < size:
        rows.append(json.dumps({"id": len(rows) + seed, "name": "item %d" % len(rows), "ok": len(rows) % 2 == 0}))
        length += len(rows[-1]) + 1
    return ",".join(rows)[:size]


async def client(url, args):
    deflate = args.get("deflate")
    options = {} if deflate is None else {"compression": None, "extensions": [ClientPerMessageDeflateFactory(**deflate)]}
    results = []
    async with websockets.connect(url, max_size=None, open_timeout=TIMEOUT, close_timeout=TIMEOUT, ping_interval=None, **options) as ws:
        for index, message in enumerate(args["messages"]):
            data = payload(message["kind"], message["size"], index)
            await ws.send(data)
            echo = await asyncio.wait_for(ws.recv(), TIMEOUT)
            results.append(echo == data)
        return {"extensions": ws.response_headers.get("Sec-WebSocket-Extensions"), "equal": results}


async def echo(ws, path=None):
    async for message in ws:
        await ws.send(message)


async def server(args):
    deflate = args.get("deflate")
    options = {} if deflate is None else {"compression": None, "extensions": [ServerPerMessageDeflateFactory(**deflate)]}
    loop = asyncio.get_running_loop()
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=None, ping_interval=None, close_timeout=5, **options) as running:
        print(running.sockets[0].getsockname()[1], flush=True)
        await loop.run_in_executor(None, sys.stdin.read)


def main():
    if sys.argv[1] == "client":
        result = asyncio.run(asyncio.wait_for(client(sys.argv[2], json.loads(sys.argv[3])), 3 * TIMEOUT))
        result["websockets_version"] = websockets.__version__
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        asyncio.run(server(json.loads(sys.argv[2])))


if __name__ == "__main__":
    main()
