"""`unionbot chat`: a terminal WeChat. Each line is signed (and encrypted in safe
mode) exactly as WeChat's servers would, posted to the webhook, and the reply printed."""
from __future__ import annotations

import asyncio
import sys

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.wechat.simulator import WeChatSim

HELP = "（输入消息回车发送；/voice 文字 发语音，/click KEY 点菜单，/follow 关注，/image 发图片，/quit 退出）"


async def _read_line(prompt: str) -> str | None:
    try:
        return await asyncio.to_thread(input, prompt)
    except EOFError:
        return None


async def chat_loop(settings: Settings, url: str | None, openid: str) -> None:
    if url:
        client = aiohttp.ClientSession(base_url=url)
        closer = client.close
    else:
        from bot.app import create_app
        from bot.commands.common import migrate_embedded

        await asyncio.to_thread(migrate_embedded, settings)
        client = TestClient(TestServer(create_app(settings)))
        await client.start_server()
        closer = client.close
    mode = "safe" if settings.wechat.encoding_aes_key else "plain"
    sim = WeChatSim(client, path=settings.server.webhook_path, token=settings.wechat.token,
                    app_id=settings.wechat.app_id or "wxOFFLINE", aes_key=settings.wechat.encoding_aes_key,
                    mode=mode)
    user = sim.user(openid)
    print(f"你现在是微信用户 {openid}。{HELP}")
    try:
        while True:
            line = await _read_line("我> ")
            if line is None or line.strip() == "/quit":
                break
            line = line.strip()
            if not line:
                continue
            try:
                if line.startswith("/click "):
                    reply = await user.click(line[7:].strip())
                elif line == "/follow":
                    reply = await user.follow()
                elif line.startswith("/voice"):
                    # WeChat's recognition ends a sentence with 「。」, as real voice messages do.
                    said = line[6:].strip()
                    reply = await user.voice(recognition=said + "。" if said and said[-1] not in "。！？" else said)
                elif line.startswith("/image"):
                    reply = await user.image(line[6:].strip() or "MEDIA_FROM_CHAT")
                else:
                    reply = await user.send(line)
            except (aiohttp.ClientError, AssertionError) as exc:
                print(f"（发送失败：{exc}）", file=sys.stderr)
                continue
            print("公众号> " + (reply if reply is not None else "（无回复）"))
    finally:
        await closer()
