"""Promises the hardship feature makes that had no test of their own (see docs/guarantees.md):
the photos go when a request is anonymised, the consent notice states the period the retention
job really applies, and audit rows never name the worker."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.config import WeChatSettings
from bot.db.models.core import AuditLog
from bot.db.models.hardship import HardshipPhoto, HardshipRequest
from bot.keys import SERVICES
from bot.media import fetch_pending
from bot.wechat.api import WeChatAPI
from bot.wechat.simulator import WeChatSim
from handlers.hardship import ops
from handlers.hardship.jobs import anonymise_closed
from handlers.hardship.privacy import ANON_NAME
from scheduler.setup import job_context
from tests.support.admin import csrf_at, log_in_staff
from tests.support.fake_wechat import FakeWeChat
from tests.support.hardship import ops_ctx


async def _submit(db, app, openid: str, photos: tuple[str, ...]) -> HardshipRequest:  # noqa: ANN001
    async with db() as s, s.begin():
        return await ops.submit_request(
            s, ops_ctx(app, api_available=True), openid=openid, consent_version="2026-1",
            data={"kind": "因病", "description": "住院", "household": 2, "income": 3000, "expenses": 500,
                  "name": "王小明", "phone": "13800138000", "employer": "环卫所", "photos": list(photos)})


async def _files(db, media_dir: Path, request_id: int) -> list[Path]:  # noqa: ANN001
    async with db() as s:
        rows = list(await s.scalars(select(HardshipPhoto).where(HardshipPhoto.request_id == request_id)))
    return [media_dir / r.path for r in rows if r.path]


async def test_anonymising_deletes_the_evidence_photo_files(sim: WeChatSim, db, app, clock, settings,  # noqa: ANN001
                                                            fake_wechat: FakeWeChat) -> None:
    """docs/security.md §7: anonymised after the retention period — "contact details, ID number,
    description, messages and photo files are removed"; README: 删除我的信息 anonymises finished
    requests at once. The files on disk must go, not only the rows' references; another
    worker's open request keeps its photos."""
    media_dir = Path(app[SERVICES]["media_dir"]).resolve()
    old = await _submit(db, app, "oOld", ("OLD1", "OLD2"))
    wish = await _submit(db, app, "oWish", ("WISH1",))
    keep = await _submit(db, app, "oKeep", ("KEEP1",))
    api = WeChatAPI(WeChatSettings(**fake_wechat.wechat_config()), db, clock)
    try:
        assert await fetch_pending(db, api, media_dir, clock) == 4
    finally:
        await api.close()
    old_files, wish_files, keep_files = [await _files(db, media_dir, r.id) for r in (old, wish, keep)]
    assert len(old_files) == 2 and len(wish_files) == 1 and len(keep_files) == 1
    assert all(p.is_file() for p in old_files + wish_files + keep_files)

    async with db() as s, s.begin():
        for r in (old, wish):
            await ops.start_review(s, ops_ctx(app), r.id)
            await ops.reject(s, ops_ctx(app), r.id, reason="不符合条件")
        await ops.close(s, ops_ctx(app), old.id)

    # 删除我的信息 on a finished request: at once
    u = sim.user("oWish")
    assert "确认删除" in await u.send("删除我的信息")
    assert "已删除您的个人信息" in await u.send("确认删除")
    assert not any(p.exists() for p in wish_files)
    assert all(p.is_file() for p in old_files + keep_files)

    # the retention job, the night after the period
    clock.advance(days=settings.hardship.retention_days + 1)
    assert await anonymise_closed(job_context(app)) == 1
    assert not any(p.exists() for p in old_files)
    assert all(p.is_file() for p in keep_files)  # an open request is never touched
    async with db() as s:
        names = {r.id: r.name for r in await s.scalars(select(HardshipRequest))}
    assert names == {old.id: ANON_NAME, wish.id: ANON_NAME, keep.id: "王小明"}


async def test_the_consent_notice_states_the_period_the_job_applies(make_app, aiohttp_client, settings,  # noqa: ANN001
                                                                     clock, engine) -> None:
    """The notice (handlers/hardship/dialogue.py) promises 「申请办结后保存{years}，到期自动删除」:
    the period said must be `[hardship] retention_days`, the one the nightly job uses."""
    for days, words in ((730, "保存2年"), (400, "保存400天")):
        custom = settings.model_copy(update={"hardship": settings.hardship.model_copy(
            update={"retention_days": days})})
        app = make_app(custom)
        sim = WeChatSim(await aiohttp_client(app), path=custom.server.webhook_path,
                        token=custom.wechat.token, clock=clock)
        notice = await sim.user(f"oNotice{days}").send("帮扶")
        assert words in notice and "到期自动删除" in notice, notice
        assert "删除我的信息" in notice and "不会保存任何信息" in notice


async def test_audit_rows_never_name_the_worker(client, db, app, clock) -> None:  # noqa: ANN001
    """docs/security.md §6: an audit `target` is "the record's reference as staff know it …
    Never a phone, ID number or name"; of changes, "the names of the fields changed (values of
    personal fields stay out)". A whole staff workflow on one request — views, both reveals,
    decisions, aid, an export, a refused action — and no audit row holds the worker's name,
    phone or ID number anywhere."""

    name, phone, id_number = "欧阳小明", "13912345678", "11010519491231002X"
    async with db() as s, s.begin():
        req = await ops.submit_request(
            s, ops_ctx(app), openid="oAudit", consent_version="2026-1",
            data={"kind": "因病", "description": "母亲住院", "household": 3, "income": 4500.0,
                  "expenses": 1500.0, "name": name, "phone": phone, "employer": "街道环卫所",
                  "id_number": id_number, "photos": []})
    await log_in_staff(client, db)
    page = f"/admin/hardship/{req.id}"

    async def act(action: str, **data: str):  # noqa: ANN202
        token = await csrf_at(client, page)
        return await client.post(f"{page}/act/{action}", data={"_csrf": token, **data})

    assert (await client.get(page)).status == 200
    for field in ("id", "phone"):
        token = await csrf_at(client, page)
        assert id_number[-4:] in await (await client.post(f"{page}/reveal", data={"_csrf": token, "field": field})).text()
    await act("deliver", amount="500", aid_kind="", aid_date="2026-11-24")  # refused: not approved yet
    await act("start_review")
    await act("approve")
    await act("deliver", amount="500", aid_kind="", aid_date="2026-11-24")
    assert (await client.get("/admin/hardship/export.csv")).status == 200
    assert (await client.get("/admin/hardship/export.xlsx")).status == 200
    async with db() as s:
        rows = list(await s.scalars(select(AuditLog).order_by(AuditLog.id)))
    actions = {r.action for r in rows}
    assert {"hardship.view", "hardship.reveal_id", "hardship.reveal_phone", "hardship.deliver"} <= actions
    assert any(r.refused for r in rows)
    for r in rows:
        text = f"{r.target} {r.detail}"
        for secret in (name, phone, phone[-8:], id_number, id_number[-8:]):
            assert secret not in text, (r.action, text)
