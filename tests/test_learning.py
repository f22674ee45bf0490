"""Watching the learning itself: training statistics, the logit lens, head scores and phase
changes, the embedding map, FLOPs and MFU; checked against hand computations and hand-built
weights."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import pytest
import torch
from torch.nn import functional as F

from engine import (
    HeadScore,
    HeadsScored,
    PhaseChanged,
    PhaseKind,
    StepCompleted,
    Trainer,
    TrainingStarted,
    TrainingStats,
)
from engine.contract.config import ModelConfig
from engine.contract.flops import gpu_peak
from engine.lens.activations import activation_stats, uniform_entropy
from engine.lens.circuits import head_scores, icl_score, repeated_probe
from engine.lens.embedding_map import embedding_map, principal_coordinates
from engine.lens.logit_lens import lens_probs, logit_lens
from engine.model.gpt import GPT
from engine.training.flops import counted_flops, step_flops
from engine.training.phases import PhaseWatch
from engine.training.schedule import lr_at
from engine.training.stats import CLIP_EPS
from tests.conftest import tiny_config

# -- the update-to-data ratio, by hand ------------------------------------------------------------


def _two_steps(config):
    """A trainer stepped twice, measuring step 2, with what a hand computation needs: the initial
    model and each step's batch."""
    trainer = Trainer.create(config)
    initial = copy.deepcopy(trainer.model)
    batches = []
    events = []
    for _ in range(2):
        rng = torch.Generator()
        rng.set_state(trainer.batch_rng.get_state())
        m, t = trainer.config.model, trainer.config.train
        batches.append(trainer.data.batch("train", t.batch_size, m.block_size, rng, trainer.device))
        trainer.train_step()
        trainer._read_steps(wait=True)
        events += trainer._unsent
        trainer._unsent.clear()
    (stats,) = [e for e in events if isinstance(e, TrainingStats)]
    assert stats.step == 2
    return trainer, initial, batches, stats


def _gradients(model: GPT, batch, clip: float) -> tuple[dict, dict]:
    """Each parameter's gradient on the batch, clipped as the trainer clips, and before that."""
    model.zero_grad(set_to_none=True)
    _, loss = model(*batch)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    total = torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values()))
    scale = min(1.0, clip / (float(total) + CLIP_EPS)) if clip > 0 else 1.0
    return {name: g * scale for name, g in grads.items()}, grads


def _ratio(before: torch.Tensor, after: torch.Tensor) -> float:
    return math.log10(float((after - before).double().std() / after.double().std()))


def _matrices(model: GPT) -> dict[tuple[str, int | None], str]:
    """(matrix, layer) of the statistics -> the parameter name it follows."""
    names = {("token_embedding", None): "wte.weight", ("position_embedding", None): "wpe.weight"}
    for i in range(model.config.n_layer):
        names |= {
            ("qkv", i): f"blocks.{i}.attn.c_attn.weight",
            ("attn_out", i): f"blocks.{i}.attn.c_proj.weight",
            ("mlp_in", i): f"blocks.{i}.mlp.c_fc.weight",
            ("mlp_out", i): f"blocks.{i}.mlp.c_proj.weight",
        }
    return names


class HandAdamW:
    """AdamW as its paper writes it, one parameter at a time (decay on 2-D weights only)."""

    def __init__(self, train):
        self.train, self.m, self.v = train, {}, {}

    def step(self, name: str, param: torch.Tensor, g: torch.Tensor, lr: float, t: int) -> None:
        b1, b2, eps = self.train.beta1, self.train.beta2, 1e-8
        self.m[name] = b1 * self.m.get(name, 0) + (1 - b1) * g
        self.v[name] = b2 * self.v.get(name, 0) + (1 - b2) * g * g
        m_hat, v_hat = self.m[name] / (1 - b1**t), self.v[name] / (1 - b2**t)
        decay = self.train.weight_decay if param.dim() >= 2 else 0.0
        param.mul_(1 - lr * decay).sub_(lr * m_hat / (v_hat.sqrt() + eps))


