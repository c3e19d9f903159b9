"""Soak: the real service under mixed, realistic traffic for minutes, then checks that nothing piled up.

    python -m bench soak [--minutes 10] [--rate 4] [--users 300] [--pg] [--fault-rate 0.1]

The service runs as in production (`python -m bot.processes --workers 1`, SQLite by default,
scheduler on, INFO log), its WeChat API pointed at bench/fake_server.py (50 ms a call) with 10%
of the message sends and photo downloads failing (HTTP 500/503, no answer past the 10-s client
timeout, errcode -1, errcode 45015) and every access token revoked each minute (40001).

Traffic (bench/soak_flows.py), paced open-loop at `--rate` messages a second in total:
`--users` workers and 30 chairs (bound at seed time), each in at most one session at a time,
each session one flow — hardship application with photos, sign-up, monthly quiz, a question for
staff (留言, sometimes voice or a photo), browsing (menu, my requests, scores; clicks, voice),
and for chairs the quarterly report (first filing, then corrections with 沿用). Everyone follows
the account first. 5% of the messages are re-sent by "WeChat" after the answer, a third of that
share twice at once while the first is in flight. Three staff members use the admin site over
HTTP (login form, CSRF, cookies): one starts reviewing and approves submitted hardship requests,
one answers waiting questions in the inbox, one moves an activity to another room every few
minutes (everyone signed up is told: a burst of outbox rows); each logs out and in again every
5 minutes. The data the flows need is seeded first: a staff account, three open activities, this
month's quiz question, 30 chairs.

Checks, each printed PASS/FAIL (exit 1 on any FAIL):
- every MsgId answered 200 has exactly one inbound row, finished; none for MsgIds never answered;
- re-sends got the first reply's bytes; rows stored = flows completed (applications, photos the
  summary listed, sign-ups, quiz answers, chair reports) — nothing processed twice or lost;
- every request answered 200 (admin: 200/303), no flow stuck on an unexpected reply;
- after the load, every outbox row in a final state (waiting up to 4 minutes for back-offs), and
  no message delivered twice to the fake API;
- the worker's RSS (sampled every 5 s) flat after warm-up: median of the second half of the
  run after warm-up within max(8 MB, 5%) of the first half's;
- disk: database + media growth per request in the second half within 1.5x the first half's
  (data is kept, so disk grows with the work; it must not grow faster), WAL under 64 MB;
- no ERROR or Traceback in the server log (WARNING lines are summarised by logger).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import aiohttp

from bench.common import PY, TOKEN, create_schema, fake_stats, free_port, pg_database, process, tempdir, write_config
from bench.soak_flows import FLOWS, Http, Pacer, Recorder, Staff, Stop, Stuck, Talker
from bench.sustained import rss_mb, server_pid, size_mb

STAFF_USER, STAFF_PASSWORD = "soakadmin", "soak-Passw0rd-2026"
FIELD_KEY = "87O73SCa9t2nJW-ZYrMI5T_qFxMmRvNMS1KWCg_e_Fs="  # a fixed Fernet key (bench data only)
COMMUNITIES = ["东湖社区", "西园社区"]
CHAIRS = 30


def chair_openid(i: int) -> str:
    return f"oSoakChair{i:03d}"


def worker_openid(i: int) -> str:
    return f"oSoakWorker{i:04d}"


async def seed_data(db: str, tz: str = "Asia/Shanghai") -> list[dict]:
    """What the flows need: a staff account, open activities, this month's quiz question, bound chairs."""
    from bot.admin import staff as staff_ops
    from bot.clock import Clock
    from bot.config import build_settings
    from bot.db.engine import make_engine, make_sessionmaker
    from bot.operations import OpsContext
    from handlers.chairs import ops as chairs
    from handlers.quiz import ops as quiz
    from handlers.signup import ops as signup

    clock = Clock(tz)
    settings = build_settings({"federation": {"communities": COMMUNITIES}}, env={})
    ctx = OpsContext(clock, settings)
    now = clock.now()
    local = now.astimezone(ctx.tz)
    eng = make_engine(db)
    activities: list[dict] = []
    async with make_sessionmaker(eng)() as s, s.begin():
        await staff_ops.create_staff(s, STAFF_USER, STAFF_PASSWORD, "浸泡测试", now, roles=["admin"])
        for i, (kind, title) in enumerate([("training", "电工技能培训"), ("event", "职工健步走"),
                                           ("training", "劳动法讲座")]):
            starts = (local + timedelta(days=20 + i)).replace(hour=14, minute=0, second=0, microsecond=0)
            act = await signup.create_activity(s, ctx, kind=kind, title=title, description="浸泡测试活动",
                                               place="街道职工之家", starts_at=starts,
                                               ends_at=starts + timedelta(hours=2), capacity=5000, deadline=None,
                                               waitlist=True, audience="辖区企业职工")
            activities.append({"id": act.id, "kind": kind, "title": title, "starts_at": f"{starts:%Y-%m-%dT%H:%M}",
                               "ends_at": f"{starts + timedelta(hours=2):%Y-%m-%dT%H:%M}", "capacity": "5000",
                               "waitlist": "1", "audience": "辖区企业职工", "description": "浸泡测试活动"})
        q = await quiz.create_question(s, ctx, stem="建立基层工会委员会的最低会员人数是？",
                                       options=["10人", "25人", "50人"], answer="B",
                                       explanation="会员25人以上建立基层工会委员会。", topic="工会法", difficulty="易")
        await quiz.create_period(s, ctx, f"{local.year}-{local.month:02d}", question_ids=[q.id])
        for i in range(CHAIRS):
            name = "王主席" + "甲乙丙丁戊己庚辛壬癸"[i % 10] + "一二三"[i // 10 % 3]  # names take no digits
            c = await chairs.add_chair(s, ctx, name=name, organisation=f"第{i + 1}电子厂工会",
                                       community=COMMUNITIES[i % 2], mobile=f"138{i:08d}")
            c.openid = chair_openid(i)  # bound, as `绑定 <code>` would leave it
    await eng.dispose()
    return activities


def config(d: Path, db: str, port: int, fake_port: int) -> Path:
    path = write_config(
        d, db, port,
        wechat={"token": TOKEN, "app_id": "wxfake", "app_secret": "fake-secret",
                "api_base_url": f"http://127.0.0.1:{fake_port}"},
        admin={"field_key": FIELD_KEY},
        federation={"communities": COMMUNITIES},
        scheduler={"enabled": True},
    )
    # a staff message refused with 45015 (window closed) goes out as a template instead
    with path.open("a", encoding="utf-8") as f:
        f.write('[wechat.templates]\nhardship_status = "TPL-HARDSHIP"\ninbox_reply = "TPL-INBOX"\n')
    return path


# ---- the traffic ------------------------------------------------------------------------------

WORKER_FLOWS = {"hardship": 1.0, "signup": 2.0, "quiz": 2.0, "question": 1.5, "browse": 3.0}
CHAIR_FLOWS = {"chair_report": 3.0, "quiz": 1.0, "browse": 1.0}
# seconds between staff actions: review a hardship request, answer a question, move an activity
# (everyone signed up is told: a burst of outbox rows), log out and in again
STAFF_EVERY = {"hardship": 20.0, "inbox": 12.0, "events": 150.0, "relogin": 300.0}


async def people(base: str, rate: float, users: int, stop_at: float, rec: Recorder, rng: random.Random,
                 resend_p: float) -> None:
    """Workers and chairs in sessions: each session picks an idle person and one flow; the pacer spaces
    every message of every session (so about `rate` messages a second however many sessions wait)."""
    from bot.wechat.simulator import WeChatSim

    conn = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=30)) as http:
        sim = WeChatSim(Http(http, base), token=TOKEN, app_id="wxfake", account="gh_bench")
        pacer = Pacer(rate, rng, stop_at)
        idle = [worker_openid(i) for i in range(users)] + [chair_openid(i) for i in range(CHAIRS)]
        talkers = {o: Talker(sim, o, rec, pacer, rng, resend_p) for o in idle}
        applied: set[str] = set()  # one hardship application per worker
        followed: set[str] = set()  # everyone follows the account before their first message

        async def session() -> None:
            while True:
                openid = idle.pop(rng.randrange(len(idle)))
                t = talkers[openid]
                table = CHAIR_FLOWS if "Chair" in openid else WORKER_FLOWS
                name = rng.choices(list(table), list(table.values()))[0]
                if name == "hardship" and openid in applied:
                    name = "browse"
                try:
                    if openid not in followed:
                        followed.add(openid)
                        await t.follow()
                    await FLOWS[name](t)
                    if name == "hardship":
                        applied.add(openid)
                except Stuck as exc:
                    rec.stuck_at(name, str(exc))
                    with contextlib.suppress(Stuck, Stop):  # leave the dialogue; Stop: the next pass returns
                        await t.send("取消")
                except Stop:
                    return
                finally:
                    idle.append(openid)

        await asyncio.gather(*(session() for _ in range(max(4, round(rate * 12)))))


