"""``ComputeClient``, the handle to one backend (defined in :mod:`skyrun.client`, below
both the compute and the catalog APIs, which share it)."""

from skyrun.client import ComputeClient, aws_backend_key, open_backend

__all__ = ["ComputeClient", "aws_backend_key", "open_backend"]
