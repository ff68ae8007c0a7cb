"""``JobStatistics``: measured CPU, memory and network usage of a job's last attempt."""

from __future__ import annotations


class _Stats:
    _fields: tuple[str, ...] = ()

    def __init__(self, data: dict | None = None):
        data = data or {}
        for name in self._fields:
            value = data.get(name, [] if name == "timeseries" else 0)
            if name == "timeseries":
                value = [tuple(v) for v in value]
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise ValueError(f"Unable to set readonly attribute '{name}'")

    def to_dict(self) -> dict:
        """The values as a dict."""
        return {n: (list(map(list, v)) if n == "timeseries" else v)
                for n in self._fields for v in [getattr(self, n)]}

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({inner})"


class CpuStatistics(_Stats):
    """``time`` (CPU nanoseconds), ``total`` (% of the allocated cpus), ``timeseries``."""

    _fields = ("time", "total", "timeseries")


class MemoryStatistics(_Stats):
    """Peak and average resident memory in bytes and as % of the Function's memory."""

    _fields = ("peak_bytes", "peak_percentage", "total_bytes", "total_percentage", "timeseries")


class NetworkStatistics(_Stats):
    """Task network counters (AWS); 0 on the local backend."""

    _fields = ("rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped", "rx_errors", "tx_errors")


class JobStatistics:
    """Read-only usage of a job's last attempt: ``cpu``, ``memory`` and ``network``."""

    cpu: CpuStatistics
    memory: MemoryStatistics
    network: NetworkStatistics

    def __init__(self, data: dict | None = None):
        data = data or {}
        object.__setattr__(self, "cpu", CpuStatistics(data.get("cpu")))
        object.__setattr__(self, "memory", MemoryStatistics(data.get("memory")))
        object.__setattr__(self, "network", NetworkStatistics(data.get("network")))

    def __setattr__(self, name, value):
        raise ValueError(f"Unable to set readonly attribute '{name}'")

    def to_dict(self) -> dict:
        """Nested dicts."""
        return {"cpu": self.cpu.to_dict(), "memory": self.memory.to_dict(),
                "network": self.network.to_dict()}

    def __repr__(self) -> str:
        return f"JobStatistics(cpu={self.cpu!r}, memory={self.memory!r})"
