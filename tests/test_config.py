import pytest

from engine import PRESETS, ConfigError, ModelConfig, RunConfig, TrainConfig, preset


def test_presets_match_the_issue():
    seed, small, gpu = PRESETS["seed"], PRESETS["char-small"], PRESETS["char-gpu"]
    assert (seed.data.tokenizer, seed.model.block_size, seed.model.n_embd) == ("word", 6, 32)
    assert (seed.model.n_head, seed.model.n_layer, seed.train.batch_size) == (2, 2, 16)
    assert (seed.train.lr, seed.train.max_steps, seed.sample.prompt) == (1e-3, 1500, "oh")
    assert (small.model.n_layer, small.model.n_head, small.model.n_embd) == (4, 4, 128)
    assert (small.model.block_size, small.train.batch_size, small.train.max_steps) == (64, 12, 2000)
    assert (small.train.min_lr, small.train.eval_every, small.train.eval_batches) == (1e-4, 250, 20)
    assert (gpu.model.n_layer, gpu.model.n_embd, gpu.model.block_size) == (6, 384, 256)
    assert (gpu.train.batch_size, gpu.model.dropout, gpu.train.max_steps) == (64, 0.2, 5000)


def test_validation_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as error:
        ModelConfig(n_embd=30, n_head=4, dropout=1.5)
    message = str(error.value)
    assert "n_embd 30 is not divisible by n_head 4" in message
    assert "dropout 1.5" in message
    assert "\n" not in message


def test_overrides_are_validated():
    with pytest.raises(ConfigError, match="lr -1"):
        preset("seed").with_overrides({"train": {"lr": -1.0}})
    config = preset("seed").with_overrides({"train": {"max_steps": 7}})
    assert config.train.max_steps == 7


def test_config_json_round_trip_and_unknown_keys():
    config = PRESETS["char-small"]
    assert RunConfig.from_json(config.to_json()) == config
    with pytest.raises(ConfigError, match="unknown train setting 'nope'"):
        RunConfig.from_dict({"train": {"nope": 1}})


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="seed, char-small, char-gpu"):
        preset("huge")


def test_min_lr_above_lr_is_rejected():
    with pytest.raises(ConfigError, match="min_lr"):
        TrainConfig(lr=1e-3, min_lr=1e-2)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sample": {"temperature": float("nan")}}, "temperature nan must be a finite number"),
        ({"train": {"weight_decay": float("inf")}}, "weight_decay inf must be a finite number"),
        ({"train": {"grad_clip": float("nan")}}, "grad_clip nan must be a finite number"),
        ({"train": {"seed": 2**64}}, f"seed {2**64} does not fit in 64 bits"),
        ({"train": {"max_steps": 10**23}}, "max_steps 100000000000000000000000 does not fit"),
        ({"train": {"max_steps": "10"}}, "max_steps must be a whole number"),
        ({"train": {"lr": True}}, "lr must be a number"),
        ({"model": {"rope": 1}}, "rope must be true or false"),
        ({"sample": {"prompt": None}}, "prompt must be text"),
    ],
)
def test_values_no_comparison_catches_are_refused_by_kind(overrides, message):
    """NaN passes every range check and a string or a bool compares oddly: each is refused first."""
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        PRESETS["seed"].with_overrides(overrides)


@pytest.mark.parametrize(
    "text", ["[]", '"seed"', '{"train": [1, 2]}', '{"model": "big"}', '{"train": {"lr": "x"}}']
)
def test_a_config_json_of_the_wrong_shape_is_a_config_error(text):
    with pytest.raises(ConfigError):
        RunConfig.from_json(text)


def test_the_lesson_presets_are_task_runs():
    grokking, induction = PRESETS["grokking"], PRESETS["induction"]
    assert grokking.data.task == "modadd" and grokking.model.n_layer == 1
    assert grokking.train.weight_decay == 1.0  # what drives grokking
    assert induction.data.task == "induction" and induction.model.n_layer == 2  # two heads' circuit
