"""The synthetic tasks (engine/data/tasks.py): their data, their evals and their markers."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
import torch

from engine import (
    ConfigError,
    DataConfig,
    EvalCompleted,
    ModelConfig,
    PhaseChanged,
    PhaseKind,
    RunConfig,
    SampleConfig,
    TrainConfig,
    Trainer,
    TrainingStarted,
)
from engine.cli.progress import ProgressPrinter
from engine.data.dataset import IGNORE, EvalBatch
from engine.data.tasks import InductionTask, ModularAddition
from engine.lens.evaluation import MERGED_LOGITS, MERGED_TOKENS, EvalTally, merged
from engine.report.page import _facts
from engine.report.record import RunRecord
from engine.training.phases import PhaseWatch


def task_config(task: str, **data) -> RunConfig:
    block = 3 if task == "modadd" else 16
    return RunConfig(
        preset="tiny-task",
        data=DataConfig(task=task, **data),
        model=ModelConfig(block_size=block, n_layer=2, n_head=2, n_embd=32),
        train=TrainConfig(max_steps=6, batch_size=8, eval_every=3, eval_batches=2, device="cpu"),
        sample=SampleConfig(max_new_tokens=2),
    )


def pairs(task: ModularAddition, split: str) -> list[tuple[int, int]]:
    text = task.tokenizer.token_text
    return [(int(text(a)), int(text(b))) for a, b, _, _ in task.rows[split].tolist()]


def test_every_modadd_pair_appears_once_with_its_sum():
    task = ModularAddition(7, 0.4)
    seen = pairs(task, "train") + pairs(task, "val")
    assert sorted(seen) == [(a, b) for a in range(7) for b in range(7)]
    text = task.tokenizer.token_text
    for split in ("train", "val"):
        for a, b, equals, c in task.rows[split].tolist():
            assert text(equals) == "="
            assert int(text(c)) == (int(text(a)) + int(text(b))) % 7


def test_modadd_train_and_val_are_disjoint_in_the_fraction_asked():
    task = ModularAddition(11, 0.3)
    train, val = set(pairs(task, "train")), set(pairs(task, "val"))
    assert not train & val
    assert len(train) == round(0.3 * 121)


def test_modadd_trains_full_batch_on_the_answer_alone():
    task = ModularAddition(5, 0.5)
    x, y = task.batch("train", 3, 3, torch.Generator(), torch.device("cpu"))
    assert x.shape == (len(task.rows["train"]), 3)  # every training pair, whatever batch_size
    assert (y[:, :2] == IGNORE).all()
    assert torch.equal(y[:, 2], task.rows["train"][:, 3])


def copy_follower(row: list[int], t: int) -> int | None:
    """What copying predicts after position t: the token after t's earlier copy, if any."""
    earlier = [j for j in range(t) if row[j] == row[t]]
    return row[earlier[-1] + 1] if earlier else None


def test_induction_rows_show_each_stretch_twice_at_varying_distances():
    task = InductionTask(symbols=50, block_size=23)
    rows, answers = task.rows(200, torch.Generator().manual_seed(0))
    distances = set()
    for row, asked in zip(rows.tolist(), answers.tolist(), strict=True):
        assert max(row.count(token) for token in row) <= 2  # a token's earlier copy is unique
        for t, is_asked in enumerate(asked):
            follower = copy_follower(row, t)
            # asked exactly where copying gives the answer
            assert is_asked == (follower == row[t + 1])
            if is_asked:
                distances.add(t - row.index(row[t]))
        assert sum(asked) >= 1
    # the copy lies at many distances, from the shortest stretch to the longest: no offset to
    # copy by position
    assert distances == set(range(task.shortest, task.longest + 1))
    assert len(distances) > 3


def test_induction_rows_differ_from_batch_to_batch_and_val_is_fixed():
    task = InductionTask(symbols=50, block_size=23)
    generator = torch.Generator().manual_seed(0)
    first, _ = task.batch("train", 8, 23, generator, torch.device("cpu"))
    second, _ = task.batch("train", 8, 23, generator, torch.device("cpu"))
    assert not torch.equal(first, second)
    assert torch.equal(InductionTask(symbols=50, block_size=23).val_rows, task.val_rows)
    assert torch.equal(task.head_probe(23), task.val_rows[:8, :-1])  # heads scored on its rows


def test_induction_passages_ask_only_the_predictable_tokens():
    task = InductionTask(symbols=50, block_size=15)
    passage = task.passage(3, 15)
    row = list(passage.ids)
    assert passage.asked
    assert passage.asked == tuple(
        t + 1 for t in range(len(row) - 1) if copy_follower(row, t) == row[t + 1]
    )


