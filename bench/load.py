"""The load process: pre-signs N distinct WeChat text messages and posts them with C connections.

Runs in its own process (so the server under test has its CPU to itself as far as the
machine allows) and prints one JSON line of figures:

    python -m bench.load --url http://127.0.0.1:8080/wechat --n 5000 --concurrency 32
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import sys
import time

import aiohttp

TEXTS = ("你好", "菜单", "帮助", "我想问问", "谢谢")


def signed_params(token: str) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    sig = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": sig, "timestamp": timestamp, "nonce": nonce}


def body(openid: str, msg_id: int, text: str) -> bytes:
    return (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>").encode()


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[i]


def build_messages(n: int, users: int, msgid_base: int, repeat: int = 1,
                   first_user: int = 0) -> list[tuple[str, bytes]]:
    """(openid, body) pairs from users first_user .. first_user + users - 1; with repeat > 1 each
    message appears `repeat` times, spread out."""
    msgs = [(f"oBench{first_user + i % users:05d}",
             body(f"oBench{first_user + i % users:05d}", msgid_base + i, TEXTS[i % len(TEXTS)]))
            for i in range(n)]
    if repeat == 1:
        return msgs
    out: list[tuple[str, bytes]] = []
    for i in range(0, len(msgs), 16):  # each message re-sent right behind itself, like WeChat's retries
        out.extend(msgs[i:i + 16] * repeat)
    return out


async def drive(url: str, msgs: list[tuple[str, bytes]], concurrency: int, params: dict[str, str],
                timeout: float = 10.0, record: list | None = None) -> dict:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    it = iter(enumerate(msgs))
    conn = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async def one_connection() -> None:
            for idx, (openid, data) in it:
                t0 = time.perf_counter()
                try:
                    async with session.post(url, params={**params, "openid": openid}, data=data,
                                            headers={"Content-Type": "text/xml"}) as resp:
                        raw = await resp.read()
                        status = str(resp.status)
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    status, raw = type(exc).__name__, b""
                dt = time.perf_counter() - t0
                latencies.append(dt)
                statuses[status] = statuses.get(status, 0) + 1
                if record is not None:
                    record.append((idx, status, raw.decode("utf-8", "replace")[:400]))

        t0 = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "n": len(msgs), "concurrency": concurrency, "seconds": round(elapsed, 3),
        "rps": round(len(msgs) / elapsed, 1), "statuses": statuses,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2), "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2), "max_ms": round(latencies[-1] * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.load")
    ap.add_argument("--url", required=True)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--token", default="unionbot-bench-token")
    ap.add_argument("--msgid-base", type=int, default=None)
    ap.add_argument("--first-user", type=int, default=0,
                    help="number of the first user (several load processes each send as users of their own)")
    ap.add_argument("--repeat", type=int, default=1, help="deliver every message this many times")
    ap.add_argument("--record", default="", help="write (message index, status, reply) lines here as JSON")
    args = ap.parse_args(argv)
    base = args.msgid_base if args.msgid_base is not None else int(time.time() * 1000) * 1000
    warm = build_messages(args.warmup, args.users, base, first_user=args.first_user)
    msgs = build_messages(args.n, args.users, base + args.warmup, args.repeat, first_user=args.first_user)
    params = signed_params(args.token)
    record: list | None = [] if args.record else None

    async def run() -> dict:
        if warm:
            await drive(args.url, warm, args.concurrency, params)
        return await drive(args.url, msgs, args.concurrency, params, record=record)

    result = asyncio.run(run())
    if record is not None:
        with open(args.record, "w", encoding="utf-8") as f:
            for idx, status, raw in record:
                openid, data = msgs[idx]
                msg_id = data.split(b"<MsgId>")[1].split(b"</MsgId>")[0].decode()
                f.write(json.dumps({"msg_id": msg_id, "status": status, "reply": raw}, ensure_ascii=False) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