def test_update_to_data_ratio_equals_a_hand_computed_adamw_step(corpus):
    # Clipping on and biting, so the gradient norms must be the ones before it.
    config = tiny_config(corpus, stats_every=2, grad_clip=0.5, weight_decay=0.1)
    trainer, model, batches, stats = _two_steps(config)
    adamw = HandAdamW(config.train)
    for step, batch in enumerate(batches, start=1):
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        clipped, raw = _gradients(model, batch, config.train.grad_clip)
        with torch.no_grad():
            for name, param in model.named_parameters():
                adamw.step(name, param, clipped[name], lr_at(step - 1, config), step)
    assert float(torch.sqrt(sum((g**2).sum() for g in raw.values()))) > 0.5  # clipping bit
    live = dict(trainer.model.named_parameters())
    names = _matrices(trainer.model)
    assert [(w.matrix, w.layer) for w in stats.weights] == list(names)
    for row in stats.weights:
        name = names[(row.matrix, row.layer)]
        mine = model.get_parameter(name).detach()
        torch.testing.assert_close(live[name].detach(), mine, rtol=1e-4, atol=1e-6)
        assert row.update_ratio == pytest.approx(_ratio(before[name], mine), abs=1e-3)
        assert row.weight_norm == pytest.approx(float(mine.norm()), rel=1e-3)
        assert row.grad_norm == pytest.approx(float(raw[name].norm()), rel=1e-3)


def _newton_schulz(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Muon's orthogonalisation (Keller Jordan's quintic iteration), in bf16 and with the same
    fused multiply-adds as torch: in bf16 the iteration amplifies any other rounding."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.bfloat16()
    tall = g.size(0) > g.size(1)
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return (x.T if tall else x).float()


def test_update_to_data_ratio_equals_a_hand_computed_muon_step(corpus):
    config = tiny_config(corpus, stats_every=2, muon=True, grad_clip=0.0)
    trainer, model, batches, stats = _two_steps(config)
    t = config.train
    names = _matrices(model)
    muon = {name for (matrix, _), name in names.items() if not matrix.endswith("embedding")}
    adamw, buffers, before = HandAdamW(t), {}, {}
    for step, batch in enumerate(batches, start=1):
        clipped, _ = _gradients(model, batch, 0.0)
        lr = lr_at(step - 1, config)
        muon_lr = lr * t.muon_lr / t.lr
        with torch.no_grad():
            for name, param in model.named_parameters():
                before[name] = param.detach().clone()
                g = clipped[name]
                if name not in muon:
                    adamw.step(name, param, g, lr, step)
                    continue
                momentum = t.muon_momentum
                buffers[name] = momentum * buffers.get(name, 0) + (1 - momentum) * g
                update = _newton_schulz(g.lerp(buffers[name], momentum))  # Nesterov
                rows, cols = param.shape
                param.mul_(1 - muon_lr * t.weight_decay)
                param.add_(update, alpha=-muon_lr * math.sqrt(max(1, rows / cols)))
    live = dict(trainer.model.named_parameters())
    for row in stats.weights:
        name = names[(row.matrix, row.layer)]
        mine = model.get_parameter(name).detach()
        torch.testing.assert_close(live[name].detach(), mine, rtol=0.02, atol=2e-4)
        assert row.update_ratio == pytest.approx(_ratio(before[name], mine), abs=0.01)


