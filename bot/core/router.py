"""Filters and the per-feature Router.

A feature declares its handlers on a Router; `bot.app` composes the routers
in one Dispatcher. Handlers are `async def verb_object(ctx) -> Reply | str | None`.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.core.types import Incoming, Reply

if TYPE_CHECKING:
    from bot.core.context import Ctx

Handler = Callable[["Ctx"], Awaitable[Reply | str | None]]


def normalize(text: str) -> str:
    """Fold full-width forms and spaces so 「 帮扶 」 and 帮扶 match alike."""
    import unicodedata

    return unicodedata.normalize("NFKC", text).strip()


class Filter:
    """A predicate on an Incoming message; combine with | and &."""

    def __init__(self, fn: Callable[[Incoming], bool], desc: str = "", keyword: bool = False) -> None:
        self.fn = fn
        self.desc = desc
        # True when the filter matches only whole keywords (or events): such a message inside
        # another feature's form is a request to go there, not an answer (see Dispatcher).
        self.keyword = keyword

    def __call__(self, msg: Incoming) -> bool:
        return self.fn(msg)

    def __or__(self, other: "Filter") -> "Filter":
        f = Filter(lambda m: self(m) or other(m), f"({self.desc} | {other.desc})",
                   keyword=self.keyword and other.keyword)
        f._events_only = self.matches_events_only and other.matches_events_only  # type: ignore[attr-defined]
        return f

    def __and__(self, other: "Filter") -> "Filter":
        return Filter(lambda m: self(m) and other(m), f"({self.desc} & {other.desc})")

    @property
    def matches_events_only(self) -> bool:
        return getattr(self, "_events_only", False)

    def __repr__(self) -> str:
        return f"Filter({self.desc})"


def _events_only(f: Filter) -> Filter:
    f._events_only = True  # type: ignore[attr-defined]
    f.keyword = True
    return f


def text_is(*words: str) -> Filter:
    """Exact text (after folding spaces and case)."""
    folded = {normalize(w).lower() for w in words}
    return Filter(lambda m: m.kind in ("text", "voice") and normalize(m.text).lower() in folded, f"text_is{words}",
                  keyword=True)


def text_startswith(*prefixes: str) -> Filter:
    folded = tuple(normalize(p).lower() for p in prefixes)
    return Filter(lambda m: m.kind in ("text", "voice") and normalize(m.text).lower().startswith(folded),
                  f"text_startswith{prefixes}")


def text_matches(pattern: str) -> Filter:
    rx = re.compile(pattern)
    return Filter(lambda m: m.kind in ("text", "voice") and rx.fullmatch(normalize(m.text)) is not None,
                  f"text_matches({pattern})")


def click_is(*keys: str) -> Filter:
    ks = set(keys)
    return _events_only(Filter(lambda m: m.kind == "event" and m.event == "click" and m.event_key in ks,
                               f"click_is{keys}"))


def event_is(*events: str) -> Filter:
    evs = {e.lower() for e in events}
    return _events_only(Filter(lambda m: m.kind == "event" and m.event in evs, f"event_is{events}"))


def kind_is(*kinds: str) -> Filter:
    ks = set(kinds)
    return Filter(lambda m: m.kind in ks, f"kind_is{kinds}")


def any_message() -> Filter:
    return Filter(lambda m: True, "any")


@dataclass
class Route:
    filter: Filter
    handler: Handler


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
    `menu` lists (keyword, description) shown in the menu text.
    """

    name: str
    interrupts: list[Route] = field(default_factory=list)
    states: list[StateRoute] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    menu: list[tuple[str, str]] = field(default_factory=list)

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

    def on(self, flt: Filter) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.routes.append(Route(flt, fn))
            return fn
        return deco

    def add_menu(self, keyword: str, description: str) -> None:
        self.menu.append((keyword, description))

    def describe(self) -> dict[str, Any]:
        return {
            "interrupts": [r.filter.desc for r in self.interrupts],
            "states": [s.state for s in self.states],
            "routes": [r.filter.desc for r in self.routes],
        }
