"""The outbox's own API, the only way features and staff pages read or change outbound messages
(mutation/report-outbox.txt): what a message shows, which ones are found by key or prefix,
cancelling what has not gone out, and the follow-up list staff phone from."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot import outbox
from bot.db.models import Outbox


async def _queue(sessionmaker, clock, *specs):  # noqa: ANN001, ANN002, ANN202
    """Queue (key, openid, text) messages, one second apart; returns their ids."""
    ids = []
    async with sessionmaker() as s, s.begin():
        for i, (key, openid, text) in enumerate(specs):
            row = await outbox.enqueue(s, key=key, openid=openid, now=clock.now() + timedelta(seconds=i),
                                       text=text, purpose="test")
            ids.append(row.id)
    return ids


async def _set(sessionmaker, row_id: int, **values) -> None:  # noqa: ANN001, ANN003
    async with sessionmaker() as s, s.begin():
        row = await s.get(Outbox, row_id)
        for k, v in values.items():
            setattr(row, k, v)


async def test_a_message_shows_everything_staff_and_features_may_know(sessionmaker, clock):  # noqa: ANN001
    [mid] = await _queue(sessionmaker, clock, ("r:1", "oA", "明天上午九点集合"))
    sent_at = clock.now() + timedelta(minutes=1)
    await _set(sessionmaker, mid, status="sent", via="template", sent_at=sent_at, last_error="cs window closed")
    async with sessionmaker() as s:
        [m] = await outbox.messages(s, keys=["r:1"])
        assert m == await outbox.message(s, mid)
        assert await outbox.message(s, mid + 100) is None
    assert (m.id, m.key, m.openid, m.purpose, m.status, m.via, m.text) == (
        mid, "r:1", "oA", "test", "sent", "template", "明天上午九点集合")
    assert (m.created_at, m.sent_at, m.last_error) == (clock.now(), sent_at, "cs window closed")
    assert (m.followed_up_at, m.followed_up_by) == (None, None)
    assert m.needs_phone is False


async def test_a_message_without_text_shows_an_empty_text(sessionmaker, clock):  # noqa: ANN001
    async with sessionmaker() as s, s.begin():
        row = await outbox.enqueue(s, key="t:1", openid="oT", now=clock.now(),
                                   template={"kind": "reminder", "data": {}})
    async with sessionmaker() as s:
        m = await outbox.message(s, row.id)
    assert m.text == ""


async def test_messages_by_keys_or_by_a_literal_prefix_oldest_first(sessionmaker, clock):  # noqa: ANN001
    await _queue(sessionmaker, clock, ("ev_1:b", "oB", "b"), ("ev_1:a", "oA", "a"), ("evX1:c", "oC", "c"),
                 ("other", "oD", "d"))
    async with sessionmaker() as s:
        assert [m.key for m in await outbox.messages(s, prefix="ev_1:")] == ["ev_1:b", "ev_1:a"]  # `_` is no wildcard
        assert [m.key for m in await outbox.messages(s, keys=["other", "ev_1:a"])] == ["ev_1:a", "other"]
        assert await outbox.messages(s) == []
        assert await outbox.openids_with_prefix(s, "ev_1:") == {"oA", "oB"}
        assert await outbox.statuses(s, ["ev_1:a", None, "missing"]) == {"ev_1:a": "pending"}
        assert await outbox.statuses(s, [None]) == {}


async def test_cancelling_touches_only_messages_that_have_not_gone_out(sessionmaker, clock):  # noqa: ANN001
    a, b, c = await _queue(sessionmaker, clock, ("k:a", "o1", "a"), ("k:b", "o2", "b"), ("k:c", "o3", "c"))
    await _set(sessionmaker, b, status="sent")
    async with sessionmaker() as s, s.begin():
        assert await outbox.cancel_pending(s, [], "活动取消") == 0
        assert await outbox.cancel_pending(s, ["k:a", "k:b"], "活动取消") == 1
        assert await outbox.cancel_pending(s, ["k:a"], "活动取消") == 0  # already cancelled
    async with sessionmaker() as s:
        by_key = {m.key: m for m in await outbox.messages(s, prefix="k:")}
    assert (by_key["k:a"].status, by_key["k:a"].last_error) == ("cancelled", "活动取消")
    assert (by_key["k:b"].status, by_key["k:b"].last_error) == ("sent", None)
    assert (by_key["k:c"].status, by_key["k:c"].last_error) == ("pending", None)


async def test_the_follow_up_list_staff_phone_from(sessionmaker, clock):  # noqa: ANN001
    ids = await _queue(sessionmaker, clock, *[(f"f:{i}", f"o{i}", f"t{i}") for i in range(5)])
    for i, status in zip(ids, ["unreachable", "failed", "uncertain", "sent", "pending"]):
        await _set(sessionmaker, i, status=status)
    async with sessionmaker() as s:
        waiting = await outbox.needing_follow_up(s, limit=10)
        assert [m.key for m in waiting] == ["f:2", "f:1", "f:0"]  # newest first, only those not reached
        assert all(m.needs_phone for m in waiting)
        assert [m.key for m in await outbox.needing_follow_up(s, limit=2)] == ["f:2", "f:1"]
        assert await outbox.status_counts(s, outbox.NEEDS_PHONE) == {"unreachable": 1, "failed": 1, "uncertain": 1}

    later = clock.now() + timedelta(hours=1)
    async with sessionmaker() as s, s.begin():
        marked = await outbox.mark_followed_up(s, ids[1], staff_id=7, now=later)
    assert (marked.followed_up_at, marked.followed_up_by, marked.status) == (later, 7, "failed")
    async with sessionmaker() as s:
        assert [m.key for m in await outbox.needing_follow_up(s, limit=10)] == ["f:2", "f:0"]
        assert await outbox.status_counts(s, outbox.NEEDS_PHONE, open_only=True) == {"unreachable": 1, "uncertain": 1}
        assert await outbox.status_counts(s, outbox.NEEDS_PHONE) == {"unreachable": 1, "failed": 1, "uncertain": 1}
        assert [m.key for m in await outbox.recently_followed_up(s, since=later, limit=5)] == ["f:1"]
        assert await outbox.recently_followed_up(s, since=later + timedelta(seconds=1), limit=5) == []

    for bad_id, message in [(ids[1], "这条消息已经标记为已电话联系。"),
                            (ids[3], "这条消息已经送达或还在发送，不需要电话联系。"),
                            (ids[4], "这条消息已经送达或还在发送，不需要电话联系。"),
                            (ids[4] + 100, "没有这条消息。")]:
        async with sessionmaker() as s, s.begin():
            with pytest.raises(outbox.FollowUpError, match=f"^{message}$"):
                await outbox.mark_followed_up(s, bad_id, staff_id=7, now=later)

    async with sessionmaker() as s, s.begin():
        reopened = await outbox.reopen_follow_up(s, ids[1])
    assert (reopened.followed_up_at, reopened.followed_up_by) == (None, None)
    for bad_id, message in [(ids[1], "这条消息还没有标记为已联系。"), (ids[4] + 100, "没有这条消息。")]:
        async with sessionmaker() as s, s.begin():
            with pytest.raises(outbox.FollowUpError, match=f"^{message}$"):
                await outbox.reopen_follow_up(s, bad_id)
    async with sessionmaker() as s:
        assert [m.key for m in await outbox.needing_follow_up(s, limit=10)] == ["f:2", "f:1", "f:0"]
