"""The Python side of test/interop/python.test.ts: a websockets (10.x, Debian's
python3-websockets) client that runs one scenario against a ferry server and prints one
line of JSON with what it observed.

Usage: /usr/bin/python3 python_peer.py SCENARIO URL [ARGS_JSON]
ARGS_JSON is ASCII-only JSON (the caller escapes non-ASCII), so the locale does not matter.
"""

import asyncio
import hashlib
import json
import random
import sys

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatusCode

MIB = 1024 * 1024
TIMEOUT = 10


def connect(url, **kwargs):
    kwargs.setdefault("max_size", 8 * MIB)
    return websockets.connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, ping_interval=None, **kwargs)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


def describe(message):
    """A received message as JSON: its type, and its text or hex bytes."""
    if isinstance(message, str):
        return {"type": "text", "text": message}
    return {"type": "binary", "hex": bytes(message).hex()}


def sha256(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


async def closed_by_server(ws):
    """Reads until the server's close; returns the close frame it sent and the code the client keeps."""
    try:
        while True:
            await recv(ws)
    except ConnectionClosed as closed:
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        rcvd = closed.rcvd
        return {
            "code": None if rcvd is None else rcvd.code,
            "reason": None if rcvd is None else rcvd.reason,
            "close_code": ws.close_code,
        }


async def scenario_echo(url, args):
    """Sends each message of args["messages"] ({"text": s} or {"hex": h}) and returns the replies."""
    replies = []
    async with connect(url) as ws:
        for message in args["messages"]:
            await ws.send(message["text"] if "text" in message else bytes.fromhex(message["hex"]))
            replies.append(describe(await recv(ws)))
    return {"replies": replies}


async def scenario_big(url, args):
    """1 MiB text and 1 MiB binary out, both echoed back."""
    pattern = args["pattern"]
    unit = len(pattern.encode("utf-8"))
    text = pattern * (MIB // unit) + "x" * (MIB - (MIB // unit) * unit)
    data = random.Random(44).randbytes(MIB)
    async with connect(url) as ws:
        await ws.send(text)
        await ws.send(data)
        echoed_text = await recv(ws)
        echoed_data = await recv(ws)
    return {
        "sent_text_bytes": len(text.encode("utf-8")),
        "text_type": type(echoed_text).__name__,
        "text_equal": echoed_text == text,
        "sent_binary_bytes": len(data),
        "binary_type": type(echoed_data).__name__,
        "binary_equal": echoed_data == data,
    }


async def scenario_fragments(url, args):
    """A text message sent as a list of str fragments, a binary one from an async generator
    with a ping between its fragments."""
    text_fragments = args["text_fragments"]
    data = random.Random(45).randbytes(200_000)
    async with connect(url) as ws:
        await ws.send(text_fragments)
        echoed_text = await recv(ws)

        pong = None

        async def binary_fragments():
            nonlocal pong
            for start in range(0, len(data), 30_000):
                if start == 60_000:
                    pong = await ws.ping(b"between fragments")
                yield data[start:start + 30_000]

        await ws.send(binary_fragments())
        echoed_data = await recv(ws)
        await asyncio.wait_for(pong, TIMEOUT)
    return {
        "text": echoed_text,
        "text_equal": echoed_text == "".join(text_fragments),
        "binary_equal": echoed_data == data,
        "binary_bytes": len(echoed_data),
        "pong_received": True,
    }


async def scenario_ferry_fragments(url, args):
    """Asks ferry for messages larger than its maxFrameSize; reports their digests."""
    async with connect(url) as ws:
        await ws.send("cmd:big:%d" % args["repeats"])
        text = await recv(ws)
        await ws.send("cmd:bigbin:%d" % args["length"])
        data = await recv(ws)
    return {
        "text_type": type(text).__name__,
        "text_sha256": sha256(text),
        "binary_type": type(data).__name__,
        "binary_sha256": sha256(data),
    }


async def scenario_keepalive(url, args):
    """Stays connected while ferry pings, then asks how many pongs ferry got."""
    async with connect(url) as ws:
        await asyncio.sleep(args["wait_ms"] / 1000)
        await ws.send("cmd:pongs")
        return {"pongs": int(await recv(ws)), "open": ws.open}


async def scenario_subprotocol(url, args):
    async with connect(url, subprotocols=args["offer"]) as ws:
        await ws.send("cmd:protocol")
        ferry_says = await recv(ws)
        return {"subprotocol": ws.subprotocol, "ferry_says": ferry_says}


async def scenario_ping(url, args):
    async with connect(url) as ws:
        pong = await ws.ping(args["payload"].encode("utf-8"))
        await asyncio.wait_for(pong, TIMEOUT)
    return {"pong_received": True}


async def scenario_close_from_peer(url, args):
    async with connect(url) as ws:
        await asyncio.wait_for(ws.close(code=args["code"], reason=args["reason"]), TIMEOUT)
        return {"close_code": ws.close_code, "close_reason": ws.close_reason}


async def scenario_close_from_server(url, args):
    async with connect(url) as ws:
        await ws.send(args["command"])
        return await closed_by_server(ws)


async def scenario_wait_close(url, args):
    """Connects and reads until the server closes."""
    async with connect(url) as ws:
        return await closed_by_server(ws)


async def scenario_refused(url, args):
    try:
        async with connect(url, origin=args["origin"]):
            return {"status": 101}
    except InvalidStatusCode as refused:
        return {"status": refused.status_code}


SCENARIOS = {
    "echo": scenario_echo,
    "big": scenario_big,
    "fragments": scenario_fragments,
    "ferry_fragments": scenario_ferry_fragments,
    "subprotocol": scenario_subprotocol,
    "keepalive": scenario_keepalive,
    "ping": scenario_ping,
    "close_from_peer": scenario_close_from_peer,
    "close_from_server": scenario_close_from_server,
    "wait_close": scenario_wait_close,
    "refused": scenario_refused,
}


def main():
    name, url = sys.argv[1], sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    result = asyncio.run(asyncio.wait_for(SCENARIOS[name](url, args), 3 * TIMEOUT))
    result["websockets_version"] = websockets.__version__
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