def test_statistics_come_every_stats_every_steps_and_never_between(corpus, monkeypatch):
    from engine.training import stats as stats_module

    measured = []
    begin = stats_module.StatsRecorder.begin
    monkeypatch.setattr(
        stats_module.StatsRecorder,
        "begin",
        lambda self, idx: measured.append(1) or begin(self, idx),
    )
    trainer = Trainer.create(tiny_config(corpus, max_steps=12, stats_every=5, eval_every=100))
    events = list(trainer.events())
    stats = [e for e in events if isinstance(e, TrainingStats)]
    assert [e.step for e in stats] == [5, 10] and len(measured) == 2
    steps = [e.step for e in events if isinstance(e, (StepCompleted, TrainingStats))]
    assert steps.index(5) < steps.index(5, steps.index(5) + 1)  # the step's line, then its stats
    assert not any(module._forward_hooks for module in trainer.model.modules())
    m = trainer.config.model
    assert len(stats[0].layers) == m.n_layer and len(stats[0].heads) == m.n_layer * m.n_head
    assert stats[0].uniform_entropy == pytest.approx(uniform_entropy(m.block_size), rel=1e-4)
    quiet = Trainer.create(tiny_config(corpus, max_steps=12, stats_every=0, eval_every=100))
    assert not any(isinstance(e, TrainingStats) for e in quiet.events())
    assert quiet.stats is None


# -- activations on hand-built weights ------------------------------------------------------------


def _hand_built_activations() -> GPT:
    """One block, 16 wide, 8 tokens: token t is a spike on channel t, position 0 one on channel 8.

    Head 0's queries and keys are zero: it attends evenly. Head 1's key lights up at position 0
    only and its query is the same positive number everywhere: it looks at the first token. The
    MLP's first 32 units read nothing (pre-activation 0: dead, and GELU(0) is near zero); unit
    32 + k reads channel k mod 8, the spike of token k mod 8, and is live. Attention and MLP
    outputs are zero, so the residual stream is the embedding throughout, norm 10 (or √200 at
    position 0).
    """
    C = 16
    model = GPT(ModelConfig(block_size=8, n_layer=1, n_head=2, n_embd=C, vocab_size=8))
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        block = model.blocks[0]
        for norm in (block.ln_1, block.ln_2, model.ln_f):
            norm.weight.fill_(1.0)
        model.wte.weight[:, :8].copy_(10 * torch.eye(8))
        model.wpe.weight[0, 8] = 10.0
        qkv = block.attn.c_attn.weight
        qkv[8, 15] = -6.0  # head 1's query: channel 15 is always the same below-mean value
        qkv[C + 8, 8] = 6.0  # head 1's key: position 0's channel
        for unit in range(32, 64):
            block.mlp.c_fc.weight[unit, unit % 8] = 1.0
    return model


def test_dead_units_near_zero_share_entropy_and_max_score_on_hand_built_weights():
    model = _hand_built_activations()
    idx = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7], [7, 6, 5, 4, 3, 2, 1, 0]])  # every token
    layers, heads = activation_stats(model, idx)
    near_zero, dead, residual = layers[0].tolist()
    assert dead == 0.5  # the 32 units that read nothing, of 64
    assert near_zero == pytest.approx(0.5)  # their every activation; a live unit's never is
    assert residual == pytest.approx((7 * 10 + math.sqrt(200)) / 8, rel=1e-5)
    (even_entropy, even_max), (first_entropy, first_max) = heads[0].tolist()
    assert even_entropy == pytest.approx(uniform_entropy(8), rel=1e-5) and even_max == 0.0
    assert first_entropy < 0.05 and first_max > 10  # all but one-hot on position 0
    # Half the live units' tokens missing from the batch: those units never fire, so are dead.
    layers, _ = activation_stats(model, torch.tensor([[0, 1, 2, 3, 0, 1, 2, 3]]))
    assert layers[0, 1] == 0.75


# -- the logit lens -------------------------------------------------------------------------------


class Chars:
    """A tokenizer of the characters a..h, for hand-built models."""

    vocab_size = 8

    def encode(self, text):
        from engine.data.tokenizer import Encoding

        return Encoding([ord(c) - ord("a") for c in text], [])

    def token_text(self, token_id):
        return chr(ord("a") + token_id)


