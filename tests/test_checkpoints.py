"""Starting a model from a local checkpoint (harness/spec/checkpoints.py): the files
accepted, reading without running code, loading into a module, the hash in the
run id, validation, and an LSTM run that starts where an earlier run ended."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from harness.plugin.contracts import ContractError
from harness.spec.checkpoints import (
    CheckpointError,
    apply_checkpoint,
    inspect_checkpoint,
    load_matching,
    read_checkpoint,
)
from harness.spec.expand import expand
from harness.spec.suite import SuiteError, load_suite
from harness.testing import run_tiny_suite, tiny_registry, write_tiny_suite

DOC = Path(__file__).parent.parent / "docs" / "suites.md"
#: the run folder the docs' snippets name, replaced by a real one
DOC_RUN = "reports/italian/runs/5edca51add127369"


def tensors(scale: float = 1.0) -> dict[str, torch.Tensor]:
    return {
        "body.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) * scale,
        "body.bias": torch.ones(2) * scale,
    }


class Net(nn.Module):
    """A body the checkpoints above fit, and a head none of them has."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.body = nn.Linear(3, 2)
        self.head = nn.Linear(2, classes)


class Payload:
    """A pickle that would create a folder when loaded without weights_only."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


# ---------------------------------------------------------------- files


def test_a_safetensors_file_is_read_and_hashed_by_its_bytes(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(tensors(), str(path))
    found = inspect_checkpoint(path, "models[0].checkpoint")
    assert found.format == "safetensors"
    assert found.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert found.where == "models[0].checkpoint"
    state = read_checkpoint(found)
    assert set(state) == {"body.weight", "body.bias"}
    torch.testing.assert_close(state["body.bias"], torch.ones(2))


def test_a_torch_state_dict_moved_keeps_its_hash_and_changed_does_not(tmp_path):
    first = tmp_path / "a.pt"
    torch.save(tensors(), first)
    moved = tmp_path / "elsewhere" / "b.pt"
    moved.parent.mkdir()
    shutil.copy(first, moved)
    assert inspect_checkpoint(moved).sha256 == inspect_checkpoint(first).sha256
    torch.save(tensors(scale=2.0), moved)
    assert inspect_checkpoint(moved).sha256 != inspect_checkpoint(first).sha256


def test_a_file_changed_after_the_suite_was_loaded_is_refused(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(tensors(), path)
    found = inspect_checkpoint(path, "conditions[1].checkpoint")
    torch.save(tensors(scale=3.0), path)
    with pytest.raises(CheckpointError, match=r"conditions\[1\].checkpoint: .* changed since"):
        read_checkpoint(found)


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path, how):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pt"
    content = {"body.weight": torch.zeros(2, 3), "extra": Payload(marker)}
    if how == "torch.save":
        torch.save(content, path)
    else:  # a bare pickle, as pickle.dump writes it
        path.write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(CheckpointError) as info:
        inspect_checkpoint(path, "models[0].checkpoint")
    message = str(info.value)
    assert message.startswith("models[0].checkpoint: ")
    assert "needs code execution to load" in message
    assert "GLOBAL" in message  # torch names the global it refused
    if how == "torch.save":
        assert "os.makedirs" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([torch.zeros(2)], "holds a list, not a state dict"),
        ({"state_dict": tensors()}, "are themselves mappings"),
        ({"body.weight": torch.zeros(2), "step": 3}, "entries that are not tensors: ['step']"),
        ({}, "it has no tensors"),
    ],
)
def test_a_torch_file_that_is_no_state_dict_is_refused(tmp_path, content, expected):
    path = tmp_path / "w.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match="not a state dict") as info:
        inspect_checkpoint(path)
    assert expected in str(info.value)


def test_a_file_of_no_known_format_is_refused(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("not weights")
    with pytest.raises(CheckpointError, match="neither a torch file nor a safetensors file"):
        inspect_checkpoint(text)
    broken = tmp_path / "w.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(CheckpointError, match="is not a safetensors file") as info:
        inspect_checkpoint(broken)
    assert "expected a .safetensors file, a torch state dict" in str(info.value)


def test_missing_paths_and_folders_without_weights_name_what_is_valid(tmp_path):
    with pytest.raises(CheckpointError, match="no such file or folder") as info:
        inspect_checkpoint(tmp_path / "nowhere.pt", "models[0].checkpoint")
    assert "Hugging Face save_pretrained" in str(info.value)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="holds neither a harness run") as info:
        inspect_checkpoint(tmp_path / "empty")
    assert "it holds config.json" in str(info.value)


def test_a_save_pretrained_folder_is_read_without_its_config(tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(tensors(), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "anything"}))
    found = inspect_checkpoint(folder)
    assert found.format == "huggingface"
    assert found.sha256 == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    # config.json is not part of the weights: editing it keeps the hash
    (folder / "config.json").write_text("{}")
    assert inspect_checkpoint(folder).sha256 == found.sha256


def test_sharded_safetensors_are_read_through_their_index(tmp_path):
    folder = tmp_path / "sharded"
    folder.mkdir()
    whole = tensors()
    save_file({"body.weight": whole["body.weight"]}, str(folder / "model-1-of-2.safetensors"))
    save_file({"body.bias": whole["body.bias"]}, str(folder / "model-2-of-2.safetensors"))
    index = {"weight_map": {"body.weight": "model-1-of-2.safetensors",
                            "body.bias": "model-2-of-2.safetensors"}}  # fmt: skip
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    found = inspect_checkpoint(folder)
    assert set(read_checkpoint(found)) == set(whole)
    (folder / "model-2-of-2.safetensors").unlink()
    with pytest.raises(CheckpointError, match="shards that are missing"):
        inspect_checkpoint(folder)


def test_a_run_folder_without_weights_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "record.json").write_text(json.dumps({"status": "failed", "artifacts": {}}))
    with pytest.raises(CheckpointError, match=r"has no weights file 'weights\.pt'"):
        inspect_checkpoint(run)


# ---------------------------------------------------------------- loading


def test_the_default_loader_leaves_a_new_head_and_records_it():
    torch.manual_seed(0)
    net = Net()
    head = net.head.weight.detach().clone()
    report = load_matching(net, {**tensors(), "old_head.weight": torch.zeros(3, 2)})
    assert report == {
        "loaded": ["body.bias", "body.weight"],
        "missing": ["head.bias", "head.weight"],
        "unexpected": ["old_head.weight"],
    }
    torch.testing.assert_close(net.body.weight.detach(), tensors()["body.weight"])
    torch.testing.assert_close(net.head.weight.detach(), head)


def test_the_default_loader_refuses_other_names_and_other_shapes():
    with pytest.raises(CheckpointError, match="no tensor of the checkpoint has a name") as info:
        load_matching(Net(), {"encoder.weight": torch.zeros(2, 3)}, "models[0].checkpoint")
    assert str(info.value).startswith("models[0].checkpoint: ")
    assert "body.weight" in str(info.value)  # what the model has
    wrong = {"body.weight": torch.zeros(4, 3), "body.bias": torch.zeros(4)}
    with pytest.raises(CheckpointError, match=r"2 tensor\(s\) .* another shape") as info:
        load_matching(Net(), wrong)
    assert "body.weight: checkpoint (4, 3), model (2, 3)" in str(info.value)


class PrefixedModel:
    """A model whose checkpoints name its body ``encoder.*``: it loads them itself."""

    def load_checkpoint(self, module, state):
        renamed = {k.replace("encoder.", "body.", 1): v for k, v in state.items()}
        result = module.load_state_dict(renamed, strict=False)
        loaded = [k for k in state if k.replace("encoder.", "body.", 1) in module.state_dict()]
        return {"loaded": loaded, "missing": result.missing_keys, "unexpected": []}


def test_a_model_hook_loads_what_the_default_would_refuse():
    state = {k.replace("body.", "encoder."): v for k, v in tensors().items()}
    net = Net()
    report = apply_checkpoint(PrefixedModel(), net, state, "prefixed")
    assert report["loaded"] == ["encoder.bias", "encoder.weight"]
    assert report["missing"] == ["head.bias", "head.weight"]
    torch.testing.assert_close(net.body.bias.detach(), torch.ones(2))


def test_the_documented_hook_loads_a_prefixed_checkpoint():
    doc = (DOC.with_name("plugins.md")).read_text().split("**Starting from a checkpoint**", 1)[1]
    [code] = re.findall(r"```python\n(.*?)```", doc.split("**Expose your latents**")[0], re.S)
    namespace: dict = {}
    exec(compile(code, "plugins.md", "exec"), namespace)
    state = {k.replace("body.", "encoder."): v for k, v in tensors().items()}
    net = Net()
    report = apply_checkpoint(namespace["EncoderModel"](), net, state, "encoder")
    assert report["loaded"] == ["body.bias", "body.weight"]
    assert report["missing"] == ["head.bias", "head.weight"]
    torch.testing.assert_close(net.body.weight.detach(), tensors()["body.weight"])


def test_a_hook_answer_that_breaks_the_contract_is_named():
    class Broken:
        def load_checkpoint(self, module, state):
            return {"loaded": ["x"]}

    with pytest.raises(ContractError, match="model plugin 'broken': load_checkpoint"):
        apply_checkpoint(Broken(), Net(), tensors(), "broken")


# ---------------------------------------------------------------- suites and run ids


def lstm_tensors(scale: float = 1.0, hidden_size: int = 8) -> dict[str, torch.Tensor]:
    """A state dict that fits the tiny suite's LSTM (16 mels, 20-frame segments),
    as validation loads every checkpoint into the model it starts."""
    model = tiny_registry().get("model", "lstm").create(hidden_size=hidden_size)
    torch.manual_seed(0)
    return {k: v * scale for k, v in model.build(16, 20).state_dict().items()}


def suite_with(tmp_path: Path, **overrides):
    path = write_tiny_suite(tmp_path, **overrides)
    return load_suite(path, tiny_registry())


def two_conditions(checkpoint):
    return [{"name": "none"}, {"name": "ckpt", "checkpoint": checkpoint}]


def ids(suite) -> dict[str, str]:
    return {spec.label: spec.run_id for spec in expand(suite, tiny_registry())}


def test_the_checkpoint_hash_not_its_path_is_in_the_run_id(tmp_path):
    weights = tmp_path / "w" / "a.pt"
    weights.parent.mkdir()
    torch.save(lstm_tensors(), weights)
    plain = ids(suite_with(tmp_path / "plain", conditions=[{"name": "none"}]))
    first = ids(
        suite_with(tmp_path / "s1", conditions=two_conditions(str(weights)), control="none")
    )
    # the control keeps the id it has without any checkpoint in the suite
    assert first["none/lstm/seed0"] == plain["none/lstm/seed0"]
    moved = tmp_path / "moved.pt"
    shutil.move(weights, moved)
    again = ids(suite_with(tmp_path / "s2", conditions=two_conditions(str(moved)), control="none"))
    assert again == first
    torch.save(lstm_tensors(scale=2.0), moved)
    changed = ids(
        suite_with(tmp_path / "s3", conditions=two_conditions(str(moved)), control="none")
    )
    assert changed["none/lstm/seed0"] == first["none/lstm/seed0"]
    assert changed["ckpt/lstm/seed0"] != first["ckpt/lstm/seed0"]


def test_a_model_checkpoint_is_every_condition_s_start_and_its_reference(tmp_path):
    weights = tmp_path / "a.pt"
    torch.save(lstm_tensors(), weights)
    plain = expand(suite_with(tmp_path / "plain"), tiny_registry())
    models = [{"plugin": "lstm", "hidden_size": 8, "checkpoint": str(weights)}]
    specs = expand(suite_with(tmp_path / "s", models=models), tiny_registry())
    assert all(s.checkpoint and s.checkpoint.sha256 == s.reference_checkpoint.sha256 for s in specs)
    assert all(s.checkpoint.where == "models[0].checkpoint" for s in specs)
    assert not {s.run_id for s in specs} & {s.run_id for s in plain}
    # a condition's own checkpoint replaces the model's for its runs, not for the reference
    other = tmp_path / "b.pt"
    torch.save(lstm_tensors(scale=2.0), other)
    conditions = [{"name": "none"}, {"name": "other", "checkpoint": {"lstm": str(other)}}]
    specs = expand(
        suite_with(tmp_path / "t", models=models, conditions=conditions, control="none"),
        tiny_registry(),
    )
    starts = {s.condition.name: s.checkpoint.path for s in specs}
    assert starts == {"none": str(weights.resolve()), "other": str(other.resolve())}
    assert {s.reference_checkpoint.path for s in specs} == {str(weights.resolve())}


def test_validation_locates_every_bad_checkpoint(tmp_path, capsys):
    from harness.cli import main

    evil = tmp_path / "evil.pt"
    torch.save({"w": Payload(tmp_path / "ran")}, evil)
    (tmp_path / "nothing").mkdir()
    conditions = [
        {"name": "none"},
        {"name": "a", "checkpoint": str(tmp_path / "missing.safetensors")},
        {"name": "b", "checkpoint": {"lstm": str(evil), "gru": str(evil)}},
        {"name": "c", "checkpoint": str(tmp_path / "nothing")},
        {"name": "d", "checkpoint": 3, "filter": "no-such-filter"},
    ]
    models = [{"plugin": "lstm", "hidden_size": 8, "checkpoint": str(tmp_path / "gone.pt")}]
    path = write_tiny_suite(tmp_path, conditions=conditions, models=models, control="none")
    with pytest.raises(SuiteError) as info:
        load_suite(path, tiny_registry())
    problems = dict(info.value.problems)
    assert "no such file or folder" in problems["conditions[1].checkpoint"]
    assert "needs code execution" in problems["conditions[2].checkpoint.lstm"]
    assert "no model is labelled 'gru'" in problems["conditions[2].checkpoint.gru"]
    assert "holds neither a harness run" in problems["conditions[3].checkpoint"]
    assert "expected the path of a checkpoint" in problems["conditions[4].checkpoint"]
    assert "no such file or folder" in problems["models[0].checkpoint"]
    assert not (tmp_path / "ran").exists()
    assert main(["validate", str(path)]) == 2
    assert "conditions[2].checkpoint.lstm: " in capsys.readouterr().err


def test_a_condition_with_a_checkpoint_is_not_taken_for_the_scratch_control(tmp_path):
    weights = tmp_path / "a.pt"
    torch.save(lstm_tensors(), weights)
    suite = suite_with(tmp_path / "s", conditions=[{"name": "pretrained", "checkpoint": str(weights)},
                                                   {"name": "scratch"}])  # fmt: skip
    assert suite.control == "scratch"


# ---------------------------------------------------------------- runs

TINY = dict(
    probes=[],
    extractors=[],
    splits={"probe_languages": []},
    target={"max_steps": 40, "eval_every": 10},
)


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """A finished run of the tiny suite, the control alone: (run folder, record)."""
    cache = tmp_path_factory.getbasetemp() / "harness-cache"
    results = run_tiny_suite(tmp_path_factory.mktemp("earlier"), cache_dir=cache,
                             conditions=[{"name": "none"}], **TINY)  # fmt: skip
    [(run_id, record)] = results.records.items()
    return results.output_dir / "runs" / run_id, record


def start_from(tmp_path, cache, checkpoints):
    conditions = [{"name": "none"}] + [
        {"name": name, "checkpoint": str(path)} for name, path in checkpoints.items()
    ]
    results = run_tiny_suite(tmp_path, cache_dir=cache, conditions=conditions, control="none",
                             **TINY)  # fmt: skip
    return {r["label"].split("/")[0]: r for r in results.records.values()}, results.runs


def test_an_lstm_starts_where_the_earlier_run_ended(earlier, tmp_path, tmp_path_factory):
    folder, before = earlier
    cache = tmp_path_factory.getbasetemp() / "harness-cache"
    as_safetensors = tmp_path / "earlier.safetensors"
    save_file(torch.load(folder / "weights.pt", weights_only=True), str(as_safetensors))
    records, runs = start_from(tmp_path / "a", cache, {"run": folder, "st": as_safetensors})
    scratch = records["none"]["convergence"]
    ended = before["convergence"]["final_heldout_loss"]
    for name in ("run", "st"):
        record = records[name]
        assert record["status"] != "failed"
        start = record["convergence"]["initial_heldout_loss"]
        assert start == pytest.approx(ended, rel=1e-6)
        assert start < scratch["initial_heldout_loss"]
        # the threshold is a fraction of the untrained model's loss, as the control's
        assert record["convergence"]["threshold"] == scratch["threshold"]
        assert record["spec"]["checkpoint"] == record["checkpoint"]["sha256"]
        assert record["checkpoint"]["missing"] == record["checkpoint"]["unexpected"] == []
        assert "lstm.weight_ih_l0" in record["checkpoint"]["loaded"]
    assert records["run"]["checkpoint"]["format"] == "harness_run"
    assert records["run"]["checkpoint"]["run_id"] == before["run_id"]
    assert records["st"]["checkpoint"]["format"] == "safetensors"
    assert records["none"]["checkpoint"] is None
    # runs.csv says which runs started from which weights
    by_condition = dict(zip(runs["condition"], runs["checkpoint"], strict=True))
    assert by_condition["run"] == records["run"]["checkpoint"]["sha256"]
    assert by_condition["st"] == hashlib.sha256(as_safetensors.read_bytes()).hexdigest()
    assert pd.isna(by_condition["none"])
    # the same checkpoint and seed give the same numbers
    again, _ = start_from(tmp_path / "b", cache, {"run": folder})
    assert again["run"]["run_id"] == records["run"]["run_id"]
    assert again["run"]["curve"]["heldout_loss"] == records["run"]["curve"]["heldout_loss"]
    assert again["run"]["curve"]["train_loss"] == records["run"]["curve"]["train_loss"]


def test_a_checkpoint_of_another_shape_is_found_at_validate_naming_the_tensors(earlier, tmp_path,
                                                                              capsys):  # fmt: skip
    """An LSTM of 6 units from a run of 8: validate builds the model and loads the
    checkpoint, so the mismatch is a located problem (exit 2) before any run."""
    from harness.cli import main

    folder, _ = earlier
    path = write_tiny_suite(tmp_path, models=[{"plugin": "lstm", "hidden_size": 6}],
                            conditions=[{"name": "none"}, {"name": "run", "checkpoint": str(folder)}],
                            control="none", **TINY)  # fmt: skip
    with pytest.raises(SuiteError) as info:
        load_suite(path, tiny_registry())
    [(where, message)] = info.value.problems
    assert where == "conditions[1].checkpoint"
    assert message.startswith(f"{folder} does not fit model 'lstm' as this suite builds it: ")
    assert "5 tensor(s) of the checkpoint have another shape than the model's" in message
    assert "lstm.weight_ih_l0: checkpoint (32, 16), model (24, 16)" in message
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: 1 problem" in err and "conditions[1].checkpoint: " in err
    # a model's own checkpoint is checked as the suite builds the model, too
    other = tmp_path / "other"
    models = [{"plugin": "lstm", "hidden_size": 6, "checkpoint": str(folder)}]
    path = write_tiny_suite(other, models=models, conditions=[{"name": "none"}], **TINY)
    with pytest.raises(SuiteError) as info:
        load_suite(path, tiny_registry())
    assert [w for w, _ in info.value.problems] == ["models[0].checkpoint"]


def test_a_suite_without_checkpoints_builds_no_model_at_validate(tmp_path, monkeypatch):
    """Only checkpoints are loaded into a built model (torch imported on the way);
    a suite without any validates as before."""
    import harness.spec.validate_components as checks

    def refuse(*args, **kwargs):
        raise AssertionError("a model was built for a suite without checkpoints")

    monkeypatch.setattr(checks, "fit_problem", refuse)
    suite_with(tmp_path / "plain")
    weights = tmp_path / "a.pt"
    torch.save(lstm_tensors(), weights)
    with pytest.raises(AssertionError, match="a model was built"):
        suite_with(tmp_path / "with", conditions=two_conditions(str(weights)), control="none")


# ---------------------------------------------------------------- the docs


def doc_section() -> str:
    return DOC.read_text().split("## Starting from a checkpoint\n", 1)[1].split("\n## ", 1)[0]


def test_the_documented_snippets_run_as_documented(earlier, tmp_path, monkeypatch):
    folder, before = earlier
    section = doc_section()
    [fragment] = re.findall(r"```toml\n(.*?)```", section, re.S)
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    [message] = re.findall(r"```text\n(.*?)\n```", section, re.S)
    assert DOC_RUN in fragment and DOC_RUN in code
    # the conditions as the docs write them, with a real run folder
    conditions = tomllib.loads(fragment.replace(DOC_RUN, str(folder)))["conditions"]
    suite = suite_with(tmp_path / "suite", conditions=conditions)
    assert suite.control == "scratch"
    starts = {s.condition.name: s.checkpoint for s in expand(suite, tiny_registry())}
    assert starts["scratch"] is None
    assert starts["from-italian"].run_id == before["run_id"]
    # the conversion writes a safetensors file with the run's tensors
    monkeypatch.chdir(tmp_path)
    exec(compile(code.replace(DOC_RUN, str(folder)), str(DOC), "exec"), {})
    converted = inspect_checkpoint("italian.safetensors")
    assert converted.format == "safetensors"
    torch.testing.assert_close(
        read_checkpoint(converted), torch.load(folder / "weights.pt", weights_only=True)
    )
    # the documented message, for a pickle that would run code
    where, text = message.split(": ", 1)
    evil = tmp_path / "evil.pt"
    torch.save({"w": Payload(tmp_path / "ran")}, evil)
    conditions = [{"name": "scratch"}, {"name": "b", "checkpoint": str(evil)}]
    with pytest.raises(SuiteError) as info:
        suite_with(tmp_path / "evil", conditions=conditions)
    problems = dict(info.value.problems)
    prefix = text.split("(...)")[0].replace("/data/evil.pt", str(evil))
    assert problems[where].startswith(prefix)


def test_validate_shows_where_each_model_starts(tmp_path, capsys):
    from harness.cli import main

    weights = tmp_path / "a.pt"
    torch.save(lstm_tensors(), weights)
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    models = [{"plugin": "lstm", "hidden_size": 8, "checkpoint": str(weights)}]
    conditions = [{"name": "none"}, {"name": "b", "checkpoint": {"lstm": str(weights)}}]
    path = write_tiny_suite(tmp_path, models=models, conditions=conditions, control="none")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"b (checkpoint.lstm={weights} [sha256 {sha}])" in out
    assert f"models: lstm (checkpoint={weights} [sha256 {sha}])" in out


def test_without_a_scratch_condition_the_control_must_be_named(tmp_path):
    weights = tmp_path / "a.pt"
    torch.save(lstm_tensors(), weights)
    conditions = [{"name": "a", "checkpoint": str(weights)}, {"name": "b", "language": "it"}]
    with pytest.raises(SuiteError) as info:
        suite_with(tmp_path / "s", conditions=conditions)
    assert (
        "no condition is without pretraining and a checkpoint"
        in dict(info.value.problems)["control"]
    )


def test_a_model_checkpoint_is_the_start_of_the_untrained_reference(earlier, tmp_path,
                                                                    tmp_path_factory):  # fmt: skip
    folder, before = earlier
    cache = tmp_path_factory.getbasetemp() / "harness-cache"
    results = run_tiny_suite(tmp_path, cache_dir=cache, conditions=[{"name": "none"}],
                             models=[{"plugin": "lstm", "hidden_size": 8,
                                      "checkpoint": str(folder)}], **TINY)  # fmt: skip
    [record] = results.records.values()
    ended = before["convergence"]["final_heldout_loss"]
    convergence = record["convergence"]
    assert convergence["initial_heldout_loss"] == pytest.approx(ended, rel=1e-6)
    # every tensor came from the checkpoint, so the reference is the loss it starts at
    assert convergence["reference_heldout_loss"] == pytest.approx(ended, rel=1e-6)
    assert convergence["threshold"] == pytest.approx(0.9 * ended, rel=1e-6)
    assert record["checkpoint"]["where"] == "models[0].checkpoint"
    assert record["spec"]["reference_checkpoint"] == record["checkpoint"]["sha256"]
