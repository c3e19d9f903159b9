"""How a signed-in browser is named on the sessions page (mutation/report-admin.txt): staff
recognise their own phone or computer there before signing one out."""
from __future__ import annotations

import pytest

from bot.admin.sessions import describe_agent

IPHONE_WECHAT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Mobile/15E148 MicroMessenger/8.0.44 NetType/WIFI Language/zh_CN")
EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
        "Safari/537.36 Edg/120.0.0.0")
CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.0.0 Safari/537.36")
CHROME_IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1")
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.1 Safari/605.1.15")
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0.0.0 Mobile Safari/537.36")


@pytest.mark.parametrize("agent,name", [
    (IPHONE_WECHAT, "微信 · iPhone"),
    (EDGE, "Edge · Windows"),
    (CHROME_MAC, "Chrome · Mac"),
    (CHROME_IPAD, "Chrome · iPad"),
    (FIREFOX_LINUX, "Firefox · Linux"),
    (SAFARI_MAC, "Safari · Mac"),
    (CHROME_ANDROID, "Chrome · Android"),
    ("curl/8.4.0", "其他浏览器"),
    ("", "未知浏览器"),
])
def test_a_browser_is_named_by_its_program_and_device(agent, name):  # noqa: ANN001
    assert describe_agent(agent) == name