def test_a_task_run_reports_accuracy_and_an_induction_run_its_halves():
    for task in ("modadd", "induction"):
        trainer = Trainer.create(task_config(task, modulus=7, symbols=20))
        events = list(trainer.events())
        started = next(e for e in events if isinstance(e, TrainingStarted))
        evals = [e for e in events if isinstance(e, EvalCompleted)]
        assert started.task == task and started.unigram_loss is None
        assert evals and all(0 <= e.val_accuracy <= 1 for e in evals)  # type: ignore[operator]
        assert all(0 <= e.train_accuracy <= 1 for e in evals)  # type: ignore[operator]
        halves = [(e.first_half_loss, e.second_half_loss) for e in evals]
        if task == "modadd":
            assert trainer.config.train.batch_size == len(trainer.data.rows["train"])  # type: ignore[attr-defined]
            assert halves == [(None, None)] * len(evals)
        else:
            assert all(first and second for first, second in halves)
        # The task's own tokens: prompt and probe read without unknown words.
        for text in (trainer.config.sample.prompt, trainer.config.sample.probe):
            assert not trainer.tokenizer.encode(text).unknown


def test_a_corpus_eval_reports_no_accuracy(tiny):
    trainer = Trainer.create(tiny)
    evaluated = trainer.evaluate()
    assert evaluated.val_accuracy is None and evaluated.first_half_loss is None


def test_tasks_refuse_what_does_not_apply():
    with pytest.raises(ConfigError, match="task 'sums'"):
        DataConfig(task="sums")
    with pytest.raises(ConfigError, match="tokenizer 'char'"):
        DataConfig(task="modadd", tokenizer="char")
    with pytest.raises(ConfigError, match="block_size 3 or more"):
        RunConfig(data=DataConfig(task="modadd"), model=ModelConfig(block_size=2))


def evaluated(step: int, train: float, val: float) -> EvalCompleted:
    return EvalCompleted(step, 1.0, 2.0, train_accuracy=train, val_accuracy=val)


def test_memorising_then_generalising_is_marked_once_each():
    watch = PhaseWatch()
    seen: list[PhaseChanged] = []
    for step, train, val in [
        (0, 0.0, 0.0), (100, 0.995, 0.2), (200, 1.0, 0.3), (300, 1.0, 0.6), (400, 1.0, 0.99),
    ]:  # fmt: skip
        seen += watch.see_eval(evaluated(step, train, val))
    assert [(c.phase, c.step) for c in seen] == [
        (PhaseKind.MEMORISED, 100),
        (PhaseKind.GENERALISED, 300),
    ]
    assert "grokking" in seen[1].detail


def test_learning_both_at_once_is_no_memorising():
    watch = PhaseWatch()
    assert watch.see_eval(evaluated(100, 1.0, 0.9)) == []
    assert watch.see_eval(EvalCompleted(200, 1.0, 2.0)) == []  # a corpus: no accuracies


def test_an_eval_merges_its_batches_and_adds_up_the_same(tiny):
    """Batches run a few at a time as one forward pass give the losses the batches one by one
    give (engine/lens/evaluation.merged), within the bounds on a pass."""
    for config in (tiny, task_config("induction", symbols=20), task_config("modadd", modulus=7)):
        trainer = Trainer.create(config)
        batches = list(trainer.eval_batches("val"))
        vocab = trainer.config.model.vocab_size
        passes = list(merged(batches, vocab))
        assert sum(len(p.x) for p in passes) == sum(len(b.x) for b in batches)
        largest = max(b.x.numel() for b in batches)  # a batch over the bound passes alone
        assert all(p.x.numel() <= max(MERGED_TOKENS, largest) for p in passes)
        one_by_one, joined = EvalTally(), EvalTally()
        with torch.no_grad():
            for batch in batches:
                one_by_one.add(trainer.model(batch.x)[0], batch)
            for batch in passes:
                joined.add(trainer.model(batch.x)[0], batch)
        assert joined.loss() == pytest.approx(one_by_one.loss(), rel=1e-5)
        assert joined.targets == one_by_one.targets and joined.correct == one_by_one.correct
        if one_by_one.tasked:
            assert joined.loss(answers=True) == pytest.approx(
                one_by_one.loss(answers=True), rel=1e-5
            )


def test_merging_stops_at_the_bounds():
    row = EvalBatch(torch.zeros(4, 16, dtype=torch.long), torch.zeros(4, 16, dtype=torch.long))
    passes = list(merged([row] * 100, vocab_size=10))  # 64 tokens each
    per_pass = MERGED_TOKENS // 64
    assert [len(p.x) for p in passes[:-1]] == [4 * per_pass] * (len(passes) - 1)
    assert len(passes) == math.ceil(100 / per_pass) and sum(len(p.x) for p in passes) == 400
    big_vocab = list(merged([row] * 3, vocab_size=MERGED_LOGITS // 64))  # 64 tokens a batch fit
    assert [len(p.x) for p in big_vocab] == [4, 4, 4]


def test_the_first_line_and_the_report_say_what_a_task_trains_on():
    """An induction run draws every batch anew: no "0 training tokens" (nor epochs) to show."""
    for task, said in (("induction", "new random rows every batch"), ("modadd", "training tokens")):
        trainer = Trainer.create(task_config(task, modulus=7, symbols=20))
        started = next(e for e in trainer.events() if isinstance(e, TrainingStarted))
        out = io.StringIO()
        ProgressPrinter(out=out, err=io.StringIO()).show(started)
        assert said in out.getvalue() and " 0 training" not in out.getvalue()
        facts = _facts(RunRecord(Path("run"), started=[started]))
        assert (said if task == "induction" else "task: ") in facts and "corpus:" not in facts
