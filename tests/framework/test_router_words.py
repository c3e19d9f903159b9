"""The dispatcher compares keyword routes as sets (`Filter.words` / `Filter.clicks`, computed
once per message) instead of calling each filter: for every route of the real service, the set
comparison must say exactly what the filter itself says, for whatever a worker sends."""
from __future__ import annotations

from datetime import datetime, timezone

from bot.core.router import Filter, click_is, click_key, text_is, text_variants
from bot.core.types import Incoming
from bot.app import features
from bot.keys import PROCESSOR
from bot.menu import click_keys


def _msg(kind: str, text: str = "", event: str = "", key: str = "") -> Incoming:
    return Incoming(openid="oW", kind=kind, create_time=datetime.now(timezone.utc), dedup_key="k", text=text,
                    event=event, event_key=key)


def _by_sets(f: Filter, msg: Incoming) -> bool:
    return f.hit(msg, text_variants(msg), click_key(msg))


def test_keyword_sets_agree_with_the_filters_on_every_route(make_app) -> None:  # noqa: ANN001
    dispatcher = make_app()[PROCESSOR].dispatcher
    routes = [r for router in dispatcher.routers for r in (*router.interrupts, *router.routes)]
    keyed = [r for r in routes if r.filter.words is not None]
    assert len(keyed) > len(routes) / 2  # most routes are keywords and clicks
    words = {w for r in keyed for w in r.filter.words} | {"你好", "我想问问", "谢谢", "帮扶的事", ""}
    # the menu's click keys as the features declare them (not the sets under test)
    clicks = set(click_keys(features())) | {"NOT_A_KEY"}
    assert {"HELP", "CONTACT", "HARDSHIP"} <= clicks
    msgs = [m for w in sorted(words) for m in (
        _msg("text", w), _msg("voice", f"{w}。"), _msg("text", f"我想{w}一下"), _msg("text", w.upper()),
        _msg("image", w), _msg("event", w, event="click", key=w))]
    msgs += [_msg("event", event="click", key=c) for c in sorted(clicks)]
    msgs += [_msg("event", event="view", key=c) for c in sorted(clicks)] + [_msg("event", event="subscribe")]
    for route in keyed:
        for m in msgs:
            assert _by_sets(route.filter, m) == route.filter(m), (route.filter.desc, m.kind, m.text, m.event_key)


def test_an_or_of_keywords_keeps_both_sets_and_anything_else_has_none() -> None:
    either = text_is("帮扶") | click_is("HARDSHIP")
    assert either.words == {"帮扶"} and either.clicks == {"HARDSHIP"}
    assert _by_sets(either, _msg("voice", "我要帮扶。")) and _by_sets(either, _msg("event", event="click", key="HARDSHIP"))
    assert not _by_sets(either, _msg("text", "帮扶政策是什么"))
    assert (text_is("帮扶") & click_is("X")).words is None
    assert (either | Filter(lambda m: True)).words is None