def test_the_logit_lens_last_row_is_the_models_own_next_token_distribution(corpus):
    trainer = Trainer.create(tiny_config(corpus, max_steps=20, eval_every=100))
    list(trainer.events())
    model = trainer.model
    ids = trainer.tokenizer.encode("oh my love, you shine like the morning sun").ids
    idx = torch.tensor([ids[: model.config.block_size]])
    probs = lens_probs(model, idx)  # (n_layer + 1, 1, T, vocab)
    assert probs.shape[0] == model.config.n_layer + 1
    model.eval()
    with torch.no_grad():
        own = F.softmax(model(idx)[0], dim=-1)
    torch.testing.assert_close(probs[-1], own)
    lens = logit_lens(model, trainer.tokenizer, "oh my love, you shine", step=trainer.step)
    assert lens.layers == ("embeddings", "block 0", "block 1") and lens.step == 20
    T = len(lens.tokens)
    assert [len(row) for row in lens.top] == [T] * 3
    assert [len(row) for row in lens.target_probs] == [T - 1] * 3
    best = own[0, :T].argmax(-1).tolist()
    assert [c.token_id for c in lens.top[-1]] == best
    following = lens.token_ids[1:]
    assert lens.target_probs[-1] == pytest.approx(
        [float(own[0, i, t]) for i, t in enumerate(following)], abs=1e-4
    )


# -- head scores and phase changes ----------------------------------------------------------------


def _hand_built_induction() -> GPT:
    """Two blocks, 32 wide, 8 tokens, context 16: a previous-token head feeding an induction head.

    Token t is a spike on channel t, position p one on channel 8 + p. Block 0's head 0 looks one
    position back (its query at i spikes where its key at i - 1 does) and writes the token it
    finds there onto channels 24..31. Block 1's head 0 matches the current token (channels 0..7)
    against those (channels 24..31): it looks at the token after an earlier copy of its own, A B
    ... A -> B. Every other weight is zero.
    """
    C = 32
    model = GPT(ModelConfig(block_size=16, n_layer=2, n_head=2, n_embd=C, vocab_size=8))
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        for norm in [model.ln_f] + [n for b in model.blocks for n in (b.ln_1, b.ln_2)]:
            norm.weight.fill_(1.0)
        model.wte.weight[:, :8].copy_(10 * torch.eye(8))
        model.wpe.weight[:, 8:24].copy_(10 * torch.eye(16))
        first, second = (block.attn for block in model.blocks)
        for d in range(15):  # query dim d reads position d + 1, key dim d position d
            first.c_attn.weight[d, 8 + d + 1] = 2.0
            first.c_attn.weight[C + d, 8 + d] = 2.0
        for k in range(8):
            first.c_attn.weight[2 * C + k, k] = 1.0  # value: the token
            first.c_proj.weight[24 + k, k] = 2.6  # written where the previous token is kept
            second.c_attn.weight[k, k] = 3.0  # query: the current token
            second.c_attn.weight[C + k, 24 + k] = 3.0  # key: the token before
    return model.eval()


def test_the_induction_detector_marks_a_hand_built_induction_head_and_not_a_previous_token_head():
    model = _hand_built_induction()
    probe = repeated_probe(vocab_size=8, block_size=16)
    assert probe.shape == (4, 16) and torch.equal(probe[:, :8], probe[:, 8:])
    scores = {(s.layer, s.head): s for s in head_scores(model, probe)}
    previous, induction = scores[(0, 0)], scores[(1, 0)]
    assert previous.previous_token > 0.9 and previous.induction < 0.1
    assert induction.induction > 0.9 and induction.previous_token < 0.1
    watch = PhaseWatch()
    changes = watch.see(HeadsScored(500, tuple(scores.values()), math.nan, math.nan, math.nan))
    assert [(c.phase, c.layer, c.head, c.step) for c in changes] == [
        (PhaseKind.INDUCTION, 1, 0, 500)
    ]
    assert "L1H0" in changes[0].detail
    again = watch.see(HeadsScored(600, tuple(scores.values()), math.nan, math.nan, math.nan))
    assert again == []  # once per head


