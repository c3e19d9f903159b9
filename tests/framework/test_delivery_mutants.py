"""Delivery's promises that mutation testing found untested (mutation/report-outbox.txt): what
staff read in a message's error when it could not go out, and the back-off between tries."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import OutboxSettings, Settings
from bot.delivery import backoff_delay
from tests.framework.test_delivery import HOUR, NOTICE, World, _crash_mid_send


@pytest.fixture
async def world(fake_wechat, sessionmaker, clock, db_url):  # noqa: ANN001, ANN201
    w = World(fake_wechat, sessionmaker, clock, db_url)
    yield w
    await w.close()


def test_the_wait_between_tries_doubles_up_to_the_cap():
    settings = Settings(outbox=OutboxSettings(backoff_base=2.0, backoff_cap=600.0))
    assert [backoff_delay(settings, n) for n in (1, 2, 3, 4, 10)] == [2.0, 4.0, 8.0, 16.0, 600.0]


async def test_giving_up_says_after_how_many_tries_and_why(world):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    world.fake.fail_http("/custom/send", status=502, times=100)
    delivery = world.delivery(backoff_base=1.0, backoff_cap=1.0, max_attempts=2)
    await delivery.run_once()
    first = await world.row("k1")
    assert first.status == "pending" and first.last_error.startswith("customer-service message failed: ")
    world.clock.advance(seconds=1)
    await delivery.run_once()
    row = await world.row("k1")
    assert row.status == "failed"
    assert row.last_error == f"gave up after 2 attempts: {first.last_error}"


async def test_why_a_message_outside_the_window_could_not_go_out(world):  # noqa: ANN001
    await world.member("oW", msg_ago=timedelta(hours=50))
    await world.enqueue("plain", "oW", text="您好")
    await world.enqueue("tpl", "oW", text="您好", template=NOTICE)
    await world.delivery(templates={}).run_once()
    plain, tpl = await world.row("plain"), await world.row("tpl")
    assert (plain.status, tpl.status) == ("unreachable", "unreachable")
    outside = "outside the customer-service window (no message in 48 h, no click in 60 s, or used up)"
    assert plain.last_error == f"{outside}; no template in the message"
    assert tpl.last_error == f"{outside}; no template configured for kind 'notice'"


async def test_why_a_template_only_message_could_not_go_out(world):  # noqa: ANN001
    await world.enqueue("k1", "oW", text=None, template=NOTICE)
    await world.delivery(templates={}).run_once()
    row = await world.row("k1")
    assert (row.status, row.last_error) == ("unreachable", "template-only message; no template configured for kind 'notice'")


async def test_a_template_refused_because_the_person_unfollowed_is_unreachable(world):  # noqa: ANN001
    await world.enqueue("k1", "oGone", text=None, template=NOTICE)
    world.fake.fail_next("/template/send", errcode=43004)
    await world.delivery().run_once()
    row = await world.row("k1")
    assert (row.status, row.last_error) == (
        "unreachable", "template-only message; template refused: user does not follow the account")


async def test_a_crashed_template_only_message_without_its_template_is_unreachable(world):  # noqa: ANN001
    await world.enqueue("k1", "oW", text=None, template=NOTICE)
    await _crash_mid_send(world, "k1", via="template")
    world.clock.advance(seconds=61)
    await world.delivery(templates={}).run_once()
    row = await world.row("k1")
    assert (row.status, row.last_error) == ("unreachable", "template-only message; no template configured for kind 'notice'")
    assert world.fake.delivered == []


async def test_a_click_opens_a_short_window_of_its_own(world):  # noqa: ANN001
    """No message for days, but a menu click 10 s ago: a customer-service message may still go out."""
    from sqlalchemy import select

    from bot.db.models import Member

    await world.member("oClick", msg_ago=timedelta(days=3), evt_ago=timedelta(seconds=10))
    await world.member("oOther", msg_ago=HOUR)
    await world.enqueue("k1", "oClick", text="您点的活动还有名额")
    await world.delivery(templates={}).run_once()
    row = await world.row("k1")
    assert (row.status, row.via) == ("sent", "cs")
    async with world.sessionmaker() as s:
        used = dict((await s.execute(select(Member.openid, Member.evt_window_used))).all())
        msg_used = dict((await s.execute(select(Member.openid, Member.msg_window_used))).all())
    assert used == {"oClick": 1, "oOther": 0} and msg_used == {"oClick": 0, "oOther": 0}


async def test_a_failed_send_in_the_click_window_gives_its_slot_back(world):  # noqa: ANN001
    from sqlalchemy import select

    from bot.db.models import Member

    await world.member("oClick", evt_ago=timedelta(seconds=10))
    await world.enqueue("k1", "oClick", text="您好")
    world.fake.fail_next("/custom/send", errcode=-1)
    await world.delivery(templates={}).run_once()
    assert (await world.row("k1")).status == "pending"
    async with world.sessionmaker() as s:
        assert await s.scalar(select(Member.evt_window_used).where(Member.openid == "oClick")) == 0


@pytest.mark.parametrize("member", [dict(msg_ago=timedelta(hours=48)), dict(evt_ago=timedelta(seconds=60))])
async def test_the_windows_end_exactly_at_48_hours_and_60_seconds(world, member):  # noqa: ANN001
    await world.member("oEdge", **member)
    await world.enqueue("k1", "oEdge", text="您好")
    await world.delivery(templates={}).run_once()
    row = await world.row("k1")
    assert row.status == "unreachable"
    assert world.fake.delivered == []


async def test_a_message_that_did_not_go_out_has_no_sent_time_or_route(world):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    world.fake.fail_next("/custom/send", errcode=45009)  # quota: not retried
    await world.delivery().run_once()
    row = await world.row("k1")
    assert (row.status, row.sent_at, row.via) == ("failed", None, None)
