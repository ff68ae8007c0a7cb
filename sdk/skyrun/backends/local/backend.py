"""``LocalBackend``: the embedded backend's stores, builder and launcher in one place."""

from __future__ import annotations

from pathlib import Path

from skyrun.backends.local.blobs import FileBlobStore
from skyrun.backends.local.builder import LocalBuilder
from skyrun.backends.local.database import Database
from skyrun.backends.local.launcher import ProcessLauncher
from skyrun.backends.local.logs import FileLogStore
from skyrun.backends.local.store import SQLiteStore
from skyrun.backends.ports import Backend, WorkerPace


class LocalBackend(Backend):
    """SQLite, files and local processes under one ``SKYRUN_HOME``."""

    name = "local"
    #: Requests cost microseconds: the default pace.
    pace = WorkerPace()
    store: SQLiteStore
    blobs: FileBlobStore
    logs: FileLogStore
    builder: LocalBuilder
    launcher: ProcessLauncher

    def __init__(self, home: Path):
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.db = Database.in_home(self.home)
        self.store = SQLiteStore(self.db)
        self.blobs = FileBlobStore(self.db, self.home)
        self.logs = FileLogStore(self.blobs)
        self.builder = LocalBuilder(self)
        self.launcher = ProcessLauncher(self.db, self.home)
        self.launcher.start_workers = self._start_workers
        self.launcher.executor_python = self.builder.executable

    def _start_workers(self, function_id: str) -> None:
        # Capacity was freed while this Function waited for it: start what now fits.
        from skyrun.engine import lifecycle

        function = self.store.get_function(function_id)
        if function is not None:
            lifecycle.ensure_workers(self, function)

    def job_environment(self) -> dict[str, str]:
        """What code inside a job needs to reach this backend."""
        return {"SKYRUN_BACKEND": "local", "SKYRUN_HOME": str(self.home)}

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.home)!r})"
