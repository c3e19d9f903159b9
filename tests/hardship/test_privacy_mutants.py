"""Sharper tests for handlers/hardship/privacy.py (mutation group `privacy`): what anonymising and
删除我的信息 leave in the database and on disk, and the worker's exact answer."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.db.models.hardship import HardshipEvent, HardshipPhoto, HardshipRequest
from bot.db.models.inbox import InboxThread
from bot.jobs import JobContext
from bot.keys import SERVICES, SETTINGS
from handlers.hardship import ops
from handlers.hardship.jobs import anonymise_closed
from handlers.hardship.privacy import ANON_NAME, ErasureResult, erase_worker_data, erasure_reply
from tests.hardship.test_jobs import seed
from tests.support.fake_wechat import JPEG_BYTES
from tests.support.hardship import ops_ctx
from tests.support.inbox import add_member, add_thread

TZ = ZoneInfo("Asia/Shanghai")


async def _with_files(db, app, clock, media: Path) -> tuple[int, list[Path]]:  # noqa: ANN001
    """A request whose two photos were fetched: their files are in `media`."""
    req = await seed(db, app, clock, online=True)
    files = []
    async with db() as s, s.begin():
        for p in await s.scalars(select(HardshipPhoto).where(HardshipPhoto.request_id == req.id)
                                 .order_by(HardshipPhoto.id)):
            p.status, p.path = "fetched", f"hardship/{req.id}/{p.id}.jpg"
            f = media / p.path
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(JPEG_BYTES)
            files.append(f)
    return req.id, files


async def _finish(db, app, req_id: int, *, close: bool = True) -> None:  # noqa: ANN001
    async with db() as s, s.begin():
        await ops.start_review(s, ops_ctx(app), req_id)
        await ops.reject(s, ops_ctx(app), req_id, reason="不符合")
        if close:
            await ops.close(s, ops_ctx(app), req_id)


def _job_ctx(app, db, clock, **services) -> JobContext:  # noqa: ANN001, ANN003
    return JobContext(settings=app[SETTINGS], sessionmaker=db, clock=clock, services=services)


async def _stored(db, req_id: int) -> tuple[HardshipRequest, list[HardshipPhoto], list[HardshipEvent]]:  # noqa: ANN001
    async with db() as s:
        req = await s.get(HardshipRequest, req_id)
        photos = list(await s.scalars(select(HardshipPhoto).where(HardshipPhoto.request_id == req_id)))
        events = list(await s.scalars(select(HardshipEvent).where(HardshipEvent.request_id == req_id)
                                      .order_by(HardshipEvent.id)))
    return req, photos, events


async def test_the_retention_job_deletes_the_photo_files_and_says_so_in_the_timeline(
        db, app, clock, settings, tmp_path) -> None:  # noqa: ANN001
    media = tmp_path / "media-here"
    req_id, files = await _with_files(db, app, clock, media)
    files[1].unlink()  # already gone from the disk (a restore, a manual clean-up): no error
    await _finish(db, app, req_id)
    clock.advance(days=settings.hardship.retention_days + 1)
    assert await anonymise_closed(_job_ctx(app, db, clock, media_dir=str(media))) == 1
    assert not files[0].exists()
    req, photos, events = await _stored(db, req_id)
    assert (req.name, req.id_number_enc, req.id_number_masked) == (ANON_NAME, None, None)
    assert [(p.status, p.path, p.media_id) for p in photos] == [("deleted", None, "")] * 2
    last = events[-1]
    assert (last.action, last.actor, last.internal, last.staff_id) == ("anonymise", "system", True, None)
    assert all(e.text == "" for e in events[:-1])


async def test_without_a_media_folder_the_rows_are_still_anonymised(db, app, clock, settings, tmp_path) -> None:  # noqa: ANN001
    media = tmp_path / "elsewhere"
    req_id, files = await _with_files(db, app, clock, media)
    await _finish(db, app, req_id)
    clock.advance(days=settings.hardship.retention_days + 1)
    assert await anonymise_closed(_job_ctx(app, db, clock)) == 1  # no media_dir known: nothing to unlink
    assert all(f.exists() for f in files)
    _req, photos, _events = await _stored(db, req_id)
    assert {(p.status, p.path) for p in photos} == {("deleted", None)}


async def test_the_period_runs_from_the_closing_even_if_the_request_was_touched_later(
        db, app, clock, settings) -> None:  # noqa: ANN001
    req = await seed(db, app, clock, online=False)
    await _finish(db, app, req.id)
    closed_at = clock.now()
    clock.advance(days=settings.hardship.retention_days)
    async with db() as s, s.begin():  # e.g. a later bookkeeping change of the closed request
        await s.execute(update(HardshipRequest).where(HardshipRequest.id == req.id)
                        .values(updated_at=clock.now() - timedelta(days=1)))
    ctx = _job_ctx(app, db, clock, **app[SERVICES])
    assert await anonymise_closed(ctx) == 1  # exactly retention_days after the closing: due
    async with db() as s:
        r = await s.get(HardshipRequest, req.id)
    assert r.name == ANON_NAME and r.closed_at == closed_at


async def test_a_request_left_rejected_is_due_exactly_at_the_end_of_the_period(db, app, clock, settings) -> None:  # noqa: ANN001
    req = await seed(db, app, clock, online=False)
    await _finish(db, app, req.id, close=False)
    ctx = _job_ctx(app, db, clock, **app[SERVICES])
    clock.advance(days=settings.hardship.retention_days, seconds=-1)
    assert await anonymise_closed(ctx) == 0
    clock.advance(seconds=1)
    assert await anonymise_closed(ctx) == 1


async def test_erasure_deletes_files_flags_open_requests_and_names_unknown_drafts(
        db, app, clock, tmp_path) -> None:  # noqa: ANN001
    media = tmp_path / "m"
    done_id, files = await _with_files(db, app, clock, media)
    await _finish(db, app, done_id)
    async with db() as s, s.begin():
        open_req = await ops.submit_request(s, ops_ctx(app), openid="oW1", consent_version="v",
                                            data={"kind": "其他", "description": "x", "household": 1, "income": 1,
                                                  "name": "王小明", "phone": "13800138000"})
    await add_member(db, clock, "oW1", name="王小明")
    await add_thread(db, clock, "oW1", [("worker", "请问"), {"sender": "worker", "kind": "image", "text": ""},
                                        ("staff", "好的")])
    await add_thread(db, clock, "oOther", [("worker", "别人的留言")])
    ctx = ops_ctx(app, media_dir=str(media))
    async with db() as s, s.begin():
        result = await erase_worker_data(s, ctx, openid="oW1", member=None,
                                         drafts=("hardship", "quiz_answer", "inbox"))
    assert result.drafts == ["未填完的帮扶申请", "未填完的表单", "未写完的留言"]
    assert (result.conversations_erased, result.conversation_photos) == (1, 1)
    assert not any(f.exists() for f in files)
    _req, photos, _events = await _stored(db, done_id)
    assert {(p.status, p.path) for p in photos} == {("deleted", None)}
    _open, _photos, events = await _stored(db, open_req.id)
    wish = [(e.action, e.actor, e.staff_id) for e in events if e.action == "erase_request"]
    assert wish == [("erase_request", "worker", None)]
    async with db() as s:
        left = list(await s.scalars(select(InboxThread.openid)))
    assert left == ["oOther"]  # only the worker's own conversations go
    reply = erasure_reply(result, ctx)
    assert "未填完的帮扶申请；未填完的表单；未写完的留言" in reply
    assert "您和工作人员的1次留言咨询记录（含1张照片）" in reply


# --- the answer, word for word ------------------------------------------------------------------

def _call(app) -> str:  # noqa: ANN001
    return f"如有疑问，欢迎{app[SETTINGS].office.call_line()}。"


STATS = "申请和活动的统计数字会保留，其中不含您的姓名、电话等个人信息。"


def test_the_full_answer(app) -> None:  # noqa: ANN001
    result = ErasureResult(profile=["姓名", "手机号"], drafts=["未完成的报名"],
                           requests_anonymised=["BF-2026-0001", "BF-2026-0002"],
                           requests_kept=["BF-2026-0003", "BF-2026-0004"], signups_erased=2,
                           signups_kept=[("读书会", datetime(2026, 12, 3, 9, tzinfo=TZ)),
                                         ("插花沙龙", datetime(2026, 12, 5, 14, tzinfo=TZ))],
                           conversations_erased=2, conversation_photos=3)
    assert erasure_reply(result, ops_ctx(app)) == "\n".join([
        "已删除您的个人信息：姓名、手机号；未完成的报名；帮扶申请 BF-2026-0001、BF-2026-0002 中的个人信息和证明材料照片；"
        "2条已结束或已取消的报名记录中的姓名、手机号、工作单位；您和工作人员的2次留言咨询记录（含3张照片）。",
        "暂时保留：帮扶申请 BF-2026-0003、BF-2026-0004 还在办理，其中的联系方式和材料要用来联系您、完成办理，"
        "办结后自动删除，工作人员已收到您的删除要求；「读书会」（12月3日）、「插花沙龙」（12月5日）的报名信息，"
        "活动有变动时要通知您、到场时要核对名单，活动结束后自动删除；不想参加了可以回复「我的报名」取消。",
        STATS,
        _call(app),
    ])


def test_conversations_without_photos_and_no_figures_to_keep(app) -> None:  # noqa: ANN001
    result = ErasureResult(conversations_erased=1, conversation_photos=0)
    assert erasure_reply(result, ops_ctx(app)) == "\n".join([
        "已删除您的个人信息：您和工作人员的1次留言咨询记录。", _call(app)])


def test_only_kept_says_nothing_could_go_yet(app) -> None:  # noqa: ANN001
    result = ErasureResult(requests_kept=["BF-2026-0007"])
    assert erasure_reply(result, ops_ctx(app)) == "\n".join([
        "目前没有可以马上删除的个人信息。",
        "暂时保留：帮扶申请 BF-2026-0007 还在办理，其中的联系方式和材料要用来联系您、完成办理，"
        "办结后自动删除，工作人员已收到您的删除要求。",
        STATS, _call(app)])


def test_the_statistics_line_follows_any_request_or_sign_up(app) -> None:  # noqa: ANN001
    ctx = ops_ctx(app)
    day = datetime(2026, 12, 3, 9, tzinfo=TZ)
    for result in (ErasureResult(requests_anonymised=["BF-2026-0001"]), ErasureResult(signups_erased=1),
                   ErasureResult(signups_kept=[("读书会", day)]), ErasureResult(requests_kept=["BF-2026-0002"])):
        assert STATS in erasure_reply(result, ctx).splitlines(), result
    assert STATS not in erasure_reply(ErasureResult(profile=["姓名"]), ctx)


def test_nothing_at_all(app) -> None:  # noqa: ANN001
    assert erasure_reply(ErasureResult(), ops_ctx(app)) == \
        "您在这里没有留下需要删除的个人信息。今后如需帮扶或参加活动，欢迎随时再来。"
