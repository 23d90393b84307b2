"""Parameter groups: their own learning rates, freezing, the contract and validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from harness.learning.training import build_module
from harness.plugin.components import Component, check_declaration
from harness.plugin.contracts import ContractError
from harness.plugin.registry import Registry, build_plugin_manager, collect
from harness.spec.suite import SuiteError, load_suite
from harness_plugins.models import lstm, mel_cnn, rnn_classifier
from harness_plugins.models.lstm_model import LSTMModel
from harness_plugins.models.mel_cnn_model import MelCNNModel
from harness_plugins.models.rnn_classifier_model import RNNClassifierModel

from helpers import tones
from helpers.sines import FEATURES, FRAMES, GroupedLSTM, run, target, training

torch.set_num_threads(1)


def initial(model=None) -> nn.Module:
    """The module ``run`` starts from (same seed, same weights)."""
    return build_module(model or GroupedLSTM(), FEATURES, FRAMES, seed=0)


def moved(after: nn.Module, before: nn.Module, part: str) -> bool:
    """Whether any parameter of ``part`` (a submodule name) changed."""
    a, b = dict(after.named_parameters()), dict(before.named_parameters())
    return any(not torch.equal(a[k], b[k]) for k in a if k.startswith(f"{part}."))


@pytest.mark.parametrize(
    ("model", "args"),
    [(RNNClassifierModel(cell="lstm", num_layers=2), (6, 10, 3)), (MelCNNModel(), (8, 12, 3))],
)
def test_the_classifiers_groups_split_every_parameter_once(model, args):
    module = model.build(*args)
    groups = {name: list(params) for name, params in model.parameter_groups(module).items()}
    assert list(groups) == ["backbone", "head"]
    ids = [id(p) for params in groups.values() for p in params]
    assert sorted(ids) == sorted(id(p) for p in module.parameters())
    assert {id(p) for p in groups["head"]} == {id(p) for p in module.head.parameters()}


def test_a_group_at_rate_zero_does_not_move_and_the_others_do():
    config = training(lr_groups={"backbone": 0.0, "head": 1e-2})
    module, outcome = run(config=config)
    assert outcome.steps == 10
    assert not moved(module, initial(), "lstm") and moved(module, initial(), "head")
    # the rates are each group's own, the schedule's factor on both
    module, _ = run(config=training(lr_groups={"head": 0.0}))
    assert moved(module, initial(), "lstm") and not moved(module, initial(), "head")


def test_grouped_rates_equal_to_lr_give_the_ungrouped_numbers():
    _, plain = run()
    _, grouped = run(config=training(lr_groups={"backbone": 1e-2, "head": 1e-2}))
    assert grouped.curve.heldout_loss == plain.curve.heldout_loss


def test_a_frozen_group_does_not_move_in_target_training():
    module, outcome = run(config=training(freeze=["backbone"]))
    assert outcome.steps == 10
    assert not moved(module, initial(), "lstm") and moved(module, initial(), "head")
    # the trained module keeps no frozen flags
    assert all(p.requires_grad for p in module.parameters())


def test_pretraining_trains_a_group_that_target_training_freezes():
    module, outcome = run(config=training(freeze=["backbone"]), epochs=1)
    assert outcome.pretrain_steps > 0
    assert moved(module, initial(), "lstm")


def test_freeze_steps_unfreezes_after_that_many_steps():
    config = training(freeze=["backbone"], freeze_steps=4)
    module, _ = run(config=config, tgt=target(max_steps=4, eval_every=4))
    assert not moved(module, initial(), "lstm")
    module, _ = run(config=config, tgt=target(max_steps=5, eval_every=5))
    assert moved(module, initial(), "lstm")


def test_freezing_every_parameter_is_refused():
    with pytest.raises(ValueError, match="leaves no parameter of model 'grouped' to train"):
        run(config=training(freeze=["backbone", "head"]))


class Overlapping(GroupedLSTM):
    def parameter_groups(self, module):
        return {"backbone": module.parameters(), "head": module.head.parameters()}


class Foreign(GroupedLSTM):
    def parameter_groups(self, module):
        return {"backbone": [nn.Parameter(torch.zeros(1))], "head": module.head.parameters()}


class Undeclared(GroupedLSTM):
    def parameter_groups(self, module):
        return {"encoder": module.lstm.parameters(), "head": module.head.parameters()}


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Overlapping(), "a parameter is in both groups 'backbone' and 'head'"),
        (Foreign(), "group 'backbone' holds a tensor that is not a parameter of the built module"),
        (Undeclared(), "returned the groups ['encoder', 'head']; the component declares"),
        (LSTMModel(hidden_size=8), "but the model has no parameter_groups(module) method"),
    ],
)
def test_a_broken_parameter_groups_answer_breaks_the_contract(model, message):
    with pytest.raises(ContractError, match=r"model plugin 'grouped'") as caught:
        run(model, config=training(lr_groups={"head": 1e-3}))
    assert message in str(caught.value)


def test_a_model_used_outside_a_registry_is_checked_against_the_names_used():
    with pytest.raises(
        ContractError,
        match=r"has no parameter group 'neck' \(\[training\] lr_groups / freeze\); its groups: backbone, head",
    ):
        run(config=training(freeze=["neck"]), groups=None)


def test_a_declaration_of_groups_needs_a_model_with_parameter_groups():
    lacking = Component("bare", LSTMModel, "no groups method", groups=("backbone",))
    assert any("has no parameter_groups(module) method" in p
               for p in check_declaration("model", lacking))  # fmt: skip
    twice = Component("twice", GroupedLSTM, "doc", groups=("head", "head"))
    assert any("distinct non-empty names" in p for p in check_declaration("model", twice))
    assert check_declaration("model", Component("ok", GroupedLSTM, "doc", groups=("head",))) == []
    assert "only a model declares parameter groups" in check_declaration(
        "probe", Component("p", GroupedLSTM, "doc", groups=("head",))
    )


@pytest.fixture(scope="module")
def registry() -> Registry:
    plugins = [tones.FakePlugins(), lstm, mel_cnn, rnn_classifier]
    return collect(build_plugin_manager(plugins, autoload=False, builtins=False))


TONES = """
name = "groups"
seeds = [0]
probes = []
[dataset]
plugin = "tones"
clips_per_speaker = 4
[features]
sample_rate = 8000
n_mels = 12
[splits]
probe_languages = ["aa", "bb"]
train_speakers = 2
heldout_speakers = 2
probe_speakers = 2
pretrain_speakers = 1
[target]
language = "aa"
languages = ["bb", "cc"]
task = "classify"
metric = "balanced_accuracy"
threshold = 0.99
max_steps = 20
eval_every = 10
[training]
batch_size = 8
segment_frames = 10
device = "cpu"
{training}
[[conditions]]
name = "control"
{conditions}
[[models]]
plugin = "{model}"
{model_params}
"""


def tones_suite(
    tmp_path, model: str, training: str = "", conditions: str = "", params="hidden_size = 16"
):
    """A language-ID suite on the tones corpus with ``training`` lines added to
    [training] (``lr = 0.01`` unless they set it)."""
    if not re.search(r"^lr = ", training, re.M):
        training = f"lr = 0.01\n{training}"
    path = tmp_path / "groups.toml"
    text = TONES.format(model=model, training=training, conditions=conditions, model_params=params)
    path.write_text(text)
    return path


def problems(path, registry) -> dict[str, str]:
    with pytest.raises(SuiteError) as caught:
        load_suite(path, registry)
    return dict(caught.value.problems)


def test_a_group_the_model_does_not_declare_is_a_located_error(tmp_path, registry):
    found = problems(tones_suite(tmp_path, "rnn_classifier", "lr_groups = {encoder = 1e-4}"),
                     registry)  # fmt: skip
    assert found == {
        "training.lr_groups": "the model 'rnn_classifier' (models[0]) has no parameter group "
        "'encoder'; its groups: backbone, head"
    }
    conditions = '[[conditions]]\nname = "frozen"\ntraining = {freeze = ["convs"]}'
    found = problems(tones_suite(tmp_path, "rnn_classifier", "", conditions), registry)
    assert "has no parameter group 'convs'" in found["conditions[1].training.freeze"]


def test_a_model_without_groups_is_named(tmp_path, registry):
    path = tones_suite(tmp_path, "lstm", 'freeze = ["backbone"]')
    found = problems(path, registry)
    assert found["training.freeze"] == (
        "the model 'lstm' (models[0]) has no parameter group 'backbone'; "
        "it declares no parameter groups"
    )


def test_a_classifier_fine_tunes_with_its_own_rates_through_the_core(tmp_path, registry):
    from harness.spec.expand import expand

    config = ("lr_groups = {backbone = 0.0, head = 0.02}\nwarmup_steps = 5\n"
              'schedule = "cosine"\ndecay_start = 0.5\ngrad_clip = 1.0')  # fmt: skip
    suite = load_suite(tones_suite(tmp_path, "rnn_classifier", config), registry)
    spec = expand(suite, registry)[0]
    record = tones.run(spec, tmp_path / "run", registry)
    assert record["status"] in ("reached", "censored")
    weights = torch.load(tmp_path / "run" / "weights.pt", weights_only=True)
    model = RNNClassifierModel(hidden_size=16)
    start = build_module(model, 12, 10, seed=0, n_classes=3)
    for key, value in start.state_dict().items():
        assert torch.equal(weights[key], value) == key.startswith("rnn."), key


def test_harness_plugins_lists_a_models_groups(registry):
    from harness.cli import format_component

    listed = format_component("model", registry.get("model", "mel_cnn"))
    assert "      parameter groups: backbone, head" in listed.splitlines()
    assert "parameter groups" not in format_component("model", registry.get("model", "lstm"))


SUITES_DOC = Path(__file__).parent.parent / "docs" / "suites.md"


def test_the_fine_tuning_snippets_of_the_docs_hold(tmp_path, registry):
    """docs/suites.md, "Fine-tuning options": the [training] example validates and
    trains with a frozen backbone (freeze_steps beyond the budget); the error shown
    is the one validation gives."""
    from harness.learning.schedules import Schedule
    from harness.spec.expand import expand

    section = SUITES_DOC.read_text().split("## Fine-tuning options", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```toml\n\[training\]\n(.*?)```", section, re.S).group(1)
    suite = load_suite(tones_suite(tmp_path, "rnn_classifier", block), registry)
    assert suite.training.lr_groups == {"head": 1e-3} and suite.training.freeze_steps == 100
    # warm-up over 10% of 100 steps, hold, linear decay after 70 to a tenth
    factor = Schedule.of(suite.training, 100)
    assert [factor(k) for k in (0, 9, 69)] == pytest.approx([0.1, 1.0, 1.0])
    assert factor(85) == pytest.approx(1 - 0.9 * 15 / 30)
    spec = expand(suite, registry)[0]
    tones.run(spec, tmp_path / "run", registry)
    weights = torch.load(tmp_path / "run" / "weights.pt", weights_only=True)
    start = build_module(RNNClassifierModel(hidden_size=16), 12, 10, seed=0, n_classes=3)
    for key, value in start.state_dict().items():
        assert torch.equal(weights[key], value) == key.startswith("rnn."), key

    expected = re.search(r"```text\n(.*?)\n```", section, re.S).group(1)
    bad = tones_suite(tmp_path, "rnn_classifier", "lr_groups = {encoder = 1e-4}")
    assert [f"{k}: {m}" for k, m in problems_list(bad, registry)] == [expected]


def problems_list(path, registry) -> list[tuple[str, str]]:
    with pytest.raises(SuiteError) as caught:
        load_suite(path, registry)
    return caught.value.problems


PLUGINS_DOC = SUITES_DOC.with_name("plugins.md")


def test_the_parameter_groups_snippet_of_the_plugin_docs_works(tmp_path):
    """docs/plugins.md, "Parameter groups": the snippet's model trains its encoder at
    the rate the suite gives it, and validation names its groups."""
    import types

    from harness.spec.expand import expand

    section = PLUGINS_DOC.read_text().split("### Parameter groups", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    plugin = types.ModuleType("tagger_snippet")
    exec(compile(code, str(PLUGINS_DOC), "exec"), plugin.__dict__)
    registry = collect(build_plugin_manager([tones.FakePlugins(), plugin], autoload=False,
                                            builtins=False))  # fmt: skip
    assert check_declaration("model", registry.get("model", "tagger")) == []
    path = tones_suite(tmp_path, "tagger", "lr_groups = {encoder = 0.0}", params="")
    spec = expand(load_suite(path, registry), registry)[0]
    tones.run(spec, tmp_path / "run", registry)
    weights = torch.load(tmp_path / "run" / "weights.pt", weights_only=True)
    start = build_module(plugin.TaggerModel(), 12, 10, seed=0, n_classes=3)
    for key, value in start.state_dict().items():
        assert torch.equal(weights[key], value) == key.startswith("encoder."), key
    bad = tones_suite(tmp_path, "tagger", 'freeze = ["backbone"]', params="")
    assert problems(bad, registry) == {
        "training.freeze": "the model 'tagger' (models[0]) has no parameter group 'backbone'; "
        "its groups: encoder, head"
    }
