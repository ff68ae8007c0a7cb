"""The catalog: ``Blob``, stored data with metadata, and its search.

Results and logs of jobs are blobs, and users may store their own data as blobs too.
Build filters with ``from skyrun.catalog import properties as p``.
"""

from skyrun.catalog.blob import Blob
from skyrun.catalog.enums import DocumentState, StorageState, StorageType
from skyrun.catalog.properties import Properties, properties
from skyrun.catalog.search import BlobSearch

__all__ = [
    "Blob",
    "BlobSearch",
    "DocumentState",
    "Properties",
    "StorageState",
    "StorageType",
    "properties",
]
