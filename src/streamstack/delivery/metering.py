"""Edge response counters kept off the metrics hot path."""

from __future__ import annotations

from streamstack.observability import metrics
from streamstack.observability.catalogue import CACHE_RESULTS


class ServedCounters:
    """Responses and body bytes by cache result, kept as plain ints on the hot path.

    Every second at most, the increase since the last time goes to the Prometheus counters (and the hit
    ratio gauge, over that interval): one metrics write per second instead of several per request. A
    response inside the interval schedules a flush at its end, so the last second before idle is counted.
    """

    def __init__(self, *, publish: bool, interval: float = 1.0):
        self.requests = dict.fromkeys(CACHE_RESULTS, 0)
        self.bytes = dict.fromkeys(CACHE_RESULTS, 0)
        self._publish = publish
        self._published = (dict(self.requests), dict(self.bytes))
        self._schedule = metrics.FlushSchedule(self.publish, interval)

    def add(self, result: str, nbytes: int) -> None:
        self.requests[result] += 1
        self.bytes[result] += nbytes
        if self._publish:
            self._schedule.poke()

    def publish(self) -> None:
        """Record the increase since the last call (also called at shutdown, so nothing is lost)."""
        requests, nbytes = self._published
        for result in CACHE_RESULTS:
            if delta := self.requests[result] - requests[result]:
                metrics.record("streamstack_edge_requests_total", delta, cache_result=result)
            if delta_bytes := self.bytes[result] - nbytes[result]:
                metrics.record("streamstack_edge_bytes_total", delta_bytes, cache_result=result)
        total = sum(self.requests.values()) - sum(requests.values())
        if total:
            served_without_origin = total - (self.requests["miss"] - requests["miss"])
            metrics.record("streamstack_edge_cache_hit_ratio", served_without_origin / total)
        self._published = (dict(self.requests), dict(self.bytes))

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"requests": dict(self.requests), "bytes": dict(self.bytes)}
