"""Settings of the disclosure service (``SPOTCHECK_DISCLOSURE_*``)."""
from __future__ import annotations

import ipaddress

from shared.settings import ServiceSettings, settings_for

# Standard Webhooks' typical schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h
DEFAULT_RETRY_SCHEDULE = "0,5,300,1800,7200,18000,36000,50400,72000,86400"


class DisclosureSettings(ServiceSettings):
    # public API: per client address, token bucket
    public_rate_per_minute: int = 120
    public_burst: int = 60
    # X-Forwarded-For is believed only when the peer is one of these (IPs or CIDRs, comma-separated)
    trusted_proxies: str = ""
    # webhooks
    webhook_allow_hosts: str = ""  # private/loopback hosts, IPs or CIDRs subscriptions may name (tests, demo)
    webhook_retry_schedule: str = DEFAULT_RETRY_SCHEDULE  # seconds before attempt 1, 2, …
    webhook_timeout_seconds: float = 10.0
    webhook_concurrency: int = 64  # deliveries in flight per replica
    webhook_per_endpoint: int = 16  # in flight per subscription, so one slow receiver cannot take every slot
    webhook_poll_seconds: float = 1.0
    # the retry schedule's clock runs this many times faster than real time (1 in production; the
    # fault suite uses e.g. 180 so a receiver outage of an hour passes in 20 s against the real schedule)
    webhook_clock_rate: float = 1.0
    webhook_secret_overlap_hours: float = 24.0
    webhook_max_subscriptions: int = 50
    timer_interval_seconds: float = 60.0
    export_max_rows: int = 50_000

    def retry_schedule(self) -> list[float]:
        return [float(x) for x in self.webhook_retry_schedule.split(",") if x.strip()]

    def proxies(self) -> list[ipaddress._BaseNetwork]:
        return _networks(self.trusted_proxies)


def _networks(text: str) -> list:
    out = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            continue
    return out


def disclosure_settings(**overrides) -> DisclosureSettings:
    return settings_for("disclosure", base=DisclosureSettings, **overrides)
