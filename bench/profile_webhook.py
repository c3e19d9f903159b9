"""Profile the full service under load with pyinstrument (the app in this process, load in another).

    python -m bench.profile_webhook [--n 3000] [--html out.html]
"""
from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

from aiohttp import web

from bench.common import PY, ROOT, TOKEN, create_schema, free_port, tempdir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profile_webhook")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--html", default="")
    ap.add_argument("--no-profile", action="store_true", help="only measure CPU use")
    ap.add_argument("--db", default="", help="database URL (default: a fresh SQLite file)")
    args = ap.parse_args(argv)
    from pyinstrument import Profiler

    from bot.app import create_app
    from bot.config import build_settings

    with tempdir() as d:
        db = args.db or f"sqlite+aiosqlite:///{d}/bench.db"
        create_schema(db)
        port = free_port()
        settings = build_settings({"server": {"port": port}, "wechat": {"token": TOKEN},
                                   "database": {"url": db},
                                   "admin": {"secret_key": "bench-secret-key-0123456789abcdef"},
                                   "scheduler": {"enabled": False}}, env={})
        import os
        os.chdir(d)
        profiler = Profiler(async_mode="disabled", interval=0.001)

        async def run() -> None:
            app = create_app(settings, scheduler=False)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            load = await asyncio.create_subprocess_exec(
                PY, "-m", "bench.load", "--url", f"http://127.0.0.1:{port}/wechat", "--n", str(args.n),
                "--warmup", "300", "--token", TOKEN, cwd=ROOT, stdout=subprocess.PIPE)
            await asyncio.sleep(2.0)  # let the warm-up pass
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if not args.no_profile:
                profiler.start()
            out, _ = await load.communicate()
            if not args.no_profile:
                profiler.stop()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            print(out.decode().strip())
            print(f"server process CPU {cpu:.1f} s over {wall:.1f} s wall ({100 * cpu / wall:.0f}% of one core, "
                  f"all threads incl. the aiosqlite thread)")
            await runner.cleanup()

        asyncio.run(run())
        os.chdir(ROOT)
    if args.no_profile:
        return 0
    print(profiler.output_text(unicode=True, color=False, show_all=False, timeline=False))
    if args.html:
        Path(args.html).write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    sys.exit(main())
