"""``Blob``: stored data with metadata. Results and logs are blobs; users store their own.

A blob's id is ``"{storage_type}/{namespace}/{name}"``. Metadata and data go through the
backend's ``BlobStore`` (``client.backend.blobs``); the rules (field limits, states,
ranges, defaults) live here so that every backend applies them alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from skyrun.catalog import reading
from skyrun.catalog.attributes import (
    ClassOrInstanceMethod,
    DictAttribute,
    lenient_enum,
)
from skyrun.catalog.attributes import field_attribute as _attr
from skyrun.catalog.enums import DocumentState, StorageState, StorageType
from skyrun.catalog.fields import EXTRA, FIELDS, check
from skyrun.catalog.search import BlobSearch, purge_expired
from skyrun.client import ComputeClient
from skyrun.common.document import Document
from skyrun.common.namespaces import default_owners
from skyrun.common.search import In
from skyrun.exceptions import NotFoundError, ValidationError

_LISTS = ("tags", "owners", "readers", "writers")
_BATCH = 500  # ids per query, well under SQLite's bound-parameter limit


class Blob(Document):
    """Stored data with metadata.

    ``Blob(name=None, namespace=None, storage_type=StorageType.DATA, client=None,
    **attrs)`` makes an unsaved blob; ``upload``, ``upload_data`` or ``save`` store it.
    ``namespace`` goes through ``Blob.namespace_id`` and defaults to the caller's
    ``"org:user"``; an explicit ``id`` is kept exactly as given, its namespace included.
    ``owners`` defaults to ``["user:<namespace>", "org:<org>"]``. Field limits are
    checked when the blob is stored (``ValidationError``).
    """

    # A deleted blob still answers ``delete()`` (with NotFoundError), as the original does.
    _AFTER_DELETE = frozenset({"state", "delete"})

    id = _attr("id", "``{storage_type}/{namespace}/{name}``", readonly=True)
    name = _attr("name", "The name; ``/`` separates levels for prefix search", immutable=True)
    namespace = _attr("namespace", "The owning namespace, ``org:...``", immutable=True)
    storage_type = _attr("storage_type", "The StorageType", immutable=True,
                         present=lenient_enum(StorageType))
    storage_state = _attr("storage_state", "The StorageState", immutable=True,
                          present=lenient_enum(StorageState))
    size_bytes = _attr("size_bytes", "Size of the data in bytes", readonly=True)
    created = _attr("created", "When the blob was stored", readonly=True)
    modified = _attr("modified", "When the blob last changed", readonly=True)
    expires = _attr("expires", "After this time the blob counts as missing and is removed")
    description = _attr("description", "Free text, at most 80,000 characters")
    extra_properties = DictAttribute(FIELDS[EXTRA].kind,
                                      doc="At most 50 str keys with str or number values")
    tags = _attr("tags", "At most 32 tags of at most 1000 bytes")
    owners = _attr("owners", "Owner entries (recorded, not enforced)")
    readers = _attr("readers", "Reader entries (recorded, not enforced)")
    writers = _attr("writers", "Writer entries (recorded, not enforced)")
    href = _attr("href", "Where the data is (a file path locally); set by the user for "
                         "REMOTE blobs")
    hash = _attr("hash", "MD5 of the data", readonly=True)

    def __init__(self, name: str | None = None, namespace: str | None = None,
                 storage_type=StorageType.DATA, client: ComputeClient | None = None,
                 id: str | None = None, **attrs):
        self._client = ComputeClient.resolve(client)
        if id is not None:
            # An explicit id is kept exactly as given, namespace included, as
            # ``Blob.get(id=...)`` keeps it: only a bare ``namespace=`` is qualified.
            storage_type, namespace, name = _split_id(id, storage_type, namespace, name,
                                                      self._client)
        else:
            namespace = self.namespace_id(namespace, self._client)
        super().__init__(**attrs)
        self.storage_type = StorageType.DATA if storage_type is None else storage_type
        self.namespace = namespace
        if name is not None:
            self.name = name
        for key in _LISTS:
            if key not in self._changes:
                self._set(key, list(default_owners(self.namespace) if key == "owners" else []))
        if EXTRA not in self._changes:
            self._set(EXTRA, {})

    # -- loading and state --------------------------------------------------------------
    @classmethod
    def _from_stored(cls, record: dict, client: ComputeClient) -> Blob:
        return cls._from_record(_normalized(record), _client=client)

    def _load(self, record: dict) -> None:
        super()._load(_normalized(record))

    def _get(self, name: str, default=None):
        if name == "id" and "id" not in self._record:
            parts = [super(Blob, self)._get(k) for k in ("storage_type", "namespace", "name")]
            return None if None in parts else "/".join(str(p) for p in parts)
        return super()._get(name, default)

    # The catalog's own states ("unsaved" where compute documents say "new"): its API.
    @property
    def state(self) -> DocumentState:  # type: ignore[override]
        """``unsaved``, ``saved``, ``modified`` or ``deleted``."""
        if self._deleted:
            return DocumentState.DELETED
        if not self._saved:
            return DocumentState.UNSAVED
        return DocumentState.MODIFIED if self.is_modified else DocumentState.SAVED

    @property
    def _blobs(self):
        return self._client.backend.blobs

    @classmethod
    def namespace_id(cls, namespace_id: str | None = None,
                     client: ComputeClient | None = None) -> str:
        """The full namespace: ``"org:user"`` for None, ``namespace_id`` itself when it is
        the org or starts with ``org + ":"``, else ``"org:<namespace_id>"``."""
        auth = ComputeClient.resolve(client).auth
        org = auth.payload["org"]
        if not namespace_id:
            return f"{org}:{auth.namespace}"
        if not isinstance(namespace_id, str):
            raise ValidationError.single("namespace", f"{namespace_id!r} is not allowed; a "
                                                      "namespace is a str")
        if namespace_id == org or namespace_id.startswith(org + ":"):
            return namespace_id
        return f"{org}:{namespace_id}"

    # -- creating -----------------------------------------------------------------------
    def upload(self, file) -> Blob:
        """Store the data of a path or a readable binary file and create the blob."""
        self._prepare_upload()
        return self._create(reading.read_source(file))

    def upload_data(self, data: bytes | str) -> Blob:
        """Store ``data`` (bytes, or str as UTF-8) and create the blob."""
        self._prepare_upload()
        if isinstance(data, str):
            data = data.encode()
        elif isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        elif not isinstance(data, bytes):
            raise ValueError(f"Invalid data value of type {type(data).__name__}: must be "
                             "bytes or str")
        return self._create(data)

    def _prepare_upload(self) -> None:
        self._check_deleted()
        if self._saved:
            raise ValueError(f"Blob {self.id} has been saved. Please use an unsaved blob for "
                             "uploading")
        if not self.name:
            raise ValueError("name field required")

    def save(self) -> None:
        """Create the blob as a record without data (``REMOTE`` by default), or write the
        changes of a modified blob; a saved, unmodified blob is left as it is."""
        self._check_deleted()
        if not self._saved:
            if not self.name:
                raise ValueError("name field required")
            self._create(None)
        elif self.is_modified:
            self._update()

    def _create(self, data: bytes | None) -> Blob:
        if self._get("storage_state") is None or data is not None:
            self._set("storage_state", (StorageState.AVAILABLE if data is not None
                                        else StorageState.REMOTE).value)
        values = {name: self._get(name) for name in FIELDS}
        check(values)
        if data is None and values["storage_state"] == StorageState.AVAILABLE.value:
            raise ValidationError.single(
                "storage_state", "'available' needs data: use upload() or upload_data(), "
                                 "or save() a 'remote' blob")
        record = {k: (list(v) if isinstance(v, list) else v) for k, v in values.items()
                  if not _READONLY.get(k)}
        record["id"] = values["id"]
        stored = self._blobs.put(record, data)
        self._load(stored)
        return self

    def _update(self) -> None:
        changes = self._changed()
        check({name: self._get(name) for name in FIELDS})
        if self._blobs.get_record(self.id) is None:
            raise NotFoundError(f"Blob {self.id} does not exist")
        stored = self._blobs.update(self.id, {
            k: (list(v) if isinstance(v, list) else v) for k, v in changes.items()})
        if stored is None:
            raise NotFoundError(f"Blob {self.id} does not exist")
        self._load(stored)

    # -- reading ------------------------------------------------------------------------
    @classmethod
    def get(cls, id: str | None = None, storage_type=StorageType.DATA,
            namespace: str | None = None, name: str | None = None,
            client: ComputeClient | None = None) -> Blob | None:
        """The blob, or None if there is none (or it has expired). Give ``id``, or
        ``name`` (with ``storage_type`` and ``namespace``), not both."""
        client = ComputeClient.resolve(client)
        blob_id = cls._resolve_id(id, storage_type, namespace, name, client)
        record = client.backend.blobs.get_record(blob_id)
        return None if record is None else cls._from_stored(record, client)

    @classmethod
    def get_many(cls, ids: Iterable[str], ignore_missing: bool = False,
                 client: ComputeClient | None = None) -> list[Blob]:
        """[skyrun addition] The blobs of ``ids``, in that order, found in one query per
        500 ids. A missing id raises ``NotFoundError`` unless ``ignore_missing``."""
        client = ComputeClient.resolve(client)
        wanted = _id_list(ids)
        found = _records(client, wanted)
        missing = [i for i in wanted if i not in found]
        if missing and not ignore_missing:
            raise NotFoundError(f"Blobs do not exist: {', '.join(missing)}")
        return [cls._from_stored(found[i], client) for i in wanted if i in found]

    @classmethod
    def exists(cls, id: str | None = None, storage_type=StorageType.DATA,
               namespace: str | None = None, name: str | None = None,
               client: ComputeClient | None = None) -> bool:
        """[skyrun addition] Whether the blob exists (and has not expired); the same id
        rules as ``get``."""
        client = ComputeClient.resolve(client)
        blob_id = cls._resolve_id(id, storage_type, namespace, name, client)
        return client.backend.blobs.get_record(blob_id) is not None

    @classmethod
    def get_data(cls, id: str | None = None, storage_type=StorageType.DATA,
                 namespace: str | None = None, name: str | None = None,
                 client: ComputeClient | None = None, range=None, stream: bool = False,
                 chunk_size: int | None = None) -> bytes | Iterator[bytes]:
        """The blob's data (or a ``range`` of it), or an iterator of chunks with
        ``stream=True``. A missing or REMOTE blob raises ``NotFoundError``."""
        client = ComputeClient.resolve(client)
        blob_id = cls._resolve_id(id, storage_type, namespace, name, client)
        return _read(client.backend.blobs, blob_id, range, stream, chunk_size)

    def data(self, range=None) -> bytes:
        """The data, or the bytes of ``range``."""
        self._require_saved()
        return _read(self._blobs, self.id, range, False, None)

    def iter_data(self, chunk_size: int | None = None, range=None) -> Iterator[bytes]:
        """The data in chunks of ``chunk_size`` bytes (1 MiB by default)."""
        self._require_saved()
        return _read(self._blobs, self.id, range, True, chunk_size)

    def iter_lines(self, decode_unicode: bool = False, delimiter: str | bytes | None = None,
                   chunk_size: int | None = None) -> Iterator[bytes | str]:
        """[skyrun addition] The data as lines without their terminators: bytes, or str
        (UTF-8) with ``decode_unicode``; split on ``delimiter`` if given. Streams."""
        self._require_saved()
        pieces = _read(self._blobs, self.id, None, True, chunk_size)
        return reading.lines(pieces, decode_unicode, delimiter)

    def download(self, file, range=None) -> str | None:
        """Write the data (or ``range``) to a path or a writable binary file; returns the
        file's name. A path is written whole or not at all."""
        self._require_saved()
        pieces = _read(self._blobs, self.id, range, True, None)
        return reading.write_to(file, pieces)

    def _require_saved(self) -> None:
        self._check_deleted()
        if not self._saved:
            raise ValueError(f"Blob {self.id} has not been saved")

    @classmethod
    def _resolve_id(cls, id, storage_type, namespace, name, client) -> str:
        if (id is None) == (name is None):
            raise TypeError("Must specify exactly one of id or name parameters")
        if id is not None:
            return id
        kind = StorageType(StorageType.DATA if storage_type is None else storage_type)
        return f"{kind.value}/{cls.namespace_id(namespace, client)}/{name}"

    # -- deleting -----------------------------------------------------------------------
    def _delete_instance(self) -> None:
        """Delete this blob; its state becomes ``deleted``. An unsaved blob raises
        ``ValueError``; one that no longer exists raises ``NotFoundError``."""
        if not self._saved:
            raise ValueError("You cannot delete an unsaved object.")
        blob_id = self._record["id"]
        if self._deleted or not _delete(self._client, [blob_id]):
            raise NotFoundError(f"Blob {blob_id} does not exist")
        self._deleted = True

    def _delete_by_id(cls, id: str, client: ComputeClient | None = None) -> bool | None:
        """Delete the blob ``id``: True, or None if there was no such blob."""
        return True if _delete(ComputeClient.resolve(client), [id]) else None

    delete = ClassOrInstanceMethod(_delete_by_id, _delete_instance)

    @classmethod
    def delete_many(cls, ids: Iterable[str], raise_on_missing: bool = False,
                    wait_for_completion: bool = False,
                    client: ComputeClient | None = None) -> list[str]:
        """Delete blobs; returns the ids deleted. With ``raise_on_missing``, a missing id
        raises ``NotFoundError`` and nothing is deleted. Deletes are synchronous, so
        ``wait_for_completion`` has no effect."""
        client = ComputeClient.resolve(client)
        wanted = _id_list(ids)
        if raise_on_missing:
            found = _records(client, wanted)
            missing = [i for i in wanted if i not in found]
            if missing:
                raise NotFoundError(f"Blobs do not exist: {', '.join(missing)}")
        deleted = set(_delete(client, wanted))
        return [i for i in wanted if i in deleted]

    # -- searching ----------------------------------------------------------------------
    @classmethod
    def search(cls, client: ComputeClient | None = None) -> BlobSearch:
        """A lazy search over the blobs of every namespace; filter with ``properties``."""
        return BlobSearch(cls, ComputeClient.resolve(client))

    @classmethod
    def purge_expired(cls, client: ComputeClient | None = None) -> int:
        """[skyrun addition] Remove every blob whose ``expires`` has passed (data and
        record); returns how many. Searches also do this now and then."""
        return purge_expired(ComputeClient.resolve(client))


