"""The worker's side of hardship help, end to end through the WeChat simulator."""
from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.crypto import FieldCrypto
from bot.db.models.core import Member, Outbox
from bot.db.models.hardship import HardshipEvent, HardshipPhoto, HardshipRequest
from handlers.hardship import ops
from handlers.hardship.privacy import ANON_NAME
from tests.support.hardship import ANSWERS, ID_NUMBER, apply, ops_ctx, requests


async def test_full_application_gets_reference_and_self_check(sim, db, settings):  # noqa: ANN001
    u = sim.user("oWorker1")
    summary = await apply(u)
    assert "因病" in summary and "110***********002X" in summary and ID_NUMBER not in summary
    # (4500 - 1500) / 3 = 1000 ≤ 1200 (低保 2026): deep hardship, shown as a hint
    assert "深度困难" in summary and "1000" in summary
    reply = await u.send("确认")
    assert "BF-2026-0001" in reply and "深度困难" in reply and "审核后会通过这里通知您" in reply

    [req] = await requests(db)
    assert (req.ref, req.status, req.kind, req.household_size, req.tier) == ("BF-2026-0001", "submitted", "因病", 3, "深度困难")
    assert req.monthly_income == 4500 and req.fixed_expenses == 1500 and req.per_capita == 1000
    assert req.consent_version == settings.hardship.consent_version and req.consent_at is not None
    assert req.id_number_enc and ID_NUMBER not in req.id_number_enc
    assert FieldCrypto.from_settings(settings).decrypt(req.id_number_enc) == ID_NUMBER
    async with db() as s:
        photos = list(await s.scalars(select(HardshipPhoto)))
        member = await s.scalar(select(Member).where(Member.openid == "oWorker1"))
    assert [p.media_id for p in photos] == ["MEDIA1", "MEDIA2"]
    assert {p.status for p in photos} == {"offline"}  # no app id: the id is kept only
    assert (member.name, member.phone, member.employer) == ("王小明", "13800138000", "街道环卫所")


async def test_profile_prefilled_next_time_and_duplicate_refused(sim, db, app):  # noqa: ANN001
    u = sim.user("oWorker2")
    await apply(u)
    await u.send("确认")
    reply = await u.send("帮扶")
    assert "已有一份帮扶申请正在办理" in reply and "BF-2026-0001" in reply
    assert len(await requests(db)) == 1

    # once it is finished, a new one starts with the profile offered
    async with db() as s, s.begin():
        req = (await s.scalars(select(HardshipRequest))).one()
        await ops.start_review(s, ops_ctx(app), req.id)
        await ops.reject(s, ops_ctx(app), req.id, reason="不符合条件")
    await u.send("帮扶")
    for a in ["同意", "子女就学", "孩子考上大学，学费和住宿费一次要交八千多元。", "4", "6000", "800"]:
        reply = await u.send(a)
    assert "王小明" in reply and "沿用" in reply
    reply = await u.send("沿用")
    assert "13800138000" in reply
    await u.send("沿用")
    reply = await u.send("沿用")
    assert "身份证" in reply
    reply = await u.send("跳过")
    assert "录取通知书" in reply  # the evidence checklist of the type
    reply = await u.send("跳过")
    assert "相对困难" in reply  # (6000-800)/4 = 1300 ≤ 2×1200
    assert "BF-2026-0002" in await u.send("确认")


async def test_every_bad_answer_is_reasked_with_a_hint(sim, db):  # noqa: ANN001
    u = sim.user("oWorker3")
    await u.send("申请帮扶")
    assert "请回复「同意」" in await u.send("嗯")
    await u.send("同意")
    assert "序号" in await u.send("9")
    assert "情况" in await u.send("因灾")
    assert "至少写10个字" in await u.send("没钱")
    await u.send("台风把房顶掀了，屋里家具电器都泡了水。")
    assert "请回复一个数字，例如 3。" in await u.send("很多")
    assert "家庭人口应在1–20人之间" in await u.send("50")
    assert "家庭每月总收入" in await u.send("2口人")
    assert "金额数字" in await u.send("不知道")
    await u.send("3000元")
    await u.send("0")
    assert "真实姓名" in await u.send("1")
    await u.send("李四")
    assert "11位" in await u.send("12345")
    await u.send("139 0013 9000")
    assert "2–60" in await u.send("a")
    await u.send("某物业公司")
    assert "校验没通过" in await u.send("110105194912310021")
    await u.send("跳过")
    assert "照片" in await u.send("这是收据")
    summary = await u.send("跳过")
    assert "请核对" in summary and "因灾" in summary and "13900139000" in summary
    assert "请回复「确认」提交" in await u.send("好吧")
    assert "要修改的项目序号" in await u.send("修改")
    await u.send("取消")
    assert await requests(db) == []


