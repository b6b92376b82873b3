"""Which visitors are here, and from where (issue 23, hole 2).

A visitor is whatever Gradio session id a client sends, so one script can be twenty visitors. Two facts a script
cannot forge as cheaply tell the Train tab's queue who is here:

- **a live connection.** Gradio's page (and gradio_client) holds one heartbeat stream per session open for as long as
  it is open (`GET /gradio_api/heartbeat/{session}`); HeartbeatWatch, an ASGI middleware in front of the app, counts
  them. A session that never opened one, or closed it, has no live connection.
- **the client's address.** The socket's peer, or behind a proxy the address the proxy says it saw. Only the entries
  a proxy of ours appended to X-Forwarded-For can be trusted (the left ones are whatever the client wrote), so the
  address is the TRUSTED_PROXIES-th entry from the right: 1 on a Hugging Face Space (its proxy appends the client's
  address), 0 elsewhere (the peer itself); VAE_TRUSTED_PROXIES overrides it.
"""
from __future__ import annotations

import os
import threading
import time
from collections import Counter

HEARTBEAT = "/gradio_api/heartbeat/"  # Gradio's route, after any root path
KEEP_CLOSED_S = 3600  # how long a closed session's time of leaving is remembered


def trusted_proxies() -> int:
    """How many proxies in front of the app append to X-Forwarded-For (read when asked, so a test can set it)."""
    value = os.environ.get("VAE_TRUSTED_PROXIES", "1" if os.environ.get("SPACE_ID") else "0")
    return int(value) if value.isdigit() and len(value) < 3 else 0


def client_address(request) -> str | None:
    """The visitor's address as this app can trust it (module docstring), or None outside a request."""
    if request is None:
        return None
    n = trusted_proxies()
    forwarded = (request.headers.get("x-forwarded-for") or "") if n else ""
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    if hops:
        return hops[-n] if len(hops) >= n else hops[0]
    client = getattr(request, "client", None)
    return getattr(client, "host", None)


class Presence:
    """Open heartbeat streams per session, and when each session's last one closed."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()
        self._closed_at: dict[str, float] = {}

    def opened(self, session: str) -> None:
        with self._lock:
            self._open[session] += 1
            self._closed_at.pop(session, None)

    def closed(self, session: str) -> None:
        with self._lock:
            self._open[session] -= 1
            if self._open[session] <= 0:
                del self._open[session]
                now = self._closed_at[session] = time.time()
                if len(self._closed_at) > 10_000:  # forged sessions come and go: keep the last hour's
                    self._closed_at = {s: t for s, t in self._closed_at.items() if now - t < KEEP_CLOSED_S}

    def here(self, session: str | None) -> bool:
        with self._lock:
            return bool(session) and self._open.get(session, 0) > 0

    def gone_since(self, session: str | None, since: float) -> float | None:
        """Seconds this session has had no live connection, counting from `since` at the earliest (a run's
        submission) when it never had one; None while it has one."""
        with self._lock:
            if session and self._open.get(session, 0) > 0:
                return None
            return time.time() - max(self._closed_at.get(session, since), since)


class HeartbeatWatch:
    """ASGI middleware: each heartbeat stream opens a session's presence, and its end (the page closed, the
    connection dropped) closes it. Everything else passes through untouched."""

    def __init__(self, app, presence: Presence):
        self.app, self.presence = app, presence

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope.get("type") == "http" else ""
        at = path.rfind(HEARTBEAT)
        if at < 0:
            return await self.app(scope, receive, send)
        session = path[at + len(HEARTBEAT):][:100]
        self.presence.opened(session)
        try:
            return await self.app(scope, receive, send)
        finally:
            self.presence.closed(session)


PRESENCE = Presence()  # this process's visitors: the app serves one page, and sessions are random ids