def test_a_duplicate_token_head_gets_its_role():
    from engine.contract.outputs import AttentionMap
    from engine.lens.attention import tensor_to_array
    from engine.lens.head_roles import head_roles

    ids = [5, 6, 7, 5, 6, 7]
    weights = torch.zeros(1, 1, 6, 6)
    for i, token in enumerate(ids):
        copies = [j for j in range(i - 1) if ids[j] == token] or [i]
        for j in copies:
            weights[0, 0, i, j] = 1.0 / len(copies)
    (role,) = head_roles(AttentionMap([], ids, (1, 1, 6, 6), tensor_to_array(weights)))
    assert role.role == "duplicate-token" and dict(role.scores)["duplicate-token"] == 1.0


def test_the_icl_score_compares_late_and_early_positions_and_a_jump_is_marked_once():
    losses = [4.0] + [3.0] * 9 + [2.0] * 10  # T = 20: early 2..3, late 18..19
    assert icl_score(losses) == (-1.0, 3.0, 2.0)
    watch = PhaseWatch()
    heads = (HeadScore(0, 0, 0.1, 0.1, 0.1),)

    def see(step: int, icl: float) -> list[PhaseChanged]:
        return watch.see(HeadsScored(step, heads, icl, 3.0, 3.0 + icl))

    # A gradual gain, wobbling: never 0.1 below the lowest so far, though 0.1 below the eval before.
    for step, icl in ((0, 0.0), (100, -0.06), (200, 0.02), (300, -0.09)):
        assert see(step, icl) == []
    (jump,) = see(400, -0.3)
    assert jump.phase is PhaseKind.ICL and jump.layer is None and jump.score == -0.3
    assert see(500, -0.9) == []  # once per run


def test_a_resumed_run_does_not_announce_a_phase_change_again(corpus, tmp_path):
    from engine.runs.files import EventLog

    run = tmp_path / "run"
    trainer = Trainer.create(tiny_config(corpus, max_steps=10), run)
    list(trainer.events())
    trainer.close()
    log = EventLog(run)
    log.append(PhaseChanged(PhaseKind.INDUCTION, 10, 1, 0, 0.6, "formed"))
    log.append(PhaseChanged(PhaseKind.INDUCTION, 50, 0, 1, 0.6, "after the checkpoint: undone"))
    log.close()
    watch = Trainer.resume(run, {"train": {"max_steps": 20}}).phases
    assert watch.announced == {(PhaseKind.INDUCTION, 1, 0)}
    assert watch.lowest_icl is not None  # from the run's HeadsScored up to its step


def test_every_eval_scores_the_heads_and_stores_the_lens_and_the_map(corpus, tmp_path):
    from engine.lens.timelapse import load_lens, load_map, snapshot_steps

    run = tmp_path / "run"
    trainer = Trainer.create(tiny_config(corpus, max_steps=20, eval_every=10), run)
    events = list(trainer.events())
    scored = [e for e in events if isinstance(e, HeadsScored)]
    assert [e.step for e in scored] == [0, 10, 20]
    assert len(scored[0].heads) == 4 and math.isfinite(scored[-1].icl_score)
    for step in snapshot_steps(run):
        lens, embedding = load_lens(run, step), load_map(run, step)
        assert lens.step == embedding.step == step
        assert (
            lens.tokens == tuple(trainer.tokenizer.token_text(i) for i in lens.token_ids)
            and len(lens.layers) == 3
        )
    counts = embedding.counts
    assert list(counts) == sorted(counts, reverse=True) and embedding.labelled <= len(counts)
    started = events[0]
    assert isinstance(started, TrainingStarted)
    assert started.step_flops == step_flops(trainer.config.model, 8)
    assert started.peak_flops and "GFLOP/s" in started.peak_source


# -- the embedding map ----------------------------------------------------------------------------


