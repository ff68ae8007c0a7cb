"""Clients of one process share a boto3 session while its AWS settings stay the same."""

from __future__ import annotations

import os
import threading

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
    assert default_session() is before


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


def test_a_forked_child_makes_its_own_session(moto):
    parent = default_session()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports whether it got the parent's session object
        os.close(read)
        try:
            ok = default_session() is not parent and new_client("s3") is not None
        except BaseException:
            ok = False
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"1"
