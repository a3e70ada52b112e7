"""CloudWatch Embedded Metric Format: the Prometheus metrics as JSON log lines CloudWatch turns into metrics.

Lambda (and any container whose stdout goes to CloudWatch Logs) publishes metrics this way without an API
call. A document can hold only one value per dimension, so a flush writes one JSON line per dimension set.
Per-live-stream metrics declare a second dimension set, Service alone, so an alarm can watch every stream.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from streamstack.observability.catalogue import NAMESPACE

if TYPE_CHECKING:
    from streamstack.observability.catalogue import MetricDef
MAX_VALUES_PER_METRIC = 100  # EMF limit on one metric's value array

DimensionKey = tuple[tuple[str, str], ...]


@dataclass
class _Group:
    """Metrics sharing one set of dimension values: they fit in one EMF document."""

    dimensions: DimensionKey
    dimension_sets: tuple[tuple[str, ...], ...] = ()  # per live stream, also rolled up to Service alone
    units: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


class EmfSink:
    """Buffers observations and writes them as EMF documents on flush (a Lambda invocation's end, a period)."""

    def __init__(
        self,
        *,
        service: str,
        namespace: str = NAMESPACE,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.namespace = namespace
        self._stream = stream
        self._clock = clock
        self._groups: dict[DimensionKey, _Group] = {}
        self._lock = threading.RLock()  # handlers run in worker threads; a flush must not lose their adds

    def add(self, definition: MetricDef, value: float, labels: Mapping[str, str]) -> None:
        """Buffer one observation under its dimension values."""
        key = tuple((dim, self.service if dim == "Service" else str(labels[dim])) for dim in definition.emf_dimensions)
        with self._lock:
            full = self._merge(key, definition, value)
        if full:
            self.flush()

    def _merge(self, key: DimensionKey, definition: MetricDef, value: float) -> bool:
        """Counters sum, gauges keep the last value, histograms keep every observation; True when one is full."""
        group = self._groups.get(key) or self._groups.setdefault(key, _Group(key, definition.emf_dimension_sets))
        group.units[definition.name] = definition.unit
        if definition.kind == "counter":
            group.values[definition.name] = group.values.get(definition.name, 0.0) + value
        elif definition.kind == "gauge":
            group.values[definition.name] = value
        else:
            observations = group.values.setdefault(definition.name, [])
            observations.append(value)
            return len(observations) >= MAX_VALUES_PER_METRIC
        return False

    def documents(self) -> list[dict[str, Any]]:
        """The EMF documents for everything buffered, without clearing it."""
        timestamp_ms = int(self._clock() * 1000)
        return [self._document(group, timestamp_ms) for group in self._groups.values()]

    def flush(self) -> list[dict[str, Any]]:
        """Write one JSON line per dimension set and forget them; returns what was written."""
        with self._lock:
            documents = self.documents()
            self._groups.clear()
        if not documents:
            return documents
        stream = self._stream or sys.stdout
        stream.write("".join(json.dumps(document, separators=(",", ":")) + "\n" for document in documents))
        stream.flush()  # one write: the lines never interleave with a log line of another thread
        return documents

    def _document(self, group: _Group, timestamp_ms: int) -> dict[str, Any]:
        directive = {
            "Namespace": self.namespace,
            "Dimensions": [list(names) for names in group.dimension_sets],
            "Metrics": [{"Name": name, "Unit": unit} for name, unit in group.units.items()],
        }
        return {
            "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]},
            **dict(group.dimensions),
            **group.values,
        }
