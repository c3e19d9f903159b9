"""Sharper tests for `ops.last_reply` and `ops.staff_spoke_last` (mutation group `ops-inbox`),
through the signed webhook and the admin pages: 「有人回复了吗」 shows the newest staff answer of the
worker's own current conversation (open, else the newest one), never another conversation's or
another worker's; whether staff spoke last counts only the worker's and staff's messages of that
conversation (not notes, not other workers'), which also decides whether a bare 「2」 answers staff."""
from __future__ import annotations

from tests.inbox.worker_helpers import messages, threads
from tests.support.admin import csrf_at, log_in_staff
from tests.support.inbox import send_reply

FIRST = "您好，欠薪的事我们已经记下了，请先把工资条拍照留好。"
SECOND = "您好，我们明天上午给您打电话，请保持手机畅通。"
OTHER = "您好，社保的事请带上劳动合同来工会窗口。"
QUESTION = "请问您在这家单位干了几年？回复数字就行。"


async def _ask(u, question: str = "老板拖欠工资三个月了怎么办") -> None:  # noqa: ANN001
    await u.send("留言")
    await u.send("1")
    await u.send(question)


async def _post(client, thread_id: int, action: str, **data: str) -> None:  # noqa: ANN001
    url = f"/admin/inbox/{thread_id}"
    resp = await client.post(f"{url}/{action}", data={"_csrf": await csrf_at(client, url), **data})
    assert resp.status == 200, resp.status


async def test_of_two_staff_answers_the_newest_is_shown(sim, db, client, clock) -> None:  # noqa: ANN001
    u = sim.user("oTwo")
    await _ask(u)
    [t] = await threads(db)
    await log_in_staff(client, db)
    clock.advance(minutes=25)
    assert (await send_reply(client, t.id, FIRST)).status == 303
    clock.advance(minutes=75)  # 11:40
    assert (await send_reply(client, t.id, SECOND)).status == 303
    reply = await u.send("有人回复了吗")
    assert "工作人员已经回复您了（今天 11:40）" in reply and SECOND in reply
    assert FIRST not in reply and "10:25" not in reply


async def test_an_earlier_conversations_answer_is_not_this_ones(sim, db, client, clock) -> None:  # noqa: ANN001
    u = sim.user("oAgain")
    await _ask(u)
    [old] = await threads(db)
    await log_in_staff(client, db)
    assert (await send_reply(client, old.id, FIRST)).status == 303
    await u.send("结束咨询")
    clock.advance(days=1)
    await _ask(u, "单位不给交社保，我想问问怎么办")
    new = [t for t in await threads(db) if t.id != old.id]
    assert [t.status for t in new] == ["open"]
    reply = await u.send("有人回复了吗")
    assert "今天 10:00 发来的留言（劳动争议/讨薪）工作人员还没有回复" in reply
    assert FIRST not in reply and "上一次回复" not in reply and "已经结束" not in reply


async def test_the_newest_closed_conversation_else_the_reopened_one(sim, db, client, clock) -> None:  # noqa: ANN001
    u = sim.user("oReopen")
    await _ask(u)
    [first] = await threads(db)
    await log_in_staff(client, db)
    assert (await send_reply(client, first.id, FIRST)).status == 303
    await u.send("结束咨询")
    clock.advance(days=1)
    await _ask(u, "单位不给交社保，我想问问怎么办")
    [second] = [t for t in await threads(db) if t.id != first.id]
    clock.advance(minutes=30)
    assert (await send_reply(client, second.id, SECOND)).status == 303
    await u.send("结束咨询")
    # both closed: the newest conversation is the one told about
    reply = await u.send("有人回复了吗")
    assert "工作人员最近一次回复您是在今天 10:30" in reply and SECOND in reply and "这次咨询已经结束了" in reply
    assert FIRST not in reply
    # staff reopen the older one: it is the worker's open conversation now, and it was answered
    await _post(client, first.id, "reopen")
    assert [t.status for t in await threads(db)] == ["open", "closed"]
    reply = await u.send("有人回复了吗")
    assert "工作人员已经回复您了（昨天 10:00）" in reply and FIRST in reply
    assert SECOND not in reply and "已经结束" not in reply


async def test_another_workers_message_does_not_make_an_answer_unanswered(sim, db, client, clock) -> None:  # noqa: ANN001
    a, b = sim.user("oA"), sim.user("oB")
    await _ask(a)
    [ta] = await threads(db)
    await log_in_staff(client, db)
    clock.advance(minutes=25)
    assert (await send_reply(client, ta.id, FIRST)).status == 303
    clock.advance(minutes=5)
    await _ask(b, "单位不给交社保，我想问问怎么办")  # a message of another worker, after the answer
    reply = await a.send("有人回复了吗")
    assert "工作人员已经回复您了（今天 10:25）" in reply and FIRST in reply and "还没有回复" not in reply


async def test_a_note_after_the_answer_does_not_make_it_unanswered(sim, db, client, clock) -> None:  # noqa: ANN001
    u = sim.user("oNote")
    await _ask(u)
    [t] = await threads(db)
    await log_in_staff(client, db)
    clock.advance(minutes=25)
    assert (await send_reply(client, t.id, FIRST)).status == 303
    clock.advance(minutes=5)
    await _post(client, t.id, "note", text="已电话联系，等工资条。")
    assert [m.sender for m in await messages(db, t.id)][-2:] == ["staff", "note"]
    reply = await u.send("有人回复了吗")
    assert "工作人员已经回复您了（今天 10:25）" in reply and FIRST in reply and "还没有回复" not in reply


async def test_a_bare_number_answers_staffs_question_despite_a_note(sim, db, client, clock) -> None:  # noqa: ANN001
    u = sim.user("oNum")
    await _ask(u)
    [t] = await threads(db)
    await log_in_staff(client, db)
    assert (await send_reply(client, t.id, QUESTION)).status == 303
    await _post(client, t.id, "note", text="等职工回复年限。")
    reply = await u.send("2")
    assert "不用再选分类或序号" not in reply
    said = await messages(db, t.id)
    assert (said[-1].sender, said[-1].text) == ("worker", "2")


async def test_a_bare_number_answers_staffs_question_whoever_else_wrote(sim, db, client, clock) -> None:  # noqa: ANN001
    a, b = sim.user("oNumA"), sim.user("oNumB")
    await _ask(a)
    [ta] = await threads(db)
    await log_in_staff(client, db)
    assert (await send_reply(client, ta.id, QUESTION)).status == 303
    await _ask(b, "单位不给交社保，我想问问怎么办")
    reply = await a.send("2")
    assert "不用再选分类或序号" not in reply
    said = await messages(db, ta.id)
    assert (said[-1].sender, said[-1].text) == ("worker", "2")


async def test_a_bare_number_after_the_workers_own_words_is_not_an_answer(sim, db, client, clock) -> None:  # noqa: ANN001
    u = sim.user("oNum2")
    await _ask(u)
    [t] = await threads(db)
    await log_in_staff(client, db)
    assert (await send_reply(client, t.id, QUESTION)).status == 303
    await u.send("他们说下个月一起发，这样合法吗")
    before = len(await messages(db, t.id))
    reply = await u.send("五")
    assert "不用再选分类或序号" in reply and "劳动争议/讨薪" in reply
    assert len(await messages(db, t.id)) == before
