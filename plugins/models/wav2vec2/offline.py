"""The optional dependency of the wav2vec2 model, Hugging Face ``transformers``, kept offline.

Importing this module sets ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` before
transformers is imported anywhere in the process, so nothing is ever downloaded;
:func:`require_transformers` returns the package or names the extra to install.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

# forced before transformers is imported anywhere in this process
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

#: the optional dependency and how to install it
EXTRA = "wav2vec2"
INSTALL = f"pip install 'speech-pretrain-harness[{EXTRA}]'"


def transformers_installed() -> bool:
    return importlib.util.find_spec("transformers") is not None


def transformers_problem() -> str | None:
    """Why the model cannot use transformers here (not installed, or installed
    but failing to import), for validation; None when it imports."""
    if not transformers_installed():
        return (
            f"needs Hugging Face transformers, which is not installed: install the "
            f"[{EXTRA}] extra ({INSTALL})"
        )
    try:
        require_transformers().Wav2Vec2Config  # noqa: B018 (the import is the check)
    except Exception as exc:  # a broken install fails in many ways
        return (
            f"needs Hugging Face transformers, which is installed but does not import "
            f"({type(exc).__name__}: {exc}); reinstall the [{EXTRA}] extra ({INSTALL})"
        )
    return None


def require_transformers() -> Any:
    """The ``transformers`` package, or an ImportError naming the extra to install."""
    if not transformers_installed():
        raise ImportError(
            f"the wav2vec2 model needs Hugging Face transformers, the [{EXTRA}] extra: {INSTALL}"
        )
    import huggingface_hub.constants
    import transformers

    # transformers may have been imported before this module set the variables
    huggingface_hub.constants.HF_HUB_OFFLINE = True
    return transformers