_READONLY = {name: Blob._attributes[name].readonly for name in FIELDS}


# -- helpers ----------------------------------------------------------------------------
def _normalized(record: dict) -> dict:
    """A stored record with empty lists and dict for missing ones, so that reading them
    does not look like a change."""
    record = dict(record)
    for key in _LISTS:
        if record.get(key) is None:
            record[key] = []
    if record.get(EXTRA) is None:
        record[EXTRA] = {}
    return record


def _split_id(blob_id: str, storage_type, namespace, name, client):
    """``(storage_type, namespace, name)`` of an id, checked against given parts. The
    parts are the id's own; a given ``namespace`` agrees with the id when it is the id's
    namespace as given or as ``Blob.namespace_id`` qualifies it."""
    parts = blob_id.split("/", 2) if isinstance(blob_id, str) else []
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"Invalid blob id {blob_id!r}: expected "
                         "'<storage_type>/<namespace>/<name>'")
    if namespace is not None and namespace != parts[1] and (
            Blob.namespace_id(namespace, client) != parts[1]):
        raise ValueError(f"Blob id {blob_id!r} conflicts with namespace={namespace!r}")
    if name is not None and name != parts[2]:
        raise ValueError(f"Blob id {blob_id!r} conflicts with name={name!r}")
    return parts[0], parts[1], parts[2]