def test_the_embedding_map_is_pca_and_keeps_its_axes_from_one_snapshot_to_the_next():
    torch.manual_seed(0)
    model = GPT(ModelConfig(block_size=4, n_layer=1, n_head=1, n_embd=8, vocab_size=8))
    with torch.no_grad():  # most spread along channel 0, then channel 1
        model.wte.weight.copy_(torch.randn(8, 8) * torch.tensor([5.0, 2.0] + [0.1] * 6))
    counts = torch.tensor([1, 9, 3, 0, 5, 5, 2, 7]).numpy()
    first = embedding_map(model, Chars(), counts, step=1)
    assert first.token_ids == (1, 7, 4, 5, 2, 6, 0, 3) and first.counts[0] == 9
    assert first.explained[0] > first.explained[1] > 0
    coords, _ = principal_coordinates(model.wte.weight.detach())
    assert torch.allclose(
        coords[:, 0].abs(), (model.wte.weight[:, 0] - model.wte.weight[:, 0].mean()).abs(), atol=0.5
    )
    with torch.no_grad():  # the same table, mirrored: its principal axes point the other way
        model.wte.weight.mul_(-1)
    second = embedding_map(model, Chars(), counts, step=2, previous=first)
    assert second.x == pytest.approx(first.x, abs=1e-3)
    assert second.y == pytest.approx(first.y, abs=1e-3)


# -- FLOPs and MFU --------------------------------------------------------------------------------


def test_the_flops_formula_matches_torchs_flop_counter():
    shapes = [
        ModelConfig(block_size=16, n_layer=2, n_head=2, n_embd=32, vocab_size=30),
        ModelConfig(block_size=64, n_layer=4, n_head=4, n_embd=128, vocab_size=65),
        ModelConfig(
            block_size=32, n_layer=3, n_head=4, n_embd=64, vocab_size=50, bias=True, rope=True,
            qk_norm=True, relu2=True, tie_head=False,
        ),
    ]  # fmt: skip
    for config in shapes:
        assert counted_flops(config, 3) == step_flops(config, 3)


def test_mfu_divides_the_model_flops_achieved_by_the_peak():
    assert gpu_peak("NVIDIA H100 80GB HBM3") == 989e12
    assert gpu_peak("NVIDIA A100-SXM4-40GB") == 312e12
    assert gpu_peak("NVIDIA L40S") == 362e12 and gpu_peak("NVIDIA L4") == 121e12
    assert gpu_peak("NVIDIA A10G") is None and gpu_peak("Tesla T4") is None
    base = dict(
        run_dir="r", preset="p", device="cuda", dtype="bfloat16", tokenizer="char",
        vocab_size=65, n_params=1, n_layer=1, n_head=1, n_embd=8, block_size=64, batch_size=16,
        start_step=0, max_steps=10, train_tokens=1, val_tokens=1,
    )  # fmt: skip
    started = TrainingStarted(**base, step_flops=10**12, peak_flops=989e12, peak_source="H100")
    # 1024 tokens a step at 2,048 tokens/s: two steps a second, 2 TFLOP/s.
    assert started.flops_per_s(2048.0) == pytest.approx(2e12)
    assert started.utilization(2048.0) == pytest.approx(2e12 / 989e12)
    unknown = replace(started, peak_flops=None)
    assert unknown.utilization(2048.0) is None and unknown.flops_per_s(2048.0) == 2e12


def test_the_cpu_matmul_rate_is_measured_once_per_machine(tmp_path, monkeypatch):
    from engine.training import flops

    cache = tmp_path / "matmul.json"
    rate = flops.cpu_matmul_flops(cache)
    assert rate > 1e8 and cache.exists()  # any CPU of this century
    monkeypatch.setattr(flops, "_measure_matmul", lambda: pytest.fail("measured again"))
    assert flops.cpu_matmul_flops(cache) == rate


def test_the_fakes_learning_events_are_real_events():
    from engine import event_from_json
    from tests.tui_fakes import INDUCTION_FROM, make_events

    events = make_events(learning=True)
    assert [event_from_json(e.to_json()) for e in events] == events
    changes = [e for e in events if isinstance(e, PhaseChanged)]
    assert [(c.step, c.layer, c.head) for c in changes] == [(INDUCTION_FROM, 1, 0)]
    assert [e.step for e in events if isinstance(e, TrainingStats)] == list(range(50, 301, 50))
