"""Reading what a person wrote: a real question or request, small talk, a bare topic word,
or distress. Every feature reads messages the same way (the inbox decides what reaches staff,
the form engine what an invalid answer really was, the fallback how to answer small talk).

The rule (`looks_like_question`), on the folded text (`bot.core.normalize.fold`):

1. Greetings, thanks, acknowledgements, laughter, small talk and questions about the bot
   itself (你好, 在吗, 吃了吗, 谢谢, 好的, 收到, 哈哈, 你是谁 …) are taken out first; what is
   left is the *content*.
2. Content with fewer than 3 Chinese characters is no question (bare words like 工伤 or
   什么; `bare_topic` tells a known topic word apart, the inbox asks a follow-up). Nor is a
   run of one or two characters repeated (啊啊啊啊, 哈哈哈哈), digits, punctuation, emoji, or
   Latin letters that don't make at least four words (asdf, ok, test).
3. Content of 3+ characters is a question when it asks (吗, 怎么, 能不能, 有没有, 想问, ？ …)
   or names a worker's problem: money (工资, 欠, 扣, 少发, 报销, 退休金), the job (辞退, 炒鱿鱼,
   离职), the body (摔伤, 压断, 手指, 医院), the union's business (社保, 合同, 补助, 入会) …;
   anything of 10+ characters is a question too (a worker telling their story by voice,
   without punctuation). Small talk of a few characters (今天天气不错) is not.
4. `is_distress`: words of a person in distress (想不开, 心里难受, 压力很大睡不着 …) — never a
   label, only a reason to answer with a person and a help line at once (`DISTRESS_HELP`).
5. Small talk outside the union's business (今天天气怎么样, 讲个笑话: `pleasantry_kind` "offtopic")
   and giving up (算了不问了, 以后再说吧: "giveup") are no questions; 喂 / 喂喂 is calling out
   ("presence", as 有人吗). Whole messages that ask whether staff answered (`asks_for_reply`:
   有人回复了吗, 我的留言) or ask for a person (`asks_for_person`: 我要找王老师, 打电话给我) are
   read as such, never when more is said (找人帮我讨薪 is a question).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache

from bot.core.normalize import fold

MIN_CONTENT = 3  # Chinese characters a question needs, once greetings are taken out
LONG_CONTENT = 10  # this many characters is a question whatever the words

# Small talk by kind (what a person answers differs), most telling first. Phrases only:
# single characters inside a sentence are left alone (see _WHOLE and _FILLERS).
PLEASANTRY_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bot", ("你是机器人吗", "是机器人吗", "是不是机器人", "机器人吗", "你是真人吗", "是真人吗", "是不是真人",
             "你是人吗", "是人工吗", "你是谁", "你是ai吗", "这是什么", "这是啥", "这是哪", "你能干什么", "你能做什么",
             "能干什么", "能做什么", "有什么功能", "怎么用")),
    ("presence", ("请问有人吗", "有人在吗", "有人在线吗", "有人在线没", "有没有人在", "有没有人", "有人在不", "有人吗", "有人么",
                  "有人没", "还在吗", "还在么", "还在不", "在不在", "在吗", "在么", "在嘛", "在不", "人呢", "喂")),
    ("thanks", ("非常感谢", "感谢你们", "感谢您", "感谢", "谢谢你们", "谢谢您", "谢谢你", "谢谢", "多谢", "谢了", "辛苦了",
                "辛苦", "麻烦了", "不客气")),
    ("bye", ("再见", "拜拜", "晚安", "回头见")),
    ("chat", ("吃了吗", "吃了没", "吃饭了吗", "吃饭没", "吃了么", "忙吗", "忙不忙", "忙么", "睡了吗", "睡了没", "睡了么",
              "你好吗", "最近好吗", "好吗", "好不好", "在干嘛", "干嘛呢")),
    ("greeting", ("你们好", "大家好", "早上好", "上午好", "中午好", "下午好", "晚上好", "早安", "你好", "您好", "哈喽",
                  "嗨")),
    ("test", ("测试一下", "测试", "试一下", "试试")),
    ("ack", ("好的", "好滴", "好嘞", "收到", "知道了", "明白了", "明白", "了解了", "了解", "懂了", "没事了", "没事",
             "没问题", "可以了", "行了", "不用了", "算了")),
)
# Whole messages that are small talk though they are single characters (早, 好, 嗯 …).
_WHOLE = {"对的": "ack", "是的": "ack", "早": "greeting", "早啊": "greeting", "好": "ack", "行": "ack", "对": "ack",
          "是": "ack", "哦": "ack",
          "嗯": "ack", "ok": "ack", "okay": "ack", "hello": "greeting", "hi": "greeting", "hey": "greeting",
          "thanks": "thanks", "thank you": "thanks", "thx": "thanks", "bye": "bye", "test": "test", "yes": "ack",
          "no": "ack", "good morning": "greeting", "morning": "greeting",
          # a whole "no" (asked 还有别的问题吗 / 有什么需要): nothing more to say
          "没有": "ack", "没有了": "ack", "没了": "ack", "不用": "ack", "不用了": "ack", "没事": "ack"}
_PLEASANTRIES = tuple(p for _, words in PLEASANTRY_KINDS for p in words)
_FILLERS = "嗯哦噢喔呃额哈呵嘿嘻唉哎啊呀哇嗷"
_LAUGHTER = "哈呵嘿嘻"
# Not small talk after these characters: 能帮忙吗 is a question, not 忙吗.
_GUARDS = {"忙吗": "(?<!帮)", "忙么": "(?<!帮)", "忙不忙": "(?<!帮)", "在吗": "(?<!现)", "好吗": "(?<!搞)"}
# Nor before these: 喂奶, 喂养 are words (喂, 喂喂 alone: calling out, as on the phone).
_AFTER_GUARDS = {"喂": "(?![奶养药饭食])"}
_PLEASANTRY_RE = re.compile("|".join(_GUARDS.get(p, "") + re.escape(p) + _AFTER_GUARDS.get(p, "")
                                     for p in sorted(_PLEASANTRIES, key=len, reverse=True)))
_LATIN_PLEASANTRY_RE = re.compile(r"\b(?:ok|okay|hello|hi|hey|thanks|thank you|thx|bye|test|yes|no|good morning|"
                                  r"morning)\b")
_LAUGH_EMOJI = set("😀😁😂🤣😃😄😆😅😊🙂😹")
_THANKS_EMOJI = set("🙏💐🌹")

# Words that ask or request.
_ASKING = (
    "吗", "么", "嘛", "怎么", "怎样", "如何", "什么", "啥", "哪", "谁", "为什么", "为啥", "咋", "多少", "几",
    "能不能", "能否", "可不可以", "可以", "是不是", "是否", "有没有", "有无", "该", "应该", "需要", "要不要",
    "请问", "想问", "问一下", "问下", "咨询", "请教", "帮我", "帮帮", "帮忙", "求助", "求求", "希望", "麻烦",
    "申请", "办理", "怎么办", "管不管", "管吗", "找谁",
)
# A worker's problems (and the union's business): money, the job, the body, the union.
_PROBLEMS = (
    # money owed, deducted, paid back
    "工资", "薪", "工钱", "加班", "社保", "医保", "公积金", "五险", "保险", "拖欠", "克扣", "扣", "罚款", "罚钱", "押金",
    "不发", "没发", "少发", "少给", "少算", "不给", "没给", "欠", "没结", "不结", "结账", "钱被", "钱没", "赔", "补偿",
    "报销", "医药费", "医疗费", "药费", "退休金", "养老金", "退休", "抚恤", "提成", "奖金", "年终奖",
    # the job
    "合同", "辞退", "开除", "解雇", "裁员", "炒鱿鱼", "被炒", "炒了", "开了我", "把我开了", "被开了", "让我走", "叫我走",
    "走人", "不要我", "劝退", "离职", "辞职", "失业", "下岗", "停工", "停产", "放假", "调岗", "降薪", "仲裁", "劳动",
    "年假", "病假", "产假", "休假", "加班费", "高温", "防暑", "降温",
    # the body
    "工伤", "受伤", "摔伤", "砸伤", "压伤", "压断", "断了", "伤了", "骨折", "摔", "砸到", "砸了", "掉下", "烫伤", "烧伤",
    "割伤", "划伤", "切到", "夹到", "夹伤", "流血", "缝针", "截肢", "残疾", "伤残", "事故", "职业病", "手指", "手臂",
    "胳膊", "腿", "脚", "腰", "眼睛", "机器", "住院", "医院", "生病", "看病",
    # people and places
    "老板", "公司", "单位", "厂里", "工地", "包工头", "老板娘", "领导",
    # the union's business
    "工会", "入会", "会员", "会费", "补助", "补贴", "救助", "帮扶", "困难", "慰问", "低保", "上学", "学费",
    "维权", "投诉", "举报", "律师", "法律", "起诉", "报名", "培训",
)
# Asking for someone to step in, checked before greetings are taken out (有没有人 is a greeting,
# 有没有人管管 is a plea).
_PLEAS = ("有没有人管", "有人管吗", "有人管没", "没人管", "谁来管", "谁管", "管管", "管一管", "不管我", "帮帮我", "救救我",
          "求求你们")

# Chat outside the union's business (今天天气怎么样, 讲个笑话, 你几岁了): a friendly line and what
# the account can do, never a promise from staff. Not when a worker's problem is named too
# (天气这么热有没有高温补贴, 下雨天摔伤了): that is a question.
_OFFTOPIC_RE = re.compile(
    "天气|下雨|下雪|气温|几度|刮风|雾霾|冷不冷|热不热|笑话|讲个故事|讲故事|唱(?:首|个)?歌|几岁|多大了|多大年纪"
    "|叫什么名字|叫啥名|你叫什么|你叫啥|是男是女|男的女的|男的还是女的|结婚了吗|有对象|谈恋爱|吃什么|吃啥|好吃|好玩"
    "|电影|电视剧|综艺|看球|球赛|足球|篮球|世界杯|彩票|股票|基金|星座|算命|星期几|礼拜几|周几|今天几号|几点了|现在几点"
    "|你喜欢|你会不会|你会唱|你会跳|你会做饭|你会说|你吃饭|你睡觉")
# Giving up on asking (算了不问了, 不想问了, 以后再说吧): nothing for staff, nothing to answer but 好的.
_GIVE_UP_RE = re.compile(
    r"(?:我|那|那就|那我)?(?:先|就|还是)?(?:不|没)(?:想|用|要|需要|打算)?(?:再)?(?:问|说|咨询|留言|麻烦|打扰)(?:了|啦)?"
    r"(?:你们|您|你)?(?:了|啦)?"
    r"|(?:那|那就|那我)?(?:先|还是)?(?:以后|下次|回头|改天|过几天|有空|晚点|明天)(?:再)?(?:说|问|联系|咨询)?(?:吧|了)?"
    r"|(?:那|那就|就)?(?:先)?这样(?:吧|了)?|没(?:什么|啥|别的)?(?:事|问题)了?")


def _off_topic(content: str) -> bool:
    han = "".join(ch for ch in content if _han(ch))
    return bool(han) and _OFFTOPIC_RE.search(han) is not None and not any(w in han for w in _PROBLEMS)


def _gives_up(content: str) -> bool:
    han = "".join(ch for ch in content if _han(ch))
    return bool(han) and _GIVE_UP_RE.fullmatch(han) is not None


# A person in distress: a reason to answer with a person and a help line at once. Never a label.
_DISTRESS_RE = re.compile(
    "想不开|不想活|活不下去|活不成了|活着(?:没|有什么)意思|没有?活路|不如死了|想死|寻死|自杀|轻生|跳楼|跳河|割腕|安眠药"
    "|结束(?:自己的)?生命|了结自己|撑不下去|熬不下去|扛不住了|受不了了|崩溃|绝望|心里.{0,3}(?:难受|苦|憋屈|堵|过不去)"
    "|心.{0,2}好累|压力.{0,3}大|睡不着|失眠|抑郁|焦虑|想哭|心情.{0,3}(?:不好|差|低落|糟)")
# Said to a person in distress, by whoever answers (the inbox, a form's re-ask).
DISTRESS_HELP = ("如果现在心里很难受，可以随时拨打全国心理援助热线 12356（免费、保密），有专业的人陪您说说话。\n"
                 "如果您或身边的人有危险，请马上拨打 110 或 120。")

# Bare topic words: a subject named without a question (社保, 工伤, 入会). The inbox asks
# 「关于社保，您想问哪方面？」 as a person would.
TOPIC_WORDS = frozenset({
    "社保", "医保", "五险", "五险一金", "公积金", "养老保险", "医疗保险", "失业保险", "工资", "薪水", "欠薪", "讨薪",
    "拖欠工资", "加班", "加班费", "合同", "劳动合同", "赔偿", "补偿", "经济补偿", "离职", "辞职", "辞退", "开除", "裁员",
    "仲裁", "劳动仲裁", "工伤", "工伤认定", "入会", "会员", "会费", "会员卡", "报销", "医药费", "退休", "退休金", "养老金",
    "补助", "补贴", "救助", "困难", "维权", "投诉", "年假", "产假", "病假", "婚假", "休假", "法律", "律师", "法律援助",
    "慰问", "低保", "助学", "医疗", "社保卡", "工会",
})
_TOPIC_PREFIXES = ("就是", "关于", "有关", "想问问", "想问", "问问", "问一下", "咨询", "了解", "我想", "我要", "那个",
                   "这个", "主要是", "是", "问", "我", "想", "要", "就", "还是")
_TOPIC_SUFFIXES = ("的事情", "的事儿", "的事", "的问题", "方面的", "方面", "的情况", "问题", "事情", "一下", "的", "吧", "呢",
                   "啊", "呀", "吗")


def _han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


@lru_cache(maxsize=4096)  # asked three times of one message (small talk? a question? a topic?)
def _content(text: str) -> str:
    """The folded text without greetings, thanks, fillers, punctuation, spaces or emoji."""
    t = _LATIN_PLEASANTRY_RE.sub(" ", _PLEASANTRY_RE.sub(" ", fold(text).lower()))
    t = "".join(" " if ch in _FILLERS else ch for ch in t)
    t = "".join(ch for ch in t if _han(ch) or unicodedata.category(ch)[0] in "LN" or ch == " ")
    return "" if _bare(t) in _WHOLE else t


@lru_cache(maxsize=4096)
def _bare(text: str) -> str:
    """Letters and digits only (and single spaces between Latin words)."""
    t = "".join(ch if (_han(ch) or unicodedata.category(ch)[0] in "LN") else " " for ch in fold(text).lower())
    return " ".join(t.split())


def _latin_question(content: str) -> bool:
    """Latin letters only: at least four different words, each with a vowel (not asdf qwer)."""
    words = re.findall(r"[a-z]+", content)
    real = [w for w in words if len(w) >= 2 and re.search(r"[aeiouy]", w)] + [w for w in words if w in ("i", "a")]
    return len(words) >= 4 and len(real) == len(words) and len(set(words)) >= 3


def looks_like_question(text: str) -> bool:
    """Whether a message reads like a real question or request a person should answer."""
    folded = fold(text).lower()
    if any(p in folded for p in _PLEAS) or is_distress(text) or asks_for_person(text):
        return True  # 救救我, 想不开, 我要找王老师: someone should step in
    content = _content(text)
    han = "".join(ch for ch in content if _han(ch))
    if not han:
        return _latin_question(content)
    if _off_topic(content) or _gives_up(content):
        return False  # 今天天气怎么样, 算了不问了: small talk, not for staff
    if len(han) < MIN_CONTENT or len(set(han)) <= 2:
        return False  # a bare word, or 啊啊啊啊 / 哈哈哈哈
    if len(han) >= LONG_CONTENT:
        return True
    if "?" in folded or "？" in folded:
        return True
    return any(w in han for w in _ASKING) or any(w in han for w in _PROBLEMS)


def is_pleasantry(text: str) -> bool:
    """Only greetings, thanks, acknowledgements, small talk, laughter or emoji (好的谢谢, 在吗, 👍)."""
    return pleasantry_kind(text) is not None


def pleasantry_kind(text: str) -> str | None:
    """What kind of small talk the whole message is — bot, presence, thanks, bye, chat, greeting,
    test, laugh, sigh, ack, offtopic (chat outside the union's business: 今天天气怎么样) or giveup
    (算了不问了) — or None when it says more (or nothing: 。。。)."""
    folded = fold(text).lower()
    if not folded or is_distress(text) or any(p in folded for p in _PLEAS):
        return None
    content = _content(text)
    if content.strip():
        return "offtopic" if _off_topic(content) else "giveup" if _gives_up(content) else None
    whole = _WHOLE.get(_bare(text))
    if whole is not None:
        return whole
    for kind, words in PLEASANTRY_KINDS:
        if any(w in folded for w in words):
            return kind
    if _LATIN_PLEASANTRY_RE.search(folded):
        return "thanks" if re.search(r"thank|thx", folded) else "greeting" if re.search(r"hello|hi|hey|morning",
                                                                                       folded) else "ack"
    if any(ch in _THANKS_EMOJI for ch in folded):
        return "thanks"
    bare = _bare(text).replace(" ", "")
    if bare and set(bare) <= set("唉哎呀") and set(bare) & set("唉哎"):
        return "sigh"  # 唉, 哎呀: something is wrong
    if any(ch in _LAUGH_EMOJI for ch in folded) or any(ch in _LAUGHTER for ch in folded):
        return "laugh"
    if (bare and set(bare) <= set("嗯哦噢喔额呃")) or (not bare and any(unicodedata.category(ch) == "So" for ch in folded)):
        return "ack"  # 嗯嗯, 哦哦, 👍, 👌 (啊啊啊啊 says something else)
    return None  # punctuation only (。。。, ？？)


def is_distress(text: str) -> bool:
    """Words of a person in distress (想不开, 心里难受, 压力很大睡不着)."""
    return bool(_DISTRESS_RE.search(fold(text).lower()))


def _letters(text: str) -> str:
    """The folded text, lower-case, with only Chinese characters, letters and digits."""
    return "".join(ch for ch in fold(text).lower() if _han(ch) or ch.isalnum())


def bare_topic(text: str) -> str | None:
    """The topic word a message names and nothing more (社保, 就是社保, 关于工伤的事), or None."""
    t = _letters(text)
    changed = True
    while changed and t and t not in TOPIC_WORDS:
        changed = False
        for p in _TOPIC_PREFIXES:
            if t.startswith(p) and len(t) > len(p):
                t, changed = t[len(p):], True
                break
        for s in _TOPIC_SUFFIXES:
            if t.endswith(s) and len(t) > len(s):
                t, changed = t[: -len(s)], True
                break
    return t if t in TOPIC_WORDS else None


# Asking to ask (想问个事, 我有个问题, 咨询一下): the question itself is still to come.
_PREAMBLE = tuple(sorted((
    "我有个问题", "有个问题", "有问题", "问个问题", "问个事", "问点事", "有个事", "有点事", "有件事", "想问问", "想问",
    "问一下", "问问", "问下", "请问", "咨询一下", "咨询", "请教一下", "请教", "打扰一下", "打扰了", "打扰", "麻烦问一下",
    "麻烦", "一下", "可以吗", "能问吗", "事情", "问题", "我", "想", "要", "个", "点", "件", "事", "下", "能", "吗", "你们",
    "您", "你", "们", "的", "了", "呢", "吧", "那", "就", "是", "有", "问",
), key=len, reverse=True))
_PREAMBLE_RE = re.compile("|".join(map(re.escape, _PREAMBLE)))


def is_ask_to_ask(text: str) -> bool:
    """Only words announcing a question (想问个事, 我有个问题, 请问一下), none of its content."""
    content = _content(text)
    if not any(_han(ch) for ch in content):
        return False
    rest = _PREAMBLE_RE.sub("", content).strip()
    return not any(_han(ch) or ch.isalnum() for ch in rest)


# Asking how to do something the bot itself does (帮扶申请怎么弄, 报名怎么报, 答题在哪里): the
# answer is the keyword, not a person. Not when the words say it went wrong or is late
# (帮扶怎么还没批下来, 为什么报不上名): that is a real question for a person.
_HOW_TO_RE = re.compile(r"(?:怎么|怎样|如何|咋|怎么样)(?:才能|才可以|可以|能)?"
                        r"(?:弄|办|申请|报|参加|参与|填|写|操作|用|搞|做|答|进行|提交|交|开始|进|找|查|看|玩|去|取消|退|改|修改|绑定|登记|留|联系)"
                        r"|在哪|哪里|在什么地方|入口|流程|步骤|手续|方法")
_NOT_HOW_TO_RE = re.compile(r"还没|还不|怎么还|怎么没|怎么不|为什么|为啥|凭什么|没有?批|没通过|不通过|被拒|没到|没收到|不到"
                            r"|结果|进度|多久|几天|错了|不对|失败|出错|不行|不了|不上|不进|打不开|没反应|没法|不能|钱")


def asks_how_to(text: str, words: Mapping[str, Iterable[str]]) -> str | None:
    """The keyword a message asks how to use — `words` maps each keyword to the words that name it
    (答题: 每月一题 …; of those, only words of 3+ characters that don't ask how themselves, so the
    office's 在哪里 or 电话 name nothing), the longest named wins: 「帮扶申请怎么弄」 → 帮扶, 「每月一题在哪里答」 → 答题;
    None when it names none, doesn't ask how, or says something went wrong or is late."""
    t = _letters(text)
    if not _HOW_TO_RE.search(t) or _NOT_HOW_TO_RE.search(t):
        return None
    named = [(len(w), kw) for kw, ws in words.items()
             for w in {fold(kw).lower(), *(w for w in ws if len(w) >= 3 and not _HOW_TO_RE.search(w))}
             if w and w in t]
    return max(named, key=lambda n: n[0])[1] if named else None


# Asking how something of one's own stands (我的申请到哪一步了, 报名成功了吗): the bot can say. Not
# when the words are upset (怎么还没批, 为什么这么久): that is for a person.
_STATUS_RE = re.compile(r"到哪|进度|怎么样了|咋样了|批了|批下来|审核了|审核完|审核好|审完|有结果|结果出来|结果怎么样|通过了|通过没"
                        r"|有消息|有回音"
                        r"|什么时候(?:能)?(?:批|下来|有结果|通知)|办好了|办得怎么样|办到哪|成功了|报上了|报上没|成功没")
_UPSET_RE = re.compile(r"怎么还|为什么|为啥|凭什么|还没|还不|太慢|这么久|这么慢|好久|催")


def asks_status(text: str) -> bool:
    """「我的申请到哪一步了」「报名成功了吗」: a question how one's own request stands, not upset."""
    t = _letters(text)
    return bool(_STATUS_RE.search(t)) and not _UPSET_RE.search(t)


# Whole messages, once greetings and particles are off both ends (你好，请问…吗).
_LEADS = re.compile(r"^(?:喂+|你好|您好|你们好|请问|问一下|问下|麻烦问一下|麻烦问下|那个|就是|哎|唉|嗯|哦)+")
_TAILS = re.compile(r"(?:吗|么|嘛|呢|吧|啊|呀|啦|哦|噢|了|一下|可以吗|行吗|好吗|谢谢|谢谢你们|谢谢您|急|着急|很急)+$")


def _core(text: str) -> str:
    t = _letters(text)
    return _TAILS.sub("", _LEADS.sub("", t)) or t


# Asking whether staff answered (有人回复了吗, 回复了没, 怎么还没人回, 我的留言, 查看回复): the bot can
# say, from the worker's own conversation; only when that is the whole message (怎么还没人回复，
# 工资的事很急 says more: it is a follow-up for staff).
_WHO = r"(?:有人|有没有人|工作人员|你们|老师|人)?"
_ANSWERED = r"(?:回复|回|答复|回答|理|搭理)"
_MINE = r"(?:我|我的?(?:留言|问题|咨询|消息))?"
_REPLY_RE = re.compile(
    rf"{_WHO}{_ANSWERED}{_MINE}了?(?:没|没有|没呢)?"  # 有人回复了吗 → 有人回复 (吗 taken off), 回复了没
    rf"|(?:我的?(?:留言|问题|咨询))?(?:怎么|为什么|为啥|咋)?(?:还|都|一直)?(?:没|没有|不)(?:人)?{_ANSWERED}{_MINE}"
    rf"|(?:我的?(?:留言|问题|咨询))?有(?:没有)?(?:人)?{_ANSWERED}(?:我|了)?(?:没|没有)?"  # 有回复吗, 有没有回复
    r"|(?:查看|看看|查一下|查询|看一下)?(?:我的?)?(?:留言|咨询|问题)?的?回复(?:在哪|在哪里|在哪儿)?"  # 回复呢, 查看回复
    r"|(?:查看|看看|查一下|查询|看一下)?(?:我的|我之前的|之前的|上次的)(?:留言|咨询)(?:记录)?|留言记录|咨询记录"
    r"|(?:查看|看看|查一下|查询|看一下)(?:留言|咨询)"
    r"|(?:我的?)?(?:留言|问题|咨询)?(?:什么时候|啥时候|多久|几时|多长时间)(?:能|才能|会|才会|可以)?(?:有人)?"
    rf"{_ANSWERED}(?:我)?"
    r"|(?:还)?要等多久|(?:我的?)?留言(?:你们|工作人员)?(?:看到|收到)(?:了)?(?:没|没有)?"
    r"|(?:你们|工作人员)(?:看到|收到)(?:我的?)?(?:留言|消息)(?:了)?(?:没|没有)?")


def asks_for_reply(text: str) -> bool:
    """「有人回复了吗」「我的留言」「怎么还没人回」: whether staff answered, and nothing more."""
    t = _core(text)
    if not t or len(t) > 16 or not any(w in t for w in ("回", "答", "理", "留言", "咨询", "等多久", "看到", "收到")):
        return False
    # a bare 回复 / 留言 is no question (留言 asks for a person); 回复呢, 回复了吗 are
    return _letters(text) not in _BARE_WORDS and _REPLY_RE.fullmatch(t) is not None


_BARE_WORDS = frozenset({"回复", "留言", "咨询", "回答", "答复", "回", "理", "我的", "查看"})


# Asking for a person (我要找王老师, 找你们负责人, 转人工, 打电话给我, 有工作人员吗): the same way
# to a person as 留言 / 人工, when that is the whole message (找人帮我讨薪 says what about: a question).
_PERSON = (r"(?:老师|主任|书记|主席|负责人|工作人员|领导|经理|干事|同志|部长|站长|人|个人|真人|人工|客服|专人|工会"
           r"|总工会|社区工会|街道工会|工会的人)")
_PERSON_RE = re.compile(
    r"(?:我|我们)?(?:要|想|想要|需要|得|能不能|可不可以|可以|能|请|麻烦|帮我)*"
    r"(?:找|联系|叫|转|接|要|见|跟|和|同)(?:一下|下|个)?(?:你们|您们|工会|街道|社区|总工会)?(?:的|里的|里面的|那边的)?"
    rf"(?:[\u4e00-\u9fff]{{0,2}}?){_PERSON}(?:说话|说|聊聊|聊|谈谈|谈|说说|通话|讲)?(?:一下)?"
    rf"|有(?:没有)?(?:工作人员|真人|人工|老师|客服|专人)(?:在)?(?:没|没有)?"
    r"|(?:请|麻烦|能不能|可不可以|可以|能)?(?:你们|工作人员|老师|人|工会)?(?:给我|跟我|帮我)?(?:打|回|来)(?:个|一个)?电话(?:给我|过来)?"
    r"|(?:请|麻烦|能不能|可以|能)?(?:你们|工作人员|老师|人|工会)?(?:打电话|电话|尽快)?联系(?:一下)?我")
_NOT_A_PERSON = ("工作", "对象", "老公", "老婆", "律师")  # 找工作, 找对象: not someone of the union


def asks_for_person(text: str) -> bool:
    """「我要找王老师」「转人工」「打电话给我」: a person wanted, and nothing more said."""
    t = _core(text)
    if not t or len(t) > 14 or not any(ch in t for ch in "找联叫转接见跟和同有打电"):
        return False
    if any(w in t for w in _NOT_A_PERSON) and "工作人员" not in t:
        return False
    return _PERSON_RE.fullmatch(t) is not None
