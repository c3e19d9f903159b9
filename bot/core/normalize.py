"""The input normaliser: one way to read what a person typed or said.

Every matcher (keywords, clicks with text, choices, confirm words) and every parser of
numbers goes through here, for typed text and for WeChat's voice recognition alike
(`Recognition` ends with 「。」 and spells numbers in Chinese more often than not).

- `fold`: NFKC (full-width letters, digits and punctuation), spaces collapsed, leading and
  trailing punctuation and spaces dropped: 「 帮扶。」 → 「帮扶」.
- `variants`: the folded text and the same without polite wrappers (我要…, 我想…, 申请…,
  请…, …一下, …吧; looking up is looking up one's own): 「我要申请帮扶」 → {我要申请帮扶, 申请帮扶,
  帮扶}, 「帮我查一下成绩」 → {…, 我的成绩}. Keywords match any variant.
- `parse_number`: 3500, 三千五, 1.2万, 约3000, 3000左右, 大概三千, 三口人, 十二家, 没有 → 0; given the
  question's own words, also the number inside them (走访了5家 at 「本季度走访调研了几家企业？」).
- `numerals_as_digits`: 二十五个人 → 25人, for matching a said text against written options.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import cn2an

# Punctuation a message may start or end with (after NFKC folding), voice's 。 included.
_EDGE = " \t\r\n\u3000.。,，、!！?？;；:：~～…·•_\"'“”‘’「」『』()（）[]【】<>《》*#"
_SPACES = re.compile(r"\s+")

# Polite wrappers around a keyword, longest first.
_PREFIXES = ("我想要", "我需要", "我希望", "请帮我", "麻烦你", "麻烦您", "帮我", "我想", "我要", "我来",
             "想要", "申请", "麻烦", "请问", "那就", "那么", "请", "想", "要", "那")
_SUFFIXES = ("一下吧", "一下", "可以吗", "行吗", "好吗", "谢谢", "吧", "呀", "啊", "呢", "哦", "啦")
# Looking something up is looking up one's own: 「查一下成绩」「看看我的报名」 → 我的成绩, 我的报名.
_LOOK_UP = re.compile(r"^(?:查一下|查一查|查查|查下|查询|查看|看一下|看一看|看看|看下|查|看)(?:我的)?(?=.)")


@lru_cache(maxsize=4096)  # every filter of every router folds the same message
def fold(text: str) -> str:
    """NFKC, spaces collapsed, surrounding punctuation dropped (all of it only if nothing else is left)."""
    folded = _SPACES.sub(" ", unicodedata.normalize("NFKC", text or "")).strip()
    trimmed = folded.strip(_EDGE)
    return trimmed or folded


def variants(text: str) -> frozenset[str]:
    """The folded text and its forms without polite wrappers (lower-case)."""
    return _variants(text)


@lru_cache(maxsize=4096)
def _variants(text: str) -> frozenset[str]:
    t = fold(text).lower()
    out = {t}
    changed = True
    while changed and len(t) > 1:
        changed = False
        for p in _PREFIXES:
            if t.startswith(p) and len(t) > len(p):
                t = t[len(p):].strip(_EDGE) or t
                changed = True
                break
        for s in _SUFFIXES:
            if t.endswith(s) and len(t) > len(s):
                t = t[: -len(s)].strip(_EDGE) or t
                changed = True
                break
        out.add(t)
        if (rest := _LOOK_UP.sub("", t)) != t and len(rest) > 1 and rest != "我的":
            t, changed = "我的" + rest, True
            out.add(t)
    return frozenset(out)


def is_word(text: str, words: set[str] | frozenset[str] | tuple[str, ...]) -> bool:
    """Whether the message is one of `words` (folded, polite wrappers allowed)."""
    return not _folded_words(frozenset(words)).isdisjoint(variants(text))


@lru_cache(maxsize=256)
def _folded_words(words: frozenset[str]) -> frozenset[str]:
    return frozenset(fold(w).lower() for w in words)


# ------------------------------------------------------------------------------------- numbers

_APPROX_PREFIX = ("差不多", "大约", "大概", "大致", "估计", "将近", "接近", "约莫", "约", "近")
_APPROX_SUFFIX = ("左右", "上下", "出头", "多点", "多", "来", "余")
_CONTEXT_PREFIX = ("每个月", "一个月", "每月", "月收入", "收入", "一共", "总共", "共", "有", "是",
                   "我们家", "我家", "家里", "全家", "一家", "我们")
_PARTICLES = ("吧", "啊", "呢", "呀", "哦", "啦", "了")  # 「大概五百吧」「三口人了」: said, not meant
ZERO_WORDS = frozenset({"没有", "无", "没", "零", "没收入", "没有收入", "无收入", "一分没有", "一分都没有",
                        "没有支出", "无支出", "不用", "0", "没有了", "没了", "都没有"})
_NUMERAL = re.compile(r"[0-9.零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟点kKwW]+")


class NotANumber(ValueError):
    """The text holds no single number a person would read there."""


@dataclass(frozen=True)
class Number:
    value: Decimal
    approx: bool = False  # 约 / 左右 / 多: the person gave an estimate

    def as_int(self) -> int:
        if self.value != self.value.to_integral_value():
            raise NotANumber("not a whole number")
        return int(self.value)


def parse_number(text: str, units: tuple[str, ...] = (), *, zero_words: bool = True, own_words: str = "") -> Number:
    """One number from everyday Chinese: digits, Chinese numerals, 万/千, estimates, units.

    `units` are the unit words the question allows (元, 块, 人, 口, 家, 个 …); `zero_words`
    lets 没有 / 无 mean 0 where the question itself says 「没有请回复 0」. `own_words` (the
    question and the item's name) lets the answer say the number inside them: 「走访了5家」
    「已建会的有38家」 (see `_in_own_words`).
    """
    try:
        return _parse_number(text, units, zero_words)
    except NotANumber:
        if not own_words:
            raise
    return _in_own_words(text, units, zero_words, own_words)


def _parse_number(text: str, units: tuple[str, ...], zero_words: bool) -> Number:
    t = fold(text).replace(",", "").replace("，", "").replace(" ", "")
    if zero_words and t in ZERO_WORDS:
        return Number(Decimal(0))
    approx = False
    changed = True
    while changed and t:
        changed = False
        for p in _APPROX_PREFIX:
            if t.startswith(p) and len(t) > len(p):
                t, approx, changed = t[len(p):], True, True
        for p in _CONTEXT_PREFIX:
            if t.startswith(p) and len(t) > len(p):
                t, changed = t[len(p):], True
        for u in sorted(units, key=len, reverse=True):
            if u and t.endswith(u) and len(t) > len(u):
                t, changed = t[: -len(u)], True
        for s in _APPROX_SUFFIX:
            if t.endswith(s) and len(t) > len(s):
                t, approx, changed = t[: -len(s)], True, True
        for s in _PARTICLES:
            if t.endswith(s) and len(t) > len(s):
                t, changed = t[: -len(s)], True
        t = t.strip(_EDGE)
    if zero_words and t in ZERO_WORDS:
        return Number(Decimal(0), approx)
    if not t or not _NUMERAL.fullmatch(t):
        raise NotANumber(text)
    t = t.replace("k", "千").replace("K", "千").replace("w", "万").replace("W", "万")
    try:
        value = Decimal(t)
    except InvalidOperation:
        try:
            value = Decimal(str(cn2an.cn2an(t, "smart")))
        except (ValueError, KeyError, IndexError, TypeError, InvalidOperation):
            raise NotANumber(text) from None
    if not value.is_finite() or value < 0:
        raise NotANumber(text)
    return Number(Decimal(int(value)) if value == value.to_integral_value() else value, approx)


# Around a number said in the question's own words: never a negation, a comparison, another
# time or a vague count (「不到5家」「比上季度多2家」「上季度5家」「十几家」) — those are asked again.
_NOT_AROUND = re.compile(r"不|没|未|无|非|别|比|多|少|差|还|或|除|几|第|上季|上个|上次|去年|以前|之前|原来|以往|新增|增加|减少"
                         r"|新建|新签|新评")
# Words that only join the question's words to the number (「这季度我们一共走访了5家」).
_LINKING = ("这个季度", "这一季度", "这季度", "本季度", "这边", "我们", "咱们", "目前", "现在", "一共", "总共", "合计",
            "共计", "总计", "已经", "我", "共", "已", "都", "就", "了", "的", "有", "是", "过", "呢", "吧", "啊", "呀", "哦",
            "嘛", "啦", "嗯")
_APPROX_ANYWHERE = ("差不多", "大约", "大概", "大致", "估计", "将近", "接近", "约莫", "左右", "上下", "出头", "约")
_NUMERAL_RUN = re.compile(r"[0-9.零〇一二两三四五六七八九十百千万亿]+")


def _in_own_words(text: str, units: tuple[str, ...], zero_words: bool, own_words: str) -> Number:
    """「走访了5家」 at 「本季度走访调研了几家企业？」: one number, and around it only the question's
    own words (any of its characters), linking words (了, 的, 有, 这季度 …) and estimates (大概:
    the number is then approximate). Anything else around it — a negation, a comparison, another
    number, a word the question doesn't use — and it is no answer (NotANumber)."""
    t = fold(text).lower().replace(",", "").replace(" ", "").replace("一共", "共")
    approx = False
    for w in _APPROX_ANYWHERE:
        if w in t:
            t, approx = t.replace(w, ""), True
    runs = list(_NUMERAL_RUN.finditer(t))
    if len(runs) != 1 or _NOT_AROUND.search(t[: runs[0].start()] + " " + t[runs[0].end():]):
        raise NotANumber(text)
    allowed = set(fold(own_words).lower())

    def own(part: str) -> bool:
        for w in _LINKING:
            part = part.replace(w, "")
        return all(ch in allowed for ch in part)

    lead, run, tail = t[: runs[0].start()], runs[0].group(), t[runs[0].end():]
    if not own(lead):
        raise NotANumber(text)
    for cut in range(len(tail), -1, -1):  # the unit (家, 个, 左右 …) belongs to the number
        if own(tail[cut:]):
            try:
                number = _parse_number(run + tail[:cut], units, zero_words)
            except NotANumber:
                continue
            return Number(number.value, number.approx or approx)
    raise NotANumber(text)


_CN_NUMERAL_RUN = re.compile(r"[零〇一二两三四五六七八九十百千万亿]+")


def numerals_as_digits(text: str) -> str:
    """The folded text with Chinese numerals written as digits and 个 after a number dropped (a
    measure word): 「二十五个人」 → 25人, 「三个月」 → 3月. For comparing what a person said with a
    written text (quiz options); runs that are no number (万一) stay as they are."""
    def digits(m: re.Match[str]) -> str:
        try:
            value = cn2an.cn2an(m.group(), "smart")
        except (ValueError, KeyError, IndexError, TypeError):
            return m.group()
        return str(int(value)) if float(value).is_integer() else m.group()
    t = _CN_NUMERAL_RUN.sub(digits, fold(text))
    return re.sub(r"(?<=[0-9])个", "", t)


def parse_int(text: str, units: tuple[str, ...] = (), *, zero_words: bool = True) -> int:
    """A whole number (see parse_number); raises NotANumber otherwise."""
    return parse_number(text, units, zero_words=zero_words).as_int()


_SPOKEN_DIGITS = str.maketrans("零〇洞幺一二两三四五六七八九", "00011223456789")
_DIGIT_RUN = re.compile(r"[0-9零〇洞幺一二两三四五六七八九\s\-]+")


def digits_spoken(text: str) -> str:
    """A number read digit by digit, as voice gives a phone number or a code:
    「幺三八 零零幺三 八零零零」 → 13800138000. Other text comes back folded, unchanged."""
    t = fold(text)
    if not _DIGIT_RUN.fullmatch(t):
        return t
    return re.sub(r"[\s\-]", "", t).translate(_SPOKEN_DIGITS)


_ORDINAL = re.compile(r"^(?:第|选|选择|我选|选第|就|要)?(.+?)(?:个|项|号|条|种|位)?$")


def parse_choice_number(text: str) -> int | None:
    """A position in a numbered list: 2, 二, 第二个, 选2, 2号 → 2; None when it isn't one."""
    m = _ORDINAL.match(fold(text))
    if not m:
        return None
    try:
        return parse_int(m.group(1), zero_words=False)
    except NotANumber:
        return None
