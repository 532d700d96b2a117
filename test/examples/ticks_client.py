# Prints the ticks of two instruments from a running tickpipe. Needs `pip install websockets`.
import asyncio, json, os
from urllib.parse import quote
import websockets

URL = os.environ.get("TICKPIPE_URL", "ws://127.0.0.1:3000/ticks")
KEYS = ["NSE_EQ|INE002A01018", "NSE_INDEX|Nifty Bank"]
TOKEN = os.environ.get("API_TOKEN")

async def main():
    query = "?keys=" + quote(",".join(KEYS)) + ("&token=" + quote(TOKEN) if TOKEN else "")
    async with websockets.connect(URL + query) as ws:
        async for raw in ws:
            msg = json.loads(raw)
            if msg["type"] == "tick":
                print("snapshot" if msg.get("snapshot") else "live", msg["key"], msg["ts"], msg["ltp"], flush=True)
            else:
                print(msg["type"], raw, flush=True)  # market_status, error
asyncio.run(main())
