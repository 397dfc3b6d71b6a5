"""Is a replica partitioned, or only dead? A partition drops packets, so a caller's
connection hangs until its own timeout; a dead process is refused at once. The zone-hang
fault checks its replicas hang, so the drill knows it injected the gray failure it claims."""

from __future__ import annotations

import httpx

HANGS, REFUSED, ANSWERED = "hangs", "refused", "answered"


def answer_to(url: str, timeout_s: float = 0.3) -> str:
    """How ``url``'s ``/readyz`` answers within ``timeout_s``: hangs, refused or answered."""
    try:
        httpx.get(f"{url}/readyz", timeout=timeout_s)
    except httpx.TimeoutException:
        return HANGS
    except httpx.TransportError:
        return REFUSED
    return ANSWERED
