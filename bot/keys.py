"""The application keys (a leaf module: anyone may import it, it imports nothing of ours).

The main app holds the shared objects under the first group; the admin sub-application holds
its own copies under the `ADMIN_*` keys (aiohttp sub-apps don't see their parent's keys)."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

SETTINGS = web.AppKey("settings", object)
CLOCK = web.AppKey("clock", object)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker)
PROCESSOR = web.AppKey("processor", object)
SERVICES = web.AppKey("services", dict)
DELIVERY = web.AppKey("delivery", object)
API = web.AppKey("api", object)
FEATURES = web.AppKey("features", list)  # the feature manifests the app was built from
JOBS = web.AppKey("jobs", list)  # every scheduled job: the framework's and the features'

ADMIN_SETTINGS = web.AppKey("admin_settings", object)
ADMIN_SESSIONMAKER = web.AppKey("admin_sessionmaker", async_sessionmaker)
ADMIN_CLOCK = web.AppKey("admin_clock", object)
ADMIN_SERVICES = web.AppKey("admin_services", dict)
ADMIN_THROTTLE = web.AppKey("admin_throttle", object)
ADMIN_FEATURES = web.AppKey("admin_features", list)
ADMIN_NAV = web.AppKey("admin_nav", list)

REQUEST_STAFF: web.RequestKey[Any] = web.RequestKey("admin_staff", object)
CSP_NONCE: web.RequestKey[str] = web.RequestKey("admin_csp_nonce", str)  # this response's CSP nonce
