"""The chart's landmarks: unigram and bigram cross-entropy, and the lr schedule sent at start."""

import json
import math

import pytest
import torch

from engine import Trainer, TrainingStarted, event_from_json
from engine.data import baselines as baselines_module
from engine.data.baselines import count_baselines
from engine.training.schedule import lr_at


def test_unigram_and_bigram_match_a_hand_count():
    # train 0 1 0 1 0 1 over a vocabulary of 3: unigram add-one p(0) = p(1) = 4/9, p(2) = 1/9;
    # pairs 0→1 three times (one distinct follower), 1→0 twice (one distinct follower).
    train = torch.tensor([0, 1, 0, 1, 0, 1], dtype=torch.int32)
    val = torch.tensor([0, 1, 0], dtype=torch.int32)  # targets 1 (after 0) and 0 (after 1)
    baselines = count_baselines(train, val, vocab_size=3)
    assert baselines.unigram == pytest.approx(-math.log(4 / 9))
    # Witten-Bell: (c(a,b) + T(a)·p(b)) / (c(a) + T(a))
    p_1_after_0 = (3 + 1 * 4 / 9) / (3 + 1)
    p_0_after_1 = (2 + 1 * 4 / 9) / (2 + 1)
    assert baselines.bigram == pytest.approx(-(math.log(p_1_after_0) + math.log(p_0_after_1)) / 2)


def test_unseen_tokens_and_pairs_cost_a_finite_loss():
    train = torch.tensor([0, 1, 0, 1, 0, 1])
    val = torch.tensor([2, 2, 1, 1])  # token 2 never seen, as context or target; 1→1 unseen
    baselines = count_baselines(train, val, vocab_size=3)
    assert baselines.unigram == pytest.approx(-(math.log(1 / 9) + 2 * math.log(4 / 9)) / 3)
    # Context 2 was never seen: p(b | 2) = p(b). Context 1 was seen twice, always before 0.
    p_1_after_1 = (0 + 1 * 4 / 9) / (2 + 1)
    expected = -(math.log(1 / 9) + math.log(4 / 9) + math.log(p_1_after_1)) / 3
    assert baselines.bigram == pytest.approx(expected)


def test_a_large_vocabulary_is_counted_sparsely():
    # 200k ids would be 4·10^10 cells as a dense pair table; the sparse count takes no time.
    generator = torch.Generator().manual_seed(0)
    train = torch.randint(0, 200_000, (50_000,), generator=generator)
    baselines = count_baselines(train, train[:1000], vocab_size=200_000)
    assert 0 < baselines.bigram < baselines.unigram < math.log(200_000)


def test_the_dense_and_sparse_pair_counts_agree(monkeypatch):
    generator = torch.Generator().manual_seed(1)
    train = torch.randint(0, 40, (5000,), generator=generator)
    val = torch.randint(0, 40, (500,), generator=generator)
    dense = count_baselines(train, val, vocab_size=40)
    monkeypatch.setattr(baselines_module, "DENSE_PAIRS", 0)
    assert count_baselines(train, val, vocab_size=40) == dense


def test_a_repeating_text_is_nearly_free_for_the_bigram():
    train = torch.tensor([0, 1, 2, 3] * 500)
    baselines = count_baselines(train, torch.tensor([0, 1, 2, 3] * 10), vocab_size=4)
    assert baselines.unigram == pytest.approx(math.log(4), abs=1e-3)
    assert baselines.bigram < 0.01


def test_the_started_event_carries_the_landmarks_and_the_schedule(tiny):
    trainer = Trainer.create(tiny)
    event = trainer.started_event()
    assert 0 < event.bigram_loss < event.unigram_loss < math.log(event.vocab_size)
    schedule = event.lr_schedule
    assert schedule[0] == lr_at(0, trainer.config)
    assert schedule[-1] == lr_at(tiny.train.max_steps, trainer.config)
    assert max(schedule) == pytest.approx(tiny.train.lr, rel=0.05)
    assert event_from_json(event.to_json()) == event


def test_an_older_started_line_still_reads():
    event = TrainingStarted("r", "seed", "cpu", "float32", "char", 65, 1000, 2, 2, 32, 16, 8, 0,
                            100, 900, 100)  # fmt: skip
    old = json.loads(event.to_json())
    for field in ("unigram_loss", "bigram_loss", "lr_schedule"):
        del old[field]
    read = event_from_json(json.dumps(old))
    assert read.unigram_loss is None and read.bigram_loss is None and read.lr_schedule == ()