async def test_cancel_stores_nothing(sim, db):  # noqa: ANN001
    u = sim.user("oWorker4")
    await u.send("帮扶")
    await u.send("同意")
    await u.send("1")
    reply = await u.send("取消")
    assert "已取消" in reply and "没有保存" in reply
    await apply(u)
    assert "已取消" in await u.send("取消")
    assert await requests(db) == []


async def test_consent_refused_stores_nothing(sim, db):  # noqa: ANN001
    u = sim.user("oWorker5")
    await u.click("HARDSHIP")
    reply = await u.send("不同意")
    assert "没有保存" in reply
    assert await requests(db) == []
    async with db() as s:
        member = await s.scalar(select(Member).where(Member.openid == "oWorker5"))
    assert member.name is None and member.phone is None
    assert "没太明白" in await u.send("1")  # the form is gone


async def test_resume_after_restart(sim, db, make_app, aiohttp_client, settings, clock):  # noqa: ANN001
    u = sim.user("oWorker6")
    await u.send("帮扶")
    for a in ANSWERS[:5]:
        await u.send(a)
    clock.advance(days=settings.hardship.expire_days - 1)  # within the keep time
    from bot.wechat.simulator import WeChatSim

    client2 = await aiohttp_client(make_app())  # a restarted service on the same database
    u2 = WeChatSim(client2, path=settings.server.webhook_path, token=settings.wechat.token, clock=clock).user("oWorker6")
    reply = await u2.send("帮扶")
    assert "接着来" in reply and "固定要多花" in reply
    for a in ANSWERS[5:]:
        await u2.send(a)
    await u2.send("跳过")
    assert "BF-2026-0001" in await u2.send("确认")


async def test_unfinished_form_expires_with_a_message(sim, db, clock, settings):  # noqa: ANN001
    u = sim.user("oWorker7")
    await u.send("帮扶")
    await u.send("同意")
    clock.advance(days=settings.hardship.expire_days + 1)
    reply = await u.send("1")
    assert "帮扶申请已超过保留时间" in reply and "没太明白" in reply
    assert await requests(db) == []


async def test_my_requests_and_supplement(sim, db, clock, app):  # noqa: ANN001
    u = sim.user("oWorker8")
    assert "还没有提交过" in await u.send("我的申请")
    await apply(u)
    await u.send("确认")
    [req] = await requests(db)
    assert "没有正在办理" in await sim.user("oNobody").send("补充")  # no request: nothing to add to
    async with db() as s, s.begin():
        await ops.start_review(s, ops_ctx(app), req.id)
        await ops.request_more(s, ops_ctx(app), req.id, message="请补拍一张清楚的住院发票")
    reply = await u.send("我的申请")
    assert "BF-2026-0001" in reply and "需要您补充材料" in reply and "请补拍一张清楚的住院发票" in reply
    assert "waiting" not in reply

    reply = await u.send("补充")
    assert "清楚的住院发票" in reply
    await u.image("MEDIA9")
    reply = await u.send("完成")
    assert "已附到申请 BF-2026-0001" in reply and "1 张照片" in reply
    [req] = await requests(db)
    assert req.status == "reviewing"
    assert [p.media_id for p in req.photos] == ["MEDIA1", "MEDIA2", "MEDIA9"]
    # a photo sent later, outside any step, is kept as the open request's new material
    assert "已作为申请 BF-2026-0001 的补充材料保存" in await u.image("LATE")
    assert "1 张照片" in await u.send("完成")
    [req] = await requests(db)
    assert [p.media_id for p in req.photos][-1] == "LATE"

    async with db() as s, s.begin():
        await ops.request_more(s, ops_ctx(app), req.id, message="收入证明也要一份")
    assert "已附到申请 BF-2026-0001" in await u.send("补充：单位开不了收入证明，我可以写个说明")
    async with db() as s:
        events = list(await s.scalars(select(HardshipEvent).where(HardshipEvent.action == "supplement")))
    assert events[-1].text == "单位开不了收入证明，我可以写个说明" and events[-1].actor == "worker"