def _id_list(ids) -> list[str]:
    if isinstance(ids, str):
        ids = [ids]
    return list(dict.fromkeys(ids))


def _records(client, ids: list[str]) -> dict[str, dict]:
    """The unexpired records of ``ids``, by id."""
    found: dict[str, dict] = {}
    for start in range(0, len(ids), _BATCH):
        batch = tuple(ids[start:start + _BATCH])
        for record in client.backend.blobs.search(In("id", batch, "str"), [], None):
            found[record["id"]] = record
    return found


def _delete(client, ids: list[str]) -> list[str]:
    """Delete ``ids``; return those that existed and had not expired. Expired ones are
    removed too, but count as missing."""
    live = _records(client, ids)
    return [i for i in client.backend.blobs.delete(ids) if i in live]


def _read(blobs, blob_id: str, range_value, stream: bool, chunk_size):
    bounds = reading.parse_range(range_value)
    record = blobs.get_record(blob_id)
    if record is None or record.get("storage_state") == StorageState.REMOTE.value:
        raise NotFoundError(f"Blob {blob_id} does not exist")
    start, end = reading.resolve(bounds, record.get("size_bytes") or 0)
    if stream:
        return reading.chunks(blobs, blob_id, start, end, chunk_size)
    return reading.read(blobs, blob_id, start, end)