async def staff(base: str, stop_at: float, rec: Recorder, rng: random.Random, activities: list[dict]) -> None:
    """Three staff members: one reviews hardship requests, one answers the inbox, one moves an activity
    to another room now and then; each logs out and in again every few minutes."""
    moves = 0

    async def act(s: Staff, kind: str) -> None:
        nonlocal moves
        if kind == "hardship":
            await s.review_hardship()
        elif kind == "inbox":
            await s.answer_inbox(rng)
        else:
            moves += 1
            a = activities[moves % len(activities)]
            await s.edit_activity(a["id"], {**{k: v for k, v in a.items() if k != "id"},
                                            "place": f"街道职工之家{moves}号活动室"})

    async def member(kind: str) -> None:
        s = Staff(base, STAFF_USER, STAFF_PASSWORD, rec)
        try:
            await s.login()
            last_login = time.monotonic()
            while time.monotonic() + STAFF_EVERY[kind] < stop_at:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * STAFF_EVERY[kind])
                try:
                    if time.monotonic() - last_login > STAFF_EVERY["relogin"]:
                        await s.logout()
                        await s.login()
                        last_login = time.monotonic()
                    await act(s, kind)
                except (Stuck, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    rec.stuck_at(f"staff.{kind}", str(exc))
        finally:
            await s.close()

    await asyncio.gather(member("hardship"), member("inbox"), member("events"))


# ---- measuring ----------------------------------------------------------------------------------

def dir_bytes(path: Path) -> int:
    total = 0
    for p in path.rglob("*") if path.exists() else []:
        with contextlib.suppress(OSError):
            if p.is_file():
                total += p.stat().st_size
    return total


async def sampler(pid: int, d: Path, dbfile: Path | None, pg_url: str | None, t0: float, stop_at: float,
                  rec: Recorder, samples: list[dict], every: float = 5.0) -> None:
    """RSS of the serving process and disk (database + WAL + media) every `every` seconds."""
    pg_size = None
    if pg_url:
        from sqlalchemy import text

        from bot.db.engine import make_engine
        eng = make_engine(pg_url)

        async def pg_size() -> float:
            async with eng.connect() as c:
                return (await c.scalar(text("SELECT pg_database_size(current_database())"))) / 1e6
    try:
        while time.monotonic() < stop_at:
            db_mb = await pg_size() if pg_size else size_mb(dbfile)
            wal_mb = size_mb(Path(f"{dbfile}-wal")) if dbfile else 0.0
            samples.append({"t": time.monotonic() - t0, "rss": rss_mb(server_pid(pid)), "db": db_mb, "wal": wal_mb,
                            "media": dir_bytes(d / "data" / "media") / 1e6, "sent": rec.sent})
            await asyncio.sleep(every)
    finally:
        if pg_url:
            await eng.dispose()


async def run_traffic(base: str, pid: int, d: Path, dbfile: Path | None, pg_url: str | None, seconds: float,
                      rate: float, users: int, seed: int, resend_p: float,
                      activities: list[dict]) -> tuple[Recorder, list[dict]]:
    rec, samples = Recorder(), []
    rng = random.Random(seed)
    t0 = time.monotonic()
    stop_at = t0 + seconds
    progress = asyncio.create_task(report_progress(rec, samples, t0, stop_at))
    await asyncio.gather(people(base, rate, users, stop_at, rec, rng, resend_p),
                         staff(base, stop_at, rec, rng, activities),
                         sampler(pid, d, dbfile, pg_url, t0, stop_at + 1, rec, samples))
    progress.cancel()
    return rec, samples


async def report_progress(rec: Recorder, samples: list[dict], t0: float, stop_at: float) -> None:
    while time.monotonic() < stop_at:
        await asyncio.sleep(60)
        if samples:
            s = samples[-1]
            print(f"  {s['t'] / 60:5.1f} min  sent {rec.sent:6d}  RSS {s['rss']:6.1f} MB  db {s['db']:6.2f} MB  "
                  f"wal {s['wal']:5.2f} MB  media {s['media']:5.2f} MB  flows {sum(rec.flows.values())}"
                  f"  stuck {sum(rec.stuck.values())}  errors {sum(rec.errors.values())}", flush=True)


# ---- after the load -------------------------------------------------------------------------------

FINAL = {"sent", "simulated", "failed", "unreachable", "uncertain", "cancelled"}


async def outbox_open(db: str) -> dict[str, int]:
    from sqlalchemy import func, select

    import bot.db.models  # noqa: F401
    from bot.db.engine import make_engine
    from bot.db.models import Outbox

    eng = make_engine(db)
    try:
        async with eng.connect() as c:
            return dict((await c.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all())
    finally:
        await eng.dispose()


async def stored(db: str) -> dict:
    """What the service stored: inbound rows by MsgId, the flows' rows, outbox rows by status and purpose."""
    from sqlalchemy import func, select

    import bot.db.models  # noqa: F401
    from bot.db.engine import make_engine
    from bot.db.models import InboundMessage, Outbox
    from bot.db.models.chairs import ChairReport
    from bot.db.models.hardship import HardshipPhoto, HardshipRequest
    from bot.db.models.inbox import InboxMessage
    from bot.db.models.quiz import QuizAnswer
    from bot.db.models.signup import Signup

    eng = make_engine(db)
    out: dict = {}
    try:
        async with eng.connect() as c:
            rows = (await c.execute(select(InboundMessage.key, InboundMessage.status))).all()
            out["inbound"] = {k: st for k, st in rows}
            for name, model in (("hardship_request", HardshipRequest), ("hardship_photo", HardshipPhoto),
                                ("signup", Signup), ("quiz_answer", QuizAnswer), ("chair_report", ChairReport),
                                ("inbox_message", InboxMessage)):
                out[name] = await c.scalar(select(func.count()).select_from(model))
            out["photos"] = dict((await c.execute(select(HardshipPhoto.status, func.count())
                                                  .group_by(HardshipPhoto.status))).all())
            out["outbox"] = dict((await c.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all())
            out["purposes"] = dict((await c.execute(select(Outbox.purpose, func.count())
                                                    .group_by(Outbox.purpose))).all())
    finally:
        await eng.dispose()
    return out


def drain(db: str, limit: float) -> tuple[float, dict[str, int]]:
    """Wait until no outbox row is pending or sending (retries back off up to ~1 min)."""
    t0 = time.monotonic()
    while True:
        by = asyncio.run(outbox_open(db))
        if not (by.get("pending") or by.get("sending")) or time.monotonic() - t0 > limit:
            return time.monotonic() - t0, by
        time.sleep(3)


def halves(samples: list[dict], warmup: float) -> tuple[list[dict], list[dict]]:
    after = [s for s in samples if s["t"] >= warmup]
    mid = len(after) // 2
    return after[:mid], after[mid:]


def log_findings(log: Path, shutdown_at: int) -> tuple[list[str], dict[str, int], dict[str, tuple[int, str]]]:
    """ERROR lines and tracebacks (their first and last lines; marked when written after the SIGTERM at
    byte `shutdown_at`), line counts by level, and WARNING lines by logger (count, one example)."""
    bad, levels, warnings = [], {}, {}
    raw = log.read_bytes()
    lines = [("", ln) for ln in raw[:shutdown_at].decode("utf-8", "replace").splitlines()]
    lines += [("[at shutdown] ", ln) for ln in raw[shutdown_at:].decode("utf-8", "replace").splitlines()]
    in_traceback = False
    for mark, ln in lines:
        parts = ln.split(" ", 4)
        level = parts[2] if len(parts) > 2 and parts[2] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else ""
        if level:
            levels[level] = levels.get(level, 0) + 1
            in_traceback = False
        if level == "WARNING" and len(parts) > 4:
            n, example = warnings.get(parts[3], (0, parts[4][:160]))
            warnings[parts[3]] = (n + 1, example)
        if level in ("ERROR", "CRITICAL") or ln.startswith("Traceback"):
            bad.append(mark + ln[:300])
            in_traceback = in_traceback or ln.startswith("Traceback")
        elif in_traceback and ln and not ln.startswith(" "):  # the exception itself
            bad.append(mark + ln[:300])
    return bad, levels, warnings


def check_lines(rec: Recorder, st: dict, samples: list[dict], warmup: float, drained: dict, fake: dict,
                log: tuple) -> list:
    inbound = st["inbound"]
    missing = [m for m in rec.ok_msgids if f"m:{m}" not in inbound]
    unfinished = [m for m in rec.ok_msgids if inbound.get(f"m:{m}") in ("processing", "failed")]
    extra = [k for k in inbound if k.startswith("m:") and k[2:] not in rec.ok_msgids]
    events_missing = [k for k in rec.ok_events if k not in inbound]
    events_extra = [k for k in inbound if k.startswith("e:") and k not in rec.ok_events]
    kinds = ("hardship_request", "hardship_photo", "signup", "quiz_answer", "chair_report")
    off = {k: (st[k], rec.expected[k]) for k in kinds if st[k] != rec.expected[k]}
    first, second = halves(samples, warmup)
    checks = []
    checks.append((f"{len(rec.ok_msgids)} MsgIds answered 200: {len(rec.ok_msgids) - len(missing)} stored once, "
                   f"missing {len(missing)}, unfinished/failed {len(unfinished)}, rows for MsgIds never answered "
                   f"{len(extra)}; events (follow, click) {len(rec.ok_events)}: missing {len(events_missing)}, "
                   f"extra {len(events_extra)}", "every MsgId (and event) one inbound row, done",
                   not (missing or unfinished or extra or events_missing or events_extra)))
    checks.append((f"{rec.resends} re-sends: {len(rec.resend_mismatch)} got a different reply; stored rows vs flows "
                   + ", ".join(f"{k} {st[k]}/{rec.expected[k]}" for k in kinds),
                   "re-sends answered from the first; rows = completed flows", not rec.resend_mismatch and not off))
    checks.append((f"HTTP errors {dict(rec.errors) or 0}; flows stuck {dict(rec.stuck) or 0}",
                   "every request 200/303, every flow finished", not rec.errors and not rec.stuck))
    checks.append((f"outbox after drain {drained}; delivered twice (same text to the same user) "
                   f"{fake['repeated_pairs']}", "every row final (" + "/".join(sorted(FINAL)) + "), none twice",
                   set(drained) <= FINAL and not fake["repeated_pairs"]))
    if first and second:
        r1, r2 = statistics.median(s["rss"] for s in first), statistics.median(s["rss"] for s in second)
        tol = max(RSS_TOL_MB, RSS_TOL_SHARE * r1)
        per_k = (r2 - r1) * 1000 / max(1, msgs(first + second) / 2)
        peak = max(samples, key=lambda x: x["rss"])
        checks.append((f"worker RSS median {r1:.1f} MB (first half after warm-up) -> {r2:.1f} MB (second half) = "
                       f"{per_k * 1000:+.0f} KB per 1,000 requests, max {peak['rss']:.1f} MB at {peak['t']:.0f} s",
                       f"flat: +{tol:.0f} MB at most", r2 - r1 <= tol))
        g1, g2 = growth_per_msg(first), growth_per_msg(second)
        wal_max = max(s["wal"] for s in samples)
        checks.append((f"disk (db + media) per request {g1:.0f} B (first half) -> {g2:.0f} B (second half); "
                       f"WAL max {wal_max:.1f} MB; end: db {samples[-1]['db']:.1f} MB, "
                       f"media {samples[-1]['media']:.2f} MB",
                       f"growth per request <= {DISK_TOL:.1f}x the first half's (+{DISK_SLACK_KB} KB), WAL < 64 MB",
                       g2 <= DISK_TOL * g1 + DISK_SLACK_KB * 1024 / max(1, msgs(second)) and wal_max < 64))
    else:
        checks.append((f"memory and disk not judged: the run is not longer than the {warmup:.0f}-s warm-up",
                       "a longer run", None))
    bad, levels, _ = log
    at_stop = sum(x.startswith("[at shutdown]") for x in bad)
    checks.append((f"server log lines by level {levels}; ERROR/Traceback lines {len(bad)} "
                   f"({at_stop} of them after SIGTERM)",
                   "no ERROR, no Traceback", not bad))
    return checks


RSS_TOL_MB, RSS_TOL_SHARE = 8.0, 0.05
DISK_TOL, DISK_SLACK_KB = 1.5, 256


def msgs(part: list[dict]) -> int:
    return max(0, part[-1]["sent"] - part[0]["sent"]) if part else 0


def growth_per_msg(part: list[dict]) -> float:
    def disk(s: dict) -> float:
        return (s["db"] + s["media"]) * 1e6  # the WAL comes and goes with checkpoints: bounded apart
    n = msgs(part)
    return (disk(part[-1]) - disk(part[0])) / n if n else 0.0


def bench_soak(minutes: float = 10.0, rate: float = 4.0, users: int = 300, pg: bool = False, seed: int = 15,
               fault_rate: float = 0.1, resend_p: float = 0.05) -> dict:
    seconds = minutes * 60
    # warm-up: the first applications reach staff after ~3 min (15 messages ~12 s apart), so the review
    # pages, photo downloads and their notices are first used then
    warmup = max(180.0, 0.2 * seconds)
    backend = "PostgreSQL" if pg else "SQLite"
    print(f"soak: the full service ({backend}, scheduler on) for {minutes:g} min at ~{rate:g} msg/s "
          f"from {users} workers "
          f"and {CHAIRS} chairs, 3 staff on the admin site; fake WeChat API with {fault_rate:.0%} of sends failing "
          f"(5xx / timeout / errcode) and tokens expired every 60 s; warm-up {warmup:.0f} s", flush=True)
    with tempdir() as d, (pg_database() if pg else contextlib.nullcontext(None)) as pg_url:
        d = Path(d)
        dbfile = None if pg else d / "soak.db"
        db = pg_url or f"sqlite+aiosqlite:///{dbfile}"
        create_schema(db)
        activities = asyncio.run(seed_data(db))
        port, fport, sport = free_port(), free_port(), free_port()
        cfg = config(d, db, port, fport)
        log = d / "server.log"
        with process([PY, "-m", "bench.fake_server", "--port", str(fport), "--stats-port", str(sport),
                      "--latency", "0.05", "--fault-rate", str(fault_rate), "--expire-tokens-every", "60",
                      "--media-kb", "64"],
                     port=sport, ready_path="/", log=d / "fake.log"), \
             process([PY, "-m", "bot.processes", "--config", str(cfg), "--workers", "1", "--log-level", "INFO"],
                     cwd=d, port=port, ready_path="/healthz", log=log) as p:
            rec, samples = asyncio.run(run_traffic(f"http://127.0.0.1:{port}", p.pid, d, dbfile, pg_url, seconds,
                                                   rate, users, seed, resend_p, activities))
            print(f"  load stopped after {samples[-1]['t']:.0f} s: {rec.sent} requests ({rec.sent / seconds:.2f}/s), "
                  f"flows {dict(rec.flows)}, staff {dict(rec.staff)}", flush=True)
            took, drained = drain(db, 240.0)
            print(f"  outbox drained in {took:.0f} s", flush=True)
            fake = fake_stats(sport)
            st = asyncio.run(stored(db))
            shutdown_at = log.stat().st_size  # what the log says after this comes from the SIGTERM
        findings = log_findings(log, shutdown_at)
    checks = check_lines(rec, st, samples, warmup, drained, fake, findings)
    lat = sorted(rec.latencies)
    print(f"  reply latency p50 {lat[len(lat) // 2] * 1000:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms, "
          f"max {lat[-1] * 1000:.0f} ms" if lat else "  no replies")
    print(f"  outbox rows by purpose {st['purposes']}; by status {st['outbox']}; staff actions expected "
          f"{rec.expected['staff_outbox']} messages")
    print(f"  fake WeChat: {fake['calls']} calls, {fake['delivered']} delivered, injected faults {fake['faults']}, "
          f"tokens expired {fake['tokens_expired']}x, same text to the same user twice {fake['repeated_pairs']}")
    print(f"  hardship photos by status {st['photos']}; inbox messages {st['inbox_message']}")
    first, second = halves(samples, warmup)
    for label, part in (("first half", first), ("second half", second)):
        if part:
            print(f"  {label:<11} {part[0]['t']:5.0f}-{part[-1]['t']:5.0f} s: RSS {min(s['rss'] for s in part):.1f}-"
                  f"{max(s['rss'] for s in part):.1f} MB, db {part[0]['db']:.2f}->{part[-1]['db']:.2f} MB, WAL max "
                  f"{max(s['wal'] for s in part):.2f} MB, media {part[0]['media']:.2f}->{part[-1]['media']:.2f} MB, "
                  f"{msgs(part)} requests")
    for what, target, ok in checks:
        print(f"  {'SKIP' if ok is None else 'PASS' if ok else 'FAIL'}  {what}   (target: {target})")
    for flow, sample in rec.stuck_samples.items():
        print(f"  stuck in {flow}: {sample!r}")
    for logger, (n, example) in sorted(findings[2].items()):
        print(f"  log WARNING x{n} {logger} e.g. {example}")
    for ln in findings[0][:12]:
        print(f"  log: {ln}")
    return {"passed": all(ok is not False for *_, ok in checks), "sent": rec.sent, "msgids": len(rec.ok_msgids),
            "outbox": st["outbox"], "samples": samples, "fake": fake}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench soak")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=4.0, help="messages per second, all users together")
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--fault-rate", type=float, default=0.1, help="share of WeChat API sends that fail")
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args(argv)
    r = bench_soak(args.minutes, args.rate, args.users, args.pg, args.seed, args.fault_rate)
    return 0 if r["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
