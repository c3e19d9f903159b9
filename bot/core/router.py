"""Filters and the per-feature Router.

A feature declares its handlers on a Router; `bot.app` composes the routers
in one Dispatcher. Handlers are `async def verb_object(ctx) -> Reply | str | None`.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.core.normalize import fold, variants
from bot.core.types import Incoming, Reply

if TYPE_CHECKING:
    from bot.core.context import Ctx

Handler = Callable[["Ctx"], Awaitable[Reply | str | None]]


class Filter:
    """A predicate on an Incoming message; combine with | and &."""

    def __init__(self, fn: Callable[[Incoming], bool], desc: str = "", keyword: bool = False,
                 words: frozenset[str] | None = None, clicks: frozenset[str] = frozenset()) -> None:
        self.fn = fn
        self.desc = desc
        # True when the filter matches only whole keywords (or events): such a message inside
        # an open dialogue is a request to go there, not an answer (see Dispatcher).
        self.keyword = keyword
        # Set when the filter is exactly "a text or voice message one of whose `variants` is one
        # of `words`, or a menu click on one of `clicks`" (text_is, click_is and | of those): the
        # dispatcher then checks the message's variants, computed once, and its click key against
        # these sets instead of calling every filter (`hit`, `Dispatcher.find`).
        self.words = words
        self.clicks = clicks

    def __call__(self, msg: Incoming) -> bool:
        return self.fn(msg)

    def hit(self, msg: Incoming, variants_: frozenset[str] | None, click: str | None) -> bool:
        """`self(msg)`, given the message's `text_variants` and `click_key` worked out once."""
        if self.words is None:
            return self.fn(msg)
        return (variants_ is not None and not variants_.isdisjoint(self.words)) or (
            click is not None and click in self.clicks)

    def __or__(self, other: "Filter") -> "Filter":
        sets = self.words is not None and other.words is not None
        return Filter(lambda m: self(m) or other(m), f"({self.desc} | {other.desc})",
                      keyword=self.keyword and other.keyword,
                      words=self.words | other.words if sets else None,  # type: ignore[operator]
                      clicks=self.clicks | other.clicks if sets else frozenset())

    def __and__(self, other: "Filter") -> "Filter":
        return Filter(lambda m: self(m) and other(m), f"({self.desc} & {other.desc})")

    def __repr__(self) -> str:
        return f"Filter({self.desc})"


def _is_text(m: Incoming) -> bool:
    return m.kind in ("text", "voice") and bool(m.text)


def text_is(*words: str) -> Filter:
    """The whole message is one of `words`: folded (punctuation, full-width, case) and with
    polite wrappers allowed (我要…, 我想…, 申请…, …一下), so voice's 「帮扶。」 matches too."""
    folded = frozenset(fold(w).lower() for w in words)
    return Filter(lambda m: _is_text(m) and bool(variants(m.text) & folded), f"text_is{words}", keyword=True,
                  words=folded)


def text_variants(msg: Incoming) -> frozenset[str] | None:
    """What `text_is` compares: the message's variants, None for a message that is no text."""
    return variants(msg.text) if _is_text(msg) else None


def click_key(msg: Incoming) -> str | None:
    """What `click_is` compares: the key of a menu click, None for anything else."""
    return msg.event_key if msg.kind == "event" and msg.event == "click" else None


def text_startswith(*prefixes: str, keyword: bool = False) -> Filter:
    folded = tuple(fold(p).lower() for p in prefixes)
    return Filter(lambda m: _is_text(m) and any(v.startswith(folded) for v in variants(m.text)),
                  f"text_startswith{prefixes}", keyword=keyword)


def text_matches(pattern: str, *, keyword: bool = False) -> Filter:
    """The folded message (or its form without polite wrappers) matches `pattern` whole.
    `keyword=True` when a match is a command (e.g. 取消报名 2), never an answer to a form."""
    rx = re.compile(pattern)
    return Filter(lambda m: _is_text(m) and any(rx.fullmatch(v) for v in _cased_variants(m.text)),
                  f"text_matches({pattern})", keyword=keyword)


