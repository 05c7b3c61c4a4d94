"""A Python `websockets` client with permessage-deflate on, for tests/deflate_python.rs.

Joins room "mixed", says it is ready, publishes one message, then prints each
of the first N message events it receives as one JSON line.
"""
import asyncio
import json
import sys

from websockets.asyncio.client import connect


async def main(url: str, n: int) -> None:
    async with connect(url, compression="deflate", max_size=1 << 20) as ws:
        print(json.dumps({"extensions": ws.response.headers.get("Sec-WebSocket-Extensions")}), flush=True)
        await ws.send(json.dumps({"action": "join", "room": "mixed"}))
        while json.loads(await ws.recv())["event"] != "room":
            pass
        print(json.dumps({"ready": True}), flush=True)
        await ws.send(json.dumps({"action": "publish", "room": "mixed", "message": "from python " * 60}))
        got = 0
        while got < n:
            event = json.loads(await ws.recv())
            if event["event"] == "message":
                print(json.dumps(event), flush=True)
                got += 1


asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2])), 30))
