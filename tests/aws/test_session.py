"""Clients of one process share a boto3 session while its AWS settings stay the same."""

from __future__ import annotations

import os
import select
import signal
import threading

from skyrun.backends.aws import session as session_module
from skyrun.backends.aws.session import default_session, new_client


def test_clients_of_the_same_settings_share_one_session(moto):
    first = new_client("dynamodb")
    second = new_client("s3")
    assert default_session() is default_session()
    # Both were made from the process's session: they share its credentials object.
    assert first._request_signer._credentials is second._request_signer._credentials
    assert first.list_tables()["TableNames"] is not None
    assert second.list_buckets()["Buckets"] is not None


def test_changed_settings_get_a_session_of_their_own(moto, monkeypatch):
    before = default_session()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "another-key")
    after = default_session()
    assert after is not before
    assert after.get_credentials().access_key == "another-key"
    client = new_client("sts")
    assert client._request_signer._credentials.access_key == "another-key"
    monkeypatch.undo()
    assert default_session().get_credentials().access_key == before.get_credentials().access_key


def test_rewritten_credentials_reach_the_next_client(moto, monkeypatch, tmp_path):
    # As after `aws configure` or a login tool in a long-lived process: the file changed,
    # the variables did not.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = AAA\naws_secret_access_key = x\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    assert new_client("sts")._request_signer._credentials.access_key == "AAA"
    credentials.write_text("[default]\naws_access_key_id = BBBB\naws_secret_access_key = y\n")
    assert new_client("sts")._request_signer._credentials.access_key == "BBBB"


def test_clients_made_in_parallel_threads_all_work(moto):
    clients, errors = [], []

    def make() -> None:
        try:
            clients.append(new_client("dynamodb"))
        except Exception as exc:  # the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(isinstance(c.list_tables()["TableNames"], list) for c in clients)


def test_a_child_forked_while_a_client_is_being_made_makes_its_own(moto):
    # Another thread holds the clients' lock at the fork (it is making a client): the
    # child's copy of the lock would never be released, so the child must not wait on it.
    parent = default_session()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with session_module._client_lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(30)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it made a client of a session of its own
        try:
            os.close(read)
            ok = default_session() is not parent and new_client("s3") is not None
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    release.set()
    holder.join()
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 60)
        answer = os.read(read, 1) if ready else b"timed out"
    finally:
        os.close(read)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert answer == b"1"