def text_has(pattern: str | re.Pattern[str]) -> Filter:
    """The message (text or voice) contains a match of `pattern` anywhere: a sentence, not a
    keyword (「电工培训我不去了」), so inside an open dialogue it stays the dialogue's answer."""
    rx = re.compile(pattern)
    return Filter(lambda m: _is_text(m) and rx.search(m.text) is not None, f"text_has({rx.pattern})")


def text_if(test: Callable[[str], bool], desc: str) -> Filter:
    """The message (text or voice) passes `test` (a reading of its words, e.g. `asks_status`)."""
    return Filter(lambda m: _is_text(m) and test(m.text), desc)


def _cased_variants(text: str) -> list[str]:
    """Like `variants` but keeping the case (codes are case-sensitive to read back)."""
    folded = fold(text)
    return [folded] + [v for v in variants(text) if v != folded.lower()]


def click_is(*keys: str) -> Filter:
    ks = frozenset(keys)
    return Filter(lambda m: m.kind == "event" and m.event == "click" and m.event_key in ks,
                  f"click_is{keys}", keyword=True, words=frozenset(), clicks=ks)


def event_is(*events: str) -> Filter:
    evs = {e.lower() for e in events}
    return Filter(lambda m: m.kind == "event" and m.event in evs, f"event_is{events}", keyword=True)


def kind_is(*kinds: str) -> Filter:
    ks = set(kinds)
    return Filter(lambda m: m.kind in ks, f"kind_is{kinds}")


@dataclass
class Route:
    filter: Filter
    handler: Handler
    starts: str | None = None  # the flow this route starts (its own words don't interrupt it)


@dataclass(frozen=True)
class Flow:
    """A dialogue a feature opens (states `name:*`), and what happens when the person leaves
    it for another feature's keyword or menu click — the one interruption policy:

    - `keep`: the dialogue is kept as a draft; `resume_word` brings it back where it was;
    - `pause`: its progress lives in the feature's own tables (the quiz); `paused_note` says
      how to come back;
    - `end`: nothing worth keeping (a yes/no question); it simply ends.
    """

    name: str
    title: str
    resume_word: str = ""
    on_leave: str = "keep"
    paused_note: str = ""
    form: Any = None
    expired_note: str | None = None  # None: 「您之前未完成的…已超过保留时间，已自动清除。」
    cancelled: str = "好的，已取消。需要时随时再来找我们。"  # the answer to 取消 (forms say their own)

    def __post_init__(self) -> None:
        if self.on_leave not in ("keep", "pause", "end"):
            raise ValueError(f"flow {self.name}: on_leave must be keep, pause or end")


@dataclass
class StateRoute:
    state: str  # exact name, or a prefix ending with ':'
    handler: Handler

    def matches(self, state: str) -> bool:
        if self.state.endswith(":"):
            return state.startswith(self.state)
        return state == self.state


@dataclass
class Router:
    """Handlers of one feature.

    - `interrupt`: tried first, even inside another dialogue (取消, 菜单, menu clicks).
    - `state`: handlers for the user's current dialogue state.
    - `on`: for users with no open dialogue (keywords, clicks, events).
    - `unmatched`: tried, in feature order, for what nothing above took (before the fallback);
      such a handler returns `PASS` to leave the message to the next one.
    `menu` lists (keyword, description) shown in the menu text.
    """

    name: str
    interrupts: list[Route] = field(default_factory=list)
    states: list[StateRoute] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    menu: list[tuple[str, str]] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    catchers: list[Handler] = field(default_factory=list)

    def interrupt(self, flt: Filter) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.interrupts.append(Route(flt, fn))
            return fn
        return deco

    def state(self, name: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.states.append(StateRoute(name, fn))
            return fn
        return deco

    def on(self, flt: Filter, *, starts: str | None = None) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.routes.append(Route(flt, fn, starts))
            return fn
        return deco

    def unmatched(self, fn: Handler) -> Handler:
        self.catchers.append(fn)
        return fn

    def add_flow(self, flow: Flow) -> Flow:
        self.flows.append(flow)
        return flow

    def add_menu(self, keyword: str, description: str) -> None:
        self.menu.append((keyword, description))
