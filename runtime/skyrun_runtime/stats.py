"""Measuring a job attempt: memory samples and the statistics document."""

from __future__ import annotations

import time
from collections.abc import Callable

INTERVAL = 300.0  # seconds per timeseries point


class Sampler:
    """Samples resident memory while a job runs."""

    def __init__(self, rss: Callable[[], int]):
        self._rss = rss
        self.start = time.monotonic()
        self.samples: list[tuple[float, int]] = []

    def sample(self) -> int:
        """Take a sample; returns it."""
        value = self._rss()
        self.samples.append((time.monotonic() - self.start, value))
        return value

    def add(self, value: int) -> None:
        """Record a value measured elsewhere (the executor's own at the end of a job)."""
        self.samples.append((time.monotonic() - self.start, value))

    def statistics(self, cpu_seconds: float, runtime: float, cpus: float,
                   memory_limit: int) -> dict:
        """The ``JobStatistics`` data of the attempt."""
        values = [v for _, v in self.samples] or [0]
        peak = max(values)
        average = sum(values) / len(values)
        runtime = max(runtime, 1e-6)
        cpu_pct = 100.0 * cpu_seconds / (runtime * max(cpus, 1e-6))
        buckets = int(runtime // INTERVAL) + 1
        if buckets == 1 and (not self.samples or self.samples[-1][0] < INTERVAL):
            # Shorter than one interval, as most jobs are: the one point of each series
            # is the figures above (what the loop below makes of one bucket).
            return self._document(cpu_seconds, cpu_pct, peak, average, memory_limit,
                                  [(round(cpu_pct, 2), int(cpu_seconds * 1e9))],
                                  [(round(100.0 * peak / memory_limit, 2), peak)])
        memory_series, cpu_series = [], []
        for i in range(buckets):
            in_bucket = [v for t, v in self.samples if i * INTERVAL <= t < (i + 1) * INTERVAL]
            bucket_peak = max(in_bucket) if in_bucket else 0
            memory_series.append((round(100.0 * bucket_peak / memory_limit, 2), bucket_peak))
            share = min(INTERVAL, runtime - i * INTERVAL) / runtime
            cpu_series.append((round(cpu_pct, 2), int(cpu_seconds * share * 1e9)))
        return self._document(cpu_seconds, cpu_pct, peak, average, memory_limit, cpu_series,
                              memory_series)

    @staticmethod
    def _document(cpu_seconds: float, cpu_pct: float, peak: int, average: float,
                  memory_limit: int, cpu_series: list, memory_series: list) -> dict:
        return {
            "cpu": {"time": int(cpu_seconds * 1e9), "total": round(cpu_pct, 2),
                    "timeseries": cpu_series},
            "memory": {"peak_bytes": peak,
                       "peak_percentage": round(100.0 * peak / memory_limit, 2),
                       "total_bytes": int(average),
                       "total_percentage": round(100.0 * average / memory_limit, 2),
                       "timeseries": memory_series},
            "network": {"rx_bytes": 0, "tx_bytes": 0, "rx_dropped": 0, "tx_dropped": 0,
                        "rx_errors": 0, "tx_errors": 0},
        }
