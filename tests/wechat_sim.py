"""The WeChat simulator lives in the package (it also powers `unionbot chat`)."""
from bot.wechat.simulator import DEFAULT_TOKEN, TEST_AES_KEY, SimUser, WeChatSim, sign, to_xml  # noqa: F401
