"""Sharper tests for handlers/inbox/ops.py (mutation group `ops-inbox`): what a worker's messages
leave on their thread (subject, counters, waiting since, the stored message), the notice and
template a worker receives when a quiet consultation is closed, which threads the closing job
picks, the FAQ answer given once, and what 删除我的信息 deletes of the inbox.

The thread UPDATE a worker message runs is built once at import (`ops._TOUCH`); its builder
`ops._touch` is run here against the test database, as the statements are run."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from bot.db import prepared
from bot.db.models.core import Outbox
from bot.db.models.inbox import InboxMessage, InboxThread
from bot.keys import DELIVERY, PROCESSOR, SESSIONMAKER
from bot.wechat.simulator import WeChatSim
from handlers.inbox import ops, replies
from handlers.inbox.jobs import JOBS
from scheduler.setup import job_context
from tests.inbox.worker_helpers import clear_faq
from tests.support.admin import create_staff_user
from tests.support.fake_wechat import JPEG_BYTES
from tests.support.hardship import ops_ctx
from tests.support.inbox import add_thread, messages, outbox_rows, thread, threads
from tests.support.settings import make_settings

TEMPLATE_ID = "TPL-INBOX-NOTICE"


def close_job():  # noqa: ANN201
    return next(j for j in JOBS if j.id == "inbox.close_quiet")


async def put_thread(db, openid: str, *, at: datetime, subject: str = "", status: str = "open",  # noqa: ANN001
                     waiting: bool = False, waiting_since: datetime | None = None, unread: int = 0,
                     created_at: datetime | None = None, topic: str = "其他") -> int:
    """A thread row exactly as given (no messages)."""
    async with db() as s, s.begin():
        t = InboxThread(openid=openid, member_id=None, topic=topic, subject=subject, status=status, waiting=waiting,
                        waiting_since=waiting_since, unread=unread, created_at=created_at or at, last_message_at=at,
                        closed_at=at if status == "closed" else None,
                        closed_by="worker" if status == "closed" else None)
        s.add(t)
        await s.flush()
        return t.id


def shape(t: InboxThread) -> tuple:
    return t.subject, t.unread, t.last_message_at, t.waiting, t.waiting_since, t.status


async def answered(db, thread_id: int) -> None:  # noqa: ANN001
    """As a staff answer leaves a thread: not waiting, read."""
    async with db() as s, s.begin():
        t = await s.get(InboxThread, thread_id)
        t.waiting, t.waiting_since, t.unread = False, None, 0


# --- the thread UPDATE of a worker message (built once at import) ---------------------------

async def _touch(db, stmt, tid: int, now: datetime, new_subject: str) -> int:  # noqa: ANN001
    async with db() as s, s.begin():
        return await prepared.run(s, stmt, {"tid": tid, "now": now, "new_subject": new_subject})


async def test_a_worker_message_counts_unread_marks_waiting_and_names_a_thread_without_subject(db, clock) -> None:  # noqa: ANN001
    now = clock.now()
    old = now - timedelta(days=1)
    a = await put_thread(db, "oT1", at=old, subject="", unread=2, created_at=now)
    b = await put_thread(db, "oT2", at=old, subject="旧主题", waiting=True, waiting_since=old, unread=1)
    c = await put_thread(db, "oT3", at=old, subject=ops.PHOTO_SUBJECT)
    d = await put_thread(db, "oT4", at=old, subject="", status="closed")
    before = {i: shape(await thread(db, i)) for i in (b, c, d)}

    assert await _touch(db, ops._touch(True), a, now, "新主题") == 1
    ta = await thread(db, a)
    assert shape(ta) == ("新主题", 3, now, True, now, "open")
    assert {i: shape(await thread(db, i)) for i in (b, c, d)} == before  # only the message's thread
    async with db() as s:  # stored like every other timestamp (SQLite compares them as text)
        raw = (await s.execute(text("SELECT last_message_at, waiting_since, created_at FROM inbox_thread "
                                    "WHERE id = :id"), {"id": a})).one()
    assert raw[0] == raw[2] and raw[1] == raw[2]

    # Waiting already: waiting since stays; a subject stays whatever the new message says.
    assert await _touch(db, ops._touch(True), b, now, "别的话") == 1
    assert shape(await thread(db, b)) == ("旧主题", 2, now, True, old, "open")

    # A pleasantry (not waiting) after a photo: not waiting, the photo subject stays.
    assert await _touch(db, ops._touch(False), c, now, "") == 1
    assert shape(await thread(db, c)) == (ops.PHOTO_SUBJECT, 1, now, False, None, "open")

    # The extra conditions (the follow-up's: still open) are kept.
    assert await _touch(db, ops._touch(True, ops._THREAD.c.status == "open"), d, now, "晚来的话") == 0
    assert shape(await thread(db, d)) == before[d]


# --- a worker's first message and follow-ups ------------------------------------------------

async def test_the_subject_is_the_first_words_on_one_line_cut_after_60_characters(db, app) -> None:  # noqa: ANN001
    ctx = ops_ctx(app)
    sixty = "老板拖欠工资" * 10
    cases = {"oS1": ("text", "工资  拖欠\n三个月了，老板 不给"), "oS2": ("text", sixty),
             "oS3": ("voice", sixty + "了"), "oS4": ("image", ""), "oS5": ("image", "看这张")}
    async with db() as s, s.begin():
        for openid, (kind, words) in cases.items():
            await ops.start_thread(s, ctx, openid=openid, member_id=None, topic="其他", kind=kind, text=words,
                                   media_id="M" if kind == "image" else "")
    assert [t.subject for t in await threads(db)] == [
        "工资 拖欠 三个月了，老板 不给", sixty, sixty + "…", ops.PHOTO_SUBJECT, ops.PHOTO_SUBJECT]


async def test_a_thread_started_gets_its_topic_its_message_and_the_inbound_key(db, app, clock) -> None:  # noqa: ANN001
    ctx = ops_ctx(app)
    async with db() as s, s.begin():
        guessed = await ops.start_thread(s, ctx, openid="oG1", member_id=None, topic=None, text="工伤认定要多久",
                                         source_key="in-1")
        unknown = await ops.start_thread(s, ctx, openid="oG2", member_id=None, topic="不存在的分类",
                                         text="你好在吗有个事")
        bare = await ops.start_thread(s, ctx, openid="oG3", member_id=None, topic="工伤")
        photo = await ops.start_thread(s, ctx, openid="oG4", member_id=None, topic="工伤", kind="image")
        ids = guessed.id, unknown.id, bare.id, photo.id
    t1, t2, t3, t4 = [await thread(db, i) for i in ids]
    assert (t1.topic, t2.topic, t3.topic) == ("工伤", "其他", "工伤")  # the last configured topic: 其他
    assert shape(t1) == ("工伤认定要多久", 1, clock.now(), True, clock.now(), "open")
    [m1], [m3], [m4] = [await messages(db, i) for i in (t1.id, t3.id, t4.id)]
    assert (m1.sender, m1.kind, m1.text, m1.source_key, m1.media_id) == ("worker", "text", "工伤认定要多久", "in-1", "")
    assert (m3.kind, m3.text, m3.media_id) == ("text", "", "")
    assert (m4.kind, m4.text, m4.media_id) == ("image", "", "")


async def test_follow_ups_mark_the_thread_waiting_again_and_are_stored_once(db, app, clock) -> None:  # noqa: ANN001
    ctx = ops_ctx(app)
    async with db() as s, s.begin():
        t = await ops.start_thread(s, ctx, openid="oF1", member_id=None, topic="工伤", text="工地摔伤了")
        tid = t.id
    await answered(db, tid)
    clock.advance(hours=2)
    now = clock.now()
    async with db() as s, s.begin():
        t = await s.get(InboxThread, tid)
        mid = await ops.add_worker_message(s, ctx, t, text="还有一个问题", source_key="in-2")
        # What the UPDATE set is on the caller's thread, as the database has it.
        assert (t.unread, t.last_message_at, t.waiting, t.waiting_since, t.subject) == (1, now, True, now, "工地摔伤了")
        photo = await ops.add_worker_message(s, ctx, t, kind="image", media_id="P1", source_key="in-3")
        again = await ops.add_worker_message(s, ctx, t, kind="image", media_id="P1", source_key="in-3")
        bare = await ops.add_worker_message(s, ctx, t, kind="image")
    assert again is None
    rows = {m.id: m for m in await messages(db, tid)}
    assert [(m.kind, m.text, m.media_id, m.source_key) for m in rows.values()] == [
        ("text", "工地摔伤了", "", None), ("text", "还有一个问题", "", "in-2"), ("image", "", "P1", "in-3"),
        ("image", "", "", None)]
    assert (rows[mid].text, rows[photo].source_key, rows[bare].kind) == ("还有一个问题", "in-3", "image")
    assert (await thread(db, tid)).unread == 3


async def test_nothing_is_added_to_a_closed_thread_and_the_worker_is_told_why(db, app, clock) -> None:  # noqa: ANN001
    ctx = ops_ctx(app)
    tid = await add_thread(db, clock, "oC1", [("worker", "公司不交社保")], status="closed")
    async with db() as s, s.begin():
        t = await s.get(InboxThread, tid)
        with pytest.raises(ops.InboxError) as refused:
            await ops.add_worker_message(s, ctx, t, text="还在吗")
        with pytest.raises(ValueError, match="unknown message kind 'video'"):
            await ops.add_worker_message(s, ctx, t, kind="video")
        assert await ops.add_to_open_thread(s, ctx, tid, "oC1", text="还在吗") is None
    assert str(refused.value) == "这次咨询已经结束了，有新问题请直接发来。"
    assert len(await messages(db, tid)) == 1


async def test_a_follow_up_on_the_remembered_thread_checks_owner_and_state_in_its_update(db, app, clock) -> None:  # noqa: ANN001
    ctx = ops_ctx(app)
    async with db() as s, s.begin():
        t = await ops.start_thread(s, ctx, openid="oR1", member_id=None, topic="帮扶", text="家里困难")
        tid = t.id
    await answered(db, tid)
    async with db() as s, s.begin():
        got = await ops.add_to_open_thread(s, ctx, tid, "oR1", text="补充一下情况", media_id="IGNORED",
                                           source_key="in-9")
        photo = await ops.add_to_open_thread(s, ctx, tid, "oR1", kind="image")
        stranger = await ops.add_to_open_thread(s, ctx, tid, "oSomeoneElse", text="我也要问")
    assert got == ops.OpenThread(tid, "帮扶") and photo == ops.OpenThread(tid, "帮扶") and stranger is None
    assert [(m.kind, m.text, m.media_id, m.source_key) for m in await messages(db, tid)][1:] == [
        ("text", "补充一下情况", "", "in-9"), ("image", "", "", None)]
    t = await thread(db, tid)
    assert (t.waiting, t.unread, t.subject) == (True, 2, "家里困难")


async def test_a_thread_without_subject_is_named_by_words_not_by_a_photo_or_blanks(db, app, clock) -> None:  # noqa: ANN001
    ctx = ops_ctx(app)
    tid = await put_thread(db, "oN1", at=clock.now(), subject="")
    async with db() as s, s.begin():
        t = await s.get(InboxThread, tid)
        await ops.add_worker_message(s, ctx, t, kind="image", media_id="M1", text="看这张")
        await ops.add_worker_message(s, ctx, t, text="   ")
        await ops.add_to_open_thread(s, ctx, tid, "oN1", kind="image", media_id="M2", text="还有这张")
        await ops.add_to_open_thread(s, ctx, tid, "oN1", text=" \n ")
    assert (await thread(db, tid)).subject == ""
    async with db() as s, s.begin():
        await ops.add_worker_message(s, ctx, await s.get(InboxThread, tid), text="终于  说清楚了")
    assert (await thread(db, tid)).subject == "终于 说清楚了"


# --- what the bot said ----------------------------------------------------------------------

async def test_the_bots_answers_are_kept_on_the_thread_and_given_once(db, app, clock) -> None:  # noqa: ANN001
    ctx = ops_ctx(app)
    mine = await add_thread(db, clock, "oB1", [("worker", "社保怎么交"), ("bot", "答案甲")])
    other = await add_thread(db, clock, "oB2", [("worker", "答案乙"), ("bot", "答案丙")])
    ref = ops.OpenThread(mine, "其他")
    clock.advance(minutes=5)
    async with db() as s, s.begin():
        said = {t: await ops.bot_said(s, ref, t) for t in ("答案甲", "社保怎么交", "答案丙", "答案丁")}
        await ops.add_bot_message(s, ctx, ref, "答案丁")
        await ops.add_bot_message(s, ctx, ref, "答案甲")
        twice = await ops.bot_said(s, ref, "答案甲")
        now_said = await ops.bot_said(s, ref, "答案丁")
        assert not await ops.bot_said(s, ops.OpenThread(other, "其他"), "答案丁")
    assert said == {"答案甲": True, "社保怎么交": False, "答案丙": False, "答案丁": False}
    assert twice and now_said
    last = (await messages(db, mine))[-1]
    assert (last.sender, last.kind, last.text, last.at, last.attempts, last.error, last.staff_id,
            last.source_key, last.outbox_key) == ("bot", "text", "答案甲", clock.now(), 0, "", None, None, None)


# --- staff's badge --------------------------------------------------------------------------

async def test_the_waiting_badge_counts_assigned_threads_too_and_mine_only_mine(db, clock) -> None:  # noqa: ANN001
    staff = await create_staff_user(db, "inbox1")
    await add_thread(db, clock, "oW1", [("worker", "问题一")], assigned_to=staff.id)
    await add_thread(db, clock, "oW2", [("worker", "问题二")])
    await add_thread(db, clock, "oW3", [("worker", "问题三"), ("staff", "答复")], assigned_to=staff.id)
    # A worker message that raced a staff close (read open, updated after the close committed)
    # leaves a closed thread marked waiting: nothing to answer there.
    await put_thread(db, "oW4", at=clock.now(), status="closed", waiting=True, waiting_since=clock.now(), unread=1)
    async with db() as s:
        assert await ops.count_waiting(s) == 2
        assert await ops.count_waiting(s, assigned_to=staff.id) == 1


# --- quiet threads are closed, the worker told --------------------------------------------

@pytest.fixture
def online(db_url, tmp_path, fake_wechat):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, wechat={**fake_wechat.wechat_config(), "templates": {"inbox_reply": TEMPLATE_ID}})


async def test_the_closing_notice_tells_the_date_topic_and_days_also_as_a_template(
        aiohttp_client, make_app, engine, online, fake_wechat, clock) -> None:  # noqa: ANN001
    app = make_app(online)
    client = await aiohttp_client(app)
    db = app[SESSIONMAKER]
    await clear_faq(db)
    sim = WeChatSim(client, path=online.server.webhook_path, token=online.wechat.token, clock=clock)
    asked = clock.now().astimezone(clock.tz)
    await sim.user("oQ1").send("公司不给交社保怎么办")
    [t] = await threads(db)
    await answered(db, t.id)
    days = online.inbox.close_after_days
    clock.advance(days=days + 1, hours=3, minutes=7)
    assert await close_job().func(job_context(app)) == 1

    words = (f"您{asked.month}月{asked.day}日的咨询（劳动争议/讨薪）已经{days}天没有新消息，我们先把它结束了。"
             "还有问题随时直接发来，工作人员会再回复您。")
    closed = await thread(db, t.id)
    assert (closed.status, closed.closed_by, closed.closed_at, closed.waiting) == ("closed", "auto", clock.now(), False)
    notice = (await messages(db, t.id))[-1]
    assert (notice.sender, notice.kind, notice.text, notice.at, notice.attempts, notice.error) == (
        "bot", "text", words, clock.now(), 0, "")
    [row] = await outbox_rows(db)
    assert (row.key, row.openid, row.purpose) == (f"inbox:{t.id}:{notice.id}", "oQ1", ops.NOTICE_PURPOSE)
    assert notice.outbox_key == row.key
    data = {"topic": "劳动争议/讨薪", "reply": words,
            "time": clock.now().astimezone(clock.tz).strftime("%Y-%m-%d %H:%M"),
            "remark": f"如需进一步咨询，请回复本公众号或{online.office.call_line()}。"}
    assert row.payload == {"text": words, "template": {"kind": "inbox_reply", "data": data}}
    assert data["time"] == f"{asked + timedelta(days=days + 1, hours=3, minutes=7):%Y-%m-%d %H:%M}"

    await app[PROCESSOR].drain()
    await app[DELIVERY].run_once()
    [sent] = fake_wechat.delivered_to("oQ1")  # outside the 48-hour window: the template
    assert sent["kind"] == "template" and sent["template_id"] == TEMPLATE_ID
    assert sent["data"] == {k: {"value": v} for k, v in data.items()}


async def test_only_answered_threads_with_nothing_new_are_closed_notes_included(db, app, clock, settings) -> None:  # noqa: ANN001
    days = settings.inbox.close_after_days
    staff = await create_staff_user(db, "inbox2")
    gone = await add_thread(db, clock, "oK0", [("worker", "早就结束的"), ("staff", "好的")], status="closed")
    quiet = await add_thread(db, clock, "oK1", [("worker", "问题一"), ("staff", "答复一")])
    noted = await add_thread(db, clock, "oK2", [("worker", "问题二"), ("staff", "答复二")])
    clock.advance(days=1)
    async with db() as s, s.begin():  # staff wrote an internal note a day later
        await replies.add_note(s, ops_ctx(app, staff_id=staff.id), noted, "等社区回电")
    noted_at = clock.now()
    clock.advance(days=3)
    busy = await add_thread(db, clock, "oK3", [("worker", "问题三"), ("staff", "答复三")])

    clock.set(noted_at + timedelta(days=days))  # the note is exactly close_after_days old
    assert await close_job().func(job_context(app)) == 1
    assert [(t.id, t.status) for t in await threads(db)] == [(gone, "closed"), (quiet, "closed"), (noted, "open"),
                                                              (busy, "open")]
    q = await thread(db, quiet)
    assert (q.closed_by, q.closed_at) == ("auto", clock.now())
    assert (await thread(db, gone)).closed_by == "worker"  # closed long ago: not closed nor told again
    clock.advance(seconds=1)
    assert await close_job().func(job_context(app)) == 1
    assert (await thread(db, noted)).status == "closed"
    assert [r.openid for r in await outbox_rows(db)] == ["oK1", "oK2"]


async def test_quiet_threads_are_closed_200_a_run_lowest_first(db, app, clock, settings) -> None:  # noqa: ANN001
    start = clock.now()
    async with db() as s, s.begin():
        for i in range(202):
            # the later threads went quiet earlier: the order is by thread, not by age
            at = start - timedelta(minutes=i)
            s.add(InboxThread(openid=f"oL{i}", topic="其他", subject=f"问题{i}", status="open", waiting=False,
                              unread=0, created_at=at, last_message_at=at))
    clock.advance(days=settings.inbox.close_after_days + 1)
    ids = [t.id for t in await threads(db)]
    async with db() as s, s.begin():
        assert await ops.close_quiet_threads(s, ops_ctx(app), limit=1) == 1
    assert [t.id for t in await threads(db) if t.status == "closed"] == ids[:1]
    assert await close_job().func(job_context(app)) == 200
    assert [t.id for t in await threads(db) if t.status == "open"] == ids[-1:]
    assert await close_job().func(job_context(app)) == 1


async def test_a_thread_locked_elsewhere_is_skipped_not_waited_for(db, app, clock, settings, backend) -> None:  # noqa: ANN001
    if backend != "postgresql":
        pytest.skip("row locks: PostgreSQL only (SQLite has one writer)")
    first = await add_thread(db, clock, "oP1", [("worker", "问题一"), ("staff", "答复一")])
    second = await add_thread(db, clock, "oP2", [("worker", "问题二"), ("staff", "答复二")])
    clock.advance(days=settings.inbox.close_after_days + 1)
    async with db() as holder, holder.begin():
        await holder.scalar(select(InboxThread.id).where(InboxThread.id == first).with_for_update())
        async with db() as s, s.begin():
            assert await asyncio.wait_for(ops.close_quiet_threads(s, ops_ctx(app)), 10) == 1
    assert [(t.id, t.status) for t in await threads(db)] == [(first, "open"), (second, "closed")]


# --- 删除我的信息 ---------------------------------------------------------------------------

async def test_erasing_deletes_the_workers_threads_messages_and_photo_folders_only(db, app, clock, tmp_path) -> None:  # noqa: ANN001
    media = tmp_path / "media-dir"
    photo = {"sender": "worker", "kind": "image", "media_id": "M", "media_status": "fetched"}
    mine = [await add_thread(db, clock, "oE1", [("worker", "问题"), photo, ("staff", "答复")], status="closed"),
            await add_thread(db, clock, "oE1", [photo, ("worker", "再问")])]
    theirs = await add_thread(db, clock, "oE2", [("worker", "别人的问题"), photo])
    files = {}
    for tid in [*mine, theirs]:
        f = media / "inbox" / str(tid) / "1.jpg"
        f.parent.mkdir(parents=True)
        f.write_bytes(JPEG_BYTES)
        files[tid] = f
    async with db() as s, s.begin():
        erased = await ops.erase_member_threads(s, ops_ctx(app, media_dir=str(media)), "oE1")
        nobody = await ops.erase_member_threads(s, ops_ctx(app, media_dir=str(media)), "oNobody")
    assert erased == ops.ErasedThreads(threads=2, photos=2) and nobody == ops.ErasedThreads(0, 0)
    assert [t.id for t in await threads(db)] == [theirs]
    async with db() as s:
        left = list(await s.scalars(select(InboxMessage.thread_id).order_by(InboxMessage.id)))
        assert await s.scalar(select(func.count()).select_from(Outbox)) == 0
    assert left == [theirs, theirs]
    assert [f.exists() for f in files.values()] == [False, False, True]
    assert not (media / "inbox" / str(mine[0])).exists()
