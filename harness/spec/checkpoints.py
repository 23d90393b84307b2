"""Starting weights from a local checkpoint: which files hold the tensors,
their content hash, reading them without executing code, and loading them
into a freshly built module (docs/suites.md, "Starting from a checkpoint").

A checkpoint is one of

* a ``.safetensors`` file, read with the ``safetensors`` package;
* a torch state dict (``.pt``, ``.pth``, ``.bin``), read with
  ``torch.load(..., weights_only=True)``, which refuses pickles that would
  build arbitrary objects (run code) instead of tensors;
* the folder of an earlier harness run: its ``record.json`` names the weights
  file in ``artifacts`` (``weights.pt``);
* a Hugging Face ``save_pretrained`` folder: ``model.safetensors``, or
  ``model.safetensors.index.json`` with its shards, or ``pytorch_model.bin``
  (``config.json`` is not read: the model's parameters come from the suite).

Its identity is the SHA-256 of the tensor files' bytes, never its path: a
changed file changes the run ids of the runs that start from it, a moved one
does not. The core loads the tensors into a state dict and hands them to the
model's ``load_checkpoint(module, state)`` when it defines one
(:class:`harness.plugin.contracts.LoadsCheckpoint`), otherwise to
:func:`load_matching`: ``load_state_dict(strict=False)`` that refuses a
checkpoint sharing no tensor name with the module or disagreeing in a shape.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.output.layout import RECORD, WEIGHTS
from harness.plugin.contracts import check_checkpoint_report

if TYPE_CHECKING:
    import torch
    from torch import nn

#: what a suite's ``checkpoint`` may name, for messages
ACCEPTED = (
    "a .safetensors file, a torch state dict (.pt, .pth or .bin, read with weights_only=True), "
    "the folder of an earlier harness run (its weights.pt), or a Hugging Face save_pretrained "
    "folder (model.safetensors, model.safetensors.index.json or pytorch_model.bin)"
)
#: suffixes of single tensor files, by format
SAFETENSORS_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".pt", ".pth", ".bin")
#: file names in a Hugging Face save_pretrained folder, in the order looked for
HF_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
#: a harness run folder (harness.output.store.RECORD) and its weights when the record does not say
#: how many mismatches a message lists
_SHOWN = 8


class CheckpointError(Exception):
    """A checkpoint cannot be used: missing, not a state dict, needs code to
    load, changed since the suite was loaded, or does not fit the model.
    ``where`` is the suite key that named it."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint a suite names, located and hashed when the suite is loaded.

    Only :attr:`sha256` is part of a run's id; :attr:`path` and :attr:`where`
    say where it was found and which suite key named it.
    """

    path: str
    sha256: str
    #: "safetensors", "torch", "harness_run" or "huggingface"
    format: str
    #: the suite key that named it, such as ``conditions[1].checkpoint``
    where: str = ""
    #: the run id of a harness run folder, else None
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "format": self.format,
                "where": self.where, "run_id": self.run_id}  # fmt: skip


@dataclass(frozen=True)
class _Located:
    format: str
    files: tuple[Path, ...]
    run_id: str | None = None


def _locate(path: Path, where: str) -> _Located:
    """The tensor files of the checkpoint at ``path``."""
    if not path.exists():
        raise CheckpointError(where, f"no such file or folder: {path}; expected {ACCEPTED}")
    if path.is_file():
        if path.name == RECORD:
            return _locate(path.parent, where)
        if path.suffix in SAFETENSORS_SUFFIXES:
            return _Located("safetensors", (path,))
        if path.suffix == ".json" and path.name.endswith(".safetensors.index.json"):
            return _Located("huggingface", _shards(path, where))
        # any other suffix is tried as a torch file; reading it says what it is
        return _Located("torch", (path,))
    record = path / RECORD
    if record.is_file():
        return _run_folder(path, record, where)
    for name in HF_FILES:
        if (path / name).is_file():
            located = _locate(path / name, where)
            return _Located("huggingface", located.files)
    present = sorted(p.name for p in path.iterdir())[:_SHOWN]
    raise CheckpointError(
        where,
        f"the folder {path} holds neither a harness run (record.json and weights.pt) nor a "
        f"Hugging Face model ({', '.join(HF_FILES)}); it holds "
        f"{', '.join(present) or 'nothing'}. Expected {ACCEPTED}",
    )


def _run_folder(path: Path, record: Path, where: str) -> _Located:
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(where, f"cannot read the run record {record}: {exc}") from exc
    artifacts = data.get("artifacts") if isinstance(data, dict) else None
    name = artifacts.get("weights", WEIGHTS) if isinstance(artifacts, dict) else WEIGHTS
    weights = path / str(name)
    if not weights.is_file():
        status = data.get("status") if isinstance(data, dict) else None
        raise CheckpointError(
            where,
            f"the run folder {path} (status {status!r}) has no weights file {name!r}; a failed "
            "run keeps no weights",
        )
    run_id = data.get("run_id") if isinstance(data, dict) else None
    return _Located("harness_run", (weights,), run_id if isinstance(run_id, str) else None)


def _shards(index: Path, where: str) -> tuple[Path, ...]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        names = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(
            where, f"{index} is not a safetensors index (a 'weight_map' of tensor -> file): {exc}"
        ) from exc
    files = tuple(index.parent / str(n) for n in names)
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise CheckpointError(where, f"{index} names shards that are missing: {missing}")
    return files


def _sha256(contents: list[tuple[Path, bytes]]) -> str:
    """SHA-256 of one file's bytes (what ``sha256sum`` prints); of several
    (shards), of their names and digests, one ``name:digest`` line each."""
    if len(contents) == 1:
        return hashlib.sha256(contents[0][1]).hexdigest()
    return _combined([(p.name, hashlib.sha256(b).hexdigest()) for p, b in contents])


def _combined(digests: list[tuple[str, str]]) -> str:
    lines = "".join(f"{name}:{digest}\n" for name, digest in digests)
    return hashlib.sha256(lines.encode()).hexdigest()


def _read_file(path: Path, data: bytes, where: str) -> dict[str, torch.Tensor]:
    """The tensors of one file, never running code from it."""
    if path.suffix in SAFETENSORS_SUFFIXES:
        return _read_safetensors(path, data, where)
    return _read_torch(path, data, where)


def _read_safetensors(path: Path, data: bytes, where: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return dict(load(data))
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise _not_safetensors(where, path, exc) from exc


def _not_safetensors(where: str, path: Path, exc: Exception) -> CheckpointError:
    """A file named or listed as safetensors that is not one, with what would be valid."""
    return CheckpointError(
        where,
        f"{path} is not a safetensors file ({exc}); expected {ACCEPTED}, written by "
        "safetensors' save_file or a model's save_pretrained",
    )


def _read_torch(path: Path, data: bytes, where: str) -> dict[str, torch.Tensor]:
    import torch

    try:
        value = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        message = str(exc)
        refused = next((line for line in message.splitlines() if "nsupported" in line), "")
        refused = refused.split(" Please use")[0]  # torch's advice is to allow the global
        if "GLOBAL" in refused:  # a global is a callable the pickle would call
            raise CheckpointError(
                where,
                f"{path} needs code execution to load: it pickles objects other than tensors "
                f"({refused.strip()}), and the harness never runs code from a checkpoint "
                "(torch.load(weights_only=True) refused it). Save the module's state_dict() "
                f"with torch.save, or as safetensors; expected {ACCEPTED}",
            ) from exc
        raise CheckpointError(
            where,
            f"{path} is neither a torch file nor a safetensors file (torch.load(weights_only="
            f"True) refused it: {(refused or message).strip()}); expected {ACCEPTED}",
        ) from exc
    except Exception as exc:  # torch raises what its parser met: KeyError, RuntimeError...
        raise CheckpointError(
            where,
            f"{path} is neither a torch file nor a safetensors file ({type(exc).__name__}: "
            f"{exc}); expected {ACCEPTED}",
        ) from exc
    return _state_dict(path, value, where)


def _state_dict(path: Path, value: Any, where: str) -> dict[str, torch.Tensor]:
    import torch

    if not isinstance(value, Mapping):
        raise CheckpointError(
            where,
            f"{path} holds a {type(value).__name__}, not a state dict (a mapping of tensor names "
            "to tensors, as module.state_dict() gives)",
        )
    bad = [
        str(k) for k, v in value.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))
    ]
    if bad or not value:
        nested = [k for k in bad if isinstance(value[k], Mapping)]
        hint = (
            f"; its entries {nested[:_SHOWN]} are themselves mappings: save the state dict "
            "itself, such as checkpoint['state_dict']"
            if nested
            else ""
        )
        what = f"entries that are not tensors: {bad[:_SHOWN]}" if bad else "no tensors"
        raise CheckpointError(
            where, f"{path} is not a state dict (names -> tensors): it has {what}{hint}"
        )
    return dict(value)


def _read(located: _Located, where: str) -> tuple[str, dict[str, torch.Tensor]]:
    contents = []
    for file in located.files:
        try:
            contents.append((file, file.read_bytes()))
        except OSError as exc:
            raise CheckpointError(where, f"cannot read {file}: {exc.strerror}") from exc
    state: dict[str, torch.Tensor] = {}
    for file, data in contents:
        state.update(_read_file(file, data, where))
    return _sha256(contents), state


def _check(located: _Located, where: str) -> str:
    """The SHA-256 of ``located``, its files checked as :func:`_read` reads them;
    a safetensors file by its header only, so validation does not hold the
    tensors of a large model in memory."""
    if not all(f.suffix in SAFETENSORS_SUFFIXES for f in located.files):
        return _read(located, where)[0]
    from safetensors import SafetensorError, safe_open

    contents = []
    for file in located.files:
        try:
            with safe_open(str(file), framework="pt") as opened:
                keys = list(opened.keys())
            with file.open("rb") as stream:
                digest = hashlib.file_digest(stream, "sha256")
        except (SafetensorError, ValueError, RuntimeError) as exc:
            raise _not_safetensors(where, file, exc) from exc
        except OSError as exc:
            raise CheckpointError(where, f"cannot read {file}: {exc.strerror}") from exc
        if not keys:
            raise CheckpointError(where, f"{file} holds no tensors")
        contents.append((file, digest.hexdigest()))
    if len(contents) == 1:
        return contents[0][1]
    return _combined([(p.name, d) for p, d in contents])


#: checkpoints already inspected in this process, by path, size and modification time
_INSPECTED: dict[tuple[str, tuple[tuple[int, int], ...]], Checkpoint] = {}


def inspect_checkpoint(path: str | Path, where: str = "") -> Checkpoint:
    """Locate, read and hash the checkpoint at ``path`` (``~`` expanded; relative
    to the working directory); once per process while its files are unchanged.

    :raises CheckpointError: naming ``where`` and what is valid.
    """
    resolved = Path(path).expanduser().resolve()
    located = _locate(resolved, where)
    stamp = tuple((s.st_size, s.st_mtime_ns) for s in (f.stat() for f in located.files))
    key = (str(resolved), stamp)
    if key not in _INSPECTED:
        sha256 = _check(located, where)
        _INSPECTED[key] = Checkpoint(str(resolved), sha256, located.format, where, located.run_id)
    cached = _INSPECTED[key]
    return (
        cached
        if cached.where == where
        else Checkpoint(cached.path, cached.sha256, cached.format, where, cached.run_id)
    )


def read_checkpoint(checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
    """The tensors of ``checkpoint`` (on the CPU), checked against its hash.

    :raises CheckpointError: when the files changed since the suite was loaded
        (the run id names the content the suite saw), or cannot be read.
    """
    located = _locate(Path(checkpoint.path), checkpoint.where)
    sha256, state = _read(located, checkpoint.where)
    if sha256 != checkpoint.sha256:
        raise CheckpointError(
            checkpoint.where,
            f"{checkpoint.path} changed since the suite was loaded (SHA-256 {sha256[:16]}, "
            f"expected {checkpoint.sha256[:16]}); run the suite again so its run ids name "
            "the new content",
        )
    return state


def load_matching(
    module: nn.Module, state: Mapping[str, torch.Tensor], where: str = ""
) -> dict[str, list[str]]:
    """The default loader: every tensor whose name the module has, with the
    module's shape; the module's tensors the checkpoint lacks (a new head)
    keep their initial values.

    :raises CheckpointError: when no name matches or a shape disagrees, listing them.
    """
    own = module.state_dict()
    loaded = sorted(k for k in state if k in own)
    if not loaded:
        raise CheckpointError(
            where,
            "no tensor of the checkpoint has a name the model has: the checkpoint has "
            f"{_listing(sorted(state))}, the model {_listing(sorted(own))}. A checkpoint of "
            "another model needs the model plugin to map the names (load_checkpoint)",
        )
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
        for k in loaded
        if tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if shapes:
        raise CheckpointError(
            where,
            f"{len(shapes)} tensor(s) of the checkpoint have another shape than the model's "
            f"(built with other parameters?): {'; '.join(shapes[:_SHOWN])}"
            + (f"; and {len(shapes) - _SHOWN} more" if len(shapes) > _SHOWN else ""),
        )
    module.load_state_dict({k: state[k] for k in loaded}, strict=False)
    return {
        "loaded": loaded,
        "missing": sorted(k for k in own if k not in state),
        "unexpected": sorted(k for k in state if k not in own),
    }


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return f"{len(names)} tensors ({shown}{', ...' if len(names) > _SHOWN else ''})"


def apply_checkpoint(
    model: Any, module: nn.Module, state: Mapping[str, torch.Tensor], name: str, where: str = ""
) -> dict[str, list[str]]:
    """Load ``state`` into ``module``: through the model's ``load_checkpoint``
    when it has one (its answer checked), else :func:`load_matching`.

    :return: ``{"loaded": [...], "missing": [...], "unexpected": [...]}``, tensor names.
    """
    hook = getattr(model, "load_checkpoint", None)
    if hook is None:
        return load_matching(module, state, where)
    return check_checkpoint_report(name, hook(module, dict(state)))


class StartingWeights:
    """The ``initialise`` of :func:`harness.learning.training.build_module`: loads
    ``checkpoint`` into every module built with it (the tensors read once),
    keeping what the last load reported for the run record."""

    def __init__(self, checkpoint: Checkpoint, model: Any, name: str) -> None:
        self.checkpoint = checkpoint
        self.model = model
        self.name = name
        self.state: dict[str, torch.Tensor] | None = None
        self.report: dict[str, list[str]] | None = None

    def __call__(self, module: nn.Module) -> None:
        if self.state is None:
            self.state = read_checkpoint(self.checkpoint)
        try:
            self.report = apply_checkpoint(
                self.model, module, self.state, self.name, self.checkpoint.where
            )
        except ValueError as exc:  # a model's own load_checkpoint refusing it
            raise CheckpointError(
                self.checkpoint.where,
                f"model plugin {self.name!r} cannot load {self.checkpoint.path}: {exc}",
            ) from exc

    def record(self) -> dict[str, Any]:
        """The run record's ``checkpoint``: where it came from, its hash, and the
        tensor names loaded, missing from it and unused (once applied)."""
        return {**self.checkpoint.to_dict(), **(self.report or {})}
