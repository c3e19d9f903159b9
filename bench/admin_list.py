"""Admin: the hardship list page with 100,000 hardship requests in the database, p95 latency
(target < 100 ms). The server runs as `python -m bot.processes --workers 1` on SQLite; a logged-in
staff session in this process loads list pages (first, deep, filtered, searched) with 4 connections.

    python -m bench admin [--rows 100000] [--n 400]
"""
from __future__ import annotations

import argparse
import asyncio
import re
from html import unescape as html_unescape
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench.common import PY, create_schema, free_port, process, tempdir, write_config
from bench.load import percentile

USER, PASSWORD = "benchadmin", "bench-password-123"


async def seed(db: str, rows: int) -> None:
    from sqlalchemy import insert

    import bot.db.models  # noqa: F401
    from bot.admin import staff as staff_ops
    from bot.clock import Clock
    from bot.db.engine import make_engine, make_sessionmaker
    from bot.db.models.hardship import HardshipRequest

    eng = make_engine(db)
    sm = make_sessionmaker(eng)
    now = Clock().now()
    kinds = ("因病", "因灾", "子女就学", "失业待岗", "工伤", "其他")
    statuses = ("submitted", "reviewing", "approved", "rejected", "paid")
    async with sm() as s, s.begin():
        await staff_ops.create_staff(s, USER, PASSWORD, "压测干事", now)
        for start in range(0, rows, 10_000):
            await s.execute(insert(HardshipRequest), [
                {"ref": f"BF-2026-{i:06d}", "openid": f"oAdm{i % 20000:05d}", "status": statuses[i % 5],
                 "kind": kinds[i % 6], "description": "家中有人住院，开销大", "household_size": 3,
                 "monthly_income": 3000.0, "fixed_expenses": 500.0, "per_capita": 833.3, "dibao": 1200.0,
                 "tier": "相对困难" if i % 3 else "深度困难", "name": f"职工{i}", "phone": "13800138000",
                 "employer": f"单位{i % 300}", "created_at": now - timedelta(minutes=i),
                 "updated_at": now - timedelta(minutes=i)}
                for i in range(start, min(rows, start + 10_000))])
    await eng.dispose()


async def drive(base: str, n: int, concurrency: int = 4) -> tuple[list[float], dict[str, int]]:
    import aiohttp

    paths = ["/admin/hardship", "/admin/hardship?page=50", "/admin/hardship?status=submitted",
             "/admin/hardship?q=%E8%81%8C%E5%B7%A5123", "/admin/hardship?tier=%E6%B7%B1%E5%BA%A6%E5%9B%B0%E9%9A%BE"]
    lat: list[float] = []
    statuses: dict[str, int] = {}
    # unsafe=True: keep cookies from an IP address (127.0.0.1)
    async with aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        html = await (await http.get("/admin/login")).text()
        token = html_unescape(re.search(r'name="_csrf"\s+value="([^"]+)"', html).group(1))  # type: ignore[union-attr]
        r = await http.post("/admin/login", data={"_csrf": token, "username": USER, "password": PASSWORD,
                                                  "next": "/admin/"}, allow_redirects=False)
        assert r.status == 303, f"login refused: {r.status}"
        it = iter(range(n))

        async def one() -> None:
            for i in it:
                t0 = time.perf_counter()
                async with http.get(paths[i % len(paths)], allow_redirects=False) as resp:
                    await resp.read()
                    statuses[str(resp.status)] = statuses.get(str(resp.status), 0) + 1
                lat.append(time.perf_counter() - t0)

        await asyncio.gather(*(one() for _ in range(concurrency)))
    return sorted(lat), statuses


def bench_admin(rows: int = 100_000, n: int = 400) -> dict | None:
    print(f"(d) admin: hardship list page with {rows} hardship requests in SQLite, {n} page loads")
    try:
        import handlers.hardship  # noqa: F401
        import bot.db.models.hardship  # noqa: F401
    except ImportError as exc:
        print(f"  skipped: the hardship feature is not there yet ({exc})")
        return None
    with tempdir() as d:
        d = Path(d)
        db = f"sqlite+aiosqlite:///{d}/admin.db"
        create_schema(db)
        asyncio.run(seed(db, rows))
        port = free_port()
        cfg = write_config(d, db, port, scheduler={"enabled": False})
        with process([PY, "-m", "bot.processes", "--config", str(cfg), "--workers", "1", "--log-level", "WARNING"],
                     cwd=d, port=port, ready_path="/healthz", log=d / "server.log"):
            lat, statuses = asyncio.run(drive(f"http://127.0.0.1:{port}", n))
    p50, p95 = percentile(lat, 50) * 1000, percentile(lat, 95) * 1000
    print(f"  p50 {p50:.1f} ms   p95 {p95:.1f} ms   max {lat[-1] * 1000:.1f} ms   statuses {statuses}")
    print(f"  p95 = {p95:.1f} ms against the 100 ms target -> {'OK' if p95 < 100 else 'OVER'}")
    return {"p50": p50, "p95": p95, "statuses": statuses}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.admin_list")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--n", type=int, default=400)
    args = ap.parse_args(argv)
    bench_admin(args.rows, args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
