"""A moto server that applies one request at a time, for tests and the sandbox.

moto's in-memory services are not safe under concurrent requests: a DynamoDB
transaction that fails restores a copy of whole tables, undoing what other requests
wrote meanwhile. Real AWS isolates requests (DynamoDB transactions are serializable), so
serving moto's requests one at a time gives the behaviour skyrun relies on, while worker
processes and threads still send requests concurrently. moto is a test dependency only.
"""

from __future__ import annotations

import threading
from typing import Any


def serialized_moto_server(ip_address: str = "127.0.0.1", port: int = 0) -> Any:
    """A started ``ThreadedMotoServer`` whose requests run one at a time; its
    ``endpoint`` attribute is the URL to put in ``AWS_ENDPOINT_URL``. Stop it with
    ``.stop()``."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    class SerializedMotoServer(ThreadedMotoServer):
        endpoint: str

        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            lock = threading.Lock()

            def serial(environ: Any, start_response: Any) -> list[bytes]:
                with lock:
                    # Read the whole response under the lock: moto builds it lazily.
                    return list(app(environ, start_response))

            self._server = make_server(self._ip_address, self._port, serial, True)
            self._server_ready_event.set()
            self._server.serve_forever()

    import logging

    from skyrun.backends.aws import motopatches

    # Transactions back up the items they name, not whole tables, and queries do not
    # sort the whole table at every comparison (see motopatches).
    motopatches.apply()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = SerializedMotoServer(ip_address=ip_address, port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    server.endpoint = f"http://{host}:{bound}"
    return server
