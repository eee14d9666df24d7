"""A store URI -> its CheckpointStore: `local:/path` (stores.py), `kaggle:owner/slug` (kaggle_store.py), `hf:owner/repo`
(hf_store.py), or any fsspec URL such as `s3://bucket/prefix` (fsspec_store.py).

Apart from stores.py, which every backend builds on, so that choosing a backend imports the backends
without an import circle (tests/test_layout.py).
"""

from __future__ import annotations

import re

from ..errors import ConfigError
from .kaggle_store import KaggleStore
from .stores import CheckpointStore, LocalStore


def open_store(uri: str, api=None) -> CheckpointStore:
    if uri.startswith("local:"):
        return LocalStore(uri[len("local:"):])
    if uri.startswith("kaggle:"):
        return KaggleStore(uri[len("kaggle:"):], api=api)
    if uri.startswith("hf:"):  # a Hugging Face Hub repo (hf_store.py)
        from .hf_store import HfStore  # lazy: huggingface_hub is an optional extra

        return HfStore(uri[len("hf:"):])
    if re.match(r"^[a-z][a-z0-9+.-]*://", uri):  # s3://, gs://, az://, any fsspec URL (fsspec_store.py)
        from .fsspec_store import FsspecStore  # lazy: fsspec is an optional extra

        return FsspecStore(uri)
    raise ConfigError(f"bad store {uri!r}: use local:/path, kaggle:owner/slug, s3://bucket/prefix (or another "
                      "fsspec URL: gs://, az://) or hf:owner/repo")