async def member_profile(db, openid: str) -> tuple:  # noqa: ANN001
    async with db() as s:
        m = await s.scalar(select(Member).where(Member.openid == openid))
    return (m.name, m.phone, m.employer)


async def test_erase_my_data(sim, db, clock, app):  # noqa: ANN001
    u = sim.user("oWorker9")
    await apply(u)
    await u.send("确认")
    assert "确认删除" in await u.send("删除我的信息")
    reply = await u.send("确认删除")
    assert "BF-2026-0001 还在办理" in reply and "办结后自动删除" in reply
    [req] = await requests(db)
    assert req.erase_requested_at is not None and req.phone == "13800138000"  # staff still need it
    assert await member_profile(db, "oWorker9") == (None, None, None)  # the profile goes at once

    # closing the request lets the next retention run remove it, without waiting the retention period
    async with db() as s, s.begin():
        await ops.start_review(s, ops_ctx(app), req.id)
        await ops.reject(s, ops_ctx(app), req.id, reason="收入超过标准")
        await ops.close(s, ops_ctx(app), req.id)
    from handlers.hardship.jobs import anonymise_closed
    from scheduler.setup import job_context

    assert await anonymise_closed(job_context(app)) == 1
    [req] = await requests(db)
    assert (req.name, req.phone, req.id_number_enc, req.openid) == (ANON_NAME, "", None, "")
    assert (req.last_message, req.reject_reason, req.description) == ("", "", "")
    assert req.per_capita == 1000 and req.kind == "因病"  # figures stay
    assert "还没有提交过" in await u.send("我的申请")


async def test_erase_finished_request_at_once_and_form_drafts(sim, db, clock, app):  # noqa: ANN001
    u = sim.user("oWorker10")
    await apply(u)
    await u.send("确认")
    [req] = await requests(db)
    async with db() as s, s.begin():
        await ops.start_review(s, ops_ctx(app), req.id)
        await ops.reject(s, ops_ctx(app), req.id, reason="王小明家收入超过标准")
    # mid-form, the wish interrupts (it is not taken as an answer) and the form waits
    await u.send("帮扶")
    await u.send("同意")
    await u.send("工伤")
    assert "确认删除" in await u.send("删除我的信息")
    reply = await u.send("算了吧")
    assert "没有删除任何信息" in reply and "接着填" in reply
    assert "请简单说明困难情况" in await u.send("帮扶")

    await u.send("删除我的信息")
    assert "已删除您的个人信息" in await u.send("确认删除")
    [req] = await requests(db)
    assert (req.name, req.phone, req.last_message, req.openid) == (ANON_NAME, "", "", "")
    async with db() as s:
        texts = [e.text for e in await s.scalars(select(HardshipEvent).where(HardshipEvent.request_id == req.id))]
    assert not any("王小明" in t for t in texts)
    assert "同意" in await u.send("帮扶")  # the half-filled form went too: a fresh start


async def test_my_requests_mid_form_keeps_the_form(sim, db):  # noqa: ANN001
    u = sim.user("oWorker11")
    await u.send("帮扶")
    for a in ANSWERS[:8]:
        await u.send(a)
    reply = await u.send("我的申请")
    assert "还没有提交过" in reply and "工作单位" in reply  # the list, then the question again
    # free text keeps the worker's own punctuation; words at the ID step get a clear hint
    await u.send("某物业（集团）公司")
    assert "不想填请回复「跳过」" in await u.send("不知道")
    await u.send("跳过")
    summary = await u.send("跳过")
    assert "工作单位：某物业（集团）公司" in summary


async def test_twenty_concurrent_submissions_get_unique_numbers(sim, db):  # noqa: ANN001
    users = [sim.user(f"oConc{i:02d}") for i in range(20)]
    await asyncio.gather(*(apply(u, photos=()) for u in users))
    replies = await asyncio.gather(*(u.send("确认") for u in users))
    refs = sorted(r.split("编号 ")[1][:12] for r in replies)
    assert refs == [f"BF-2026-{i:04d}" for i in range(1, 21)]
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(HardshipRequest)) == 20
        assert await s.scalar(select(func.count()).select_from(Outbox)) == 0  # nothing sent before a decision
