"""Content hashes and seeds that are the same on every machine and process.

Python's ``hash()`` is salted per process, so anything that names a file, a
run or a random stream derives from these instead.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def content_hash(value: Any, length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``canonical_json(value)``."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from ``parts``, the same on every machine (``hash()`` is salted)."""
    text = "\x1f".join(map(str, parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
