"""The training loop as a generator of events, and the Trainer that owns one run's state.

A Trainer is built (and everything about the input checked) before anything touches the disk; the
run directory appears with the first event. Between steps the owner may sample, inspect attention or
save, which is how the worker serves its clients.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import torch

from engine.contract.config import RunConfig
from engine.contract.errors import CheckpointError, ConfigError, EngineError
from engine.contract.events import (
    CheckpointSaved,
    EvalCompleted,
    Event,
    FinishReason,
    HeadsScored,
    LossNotFinite,
    PauseCause,
    SampleGenerated,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
    TrainingStarted,
)
from engine.contract.snapshots import EmbeddingMap
from engine.data.baselines import Baselines, count_baselines
from engine.data.corpus import first_line
from engine.data.dataset import Dataset, load_dataset
from engine.data.tasks import example_text, load_task, prompt_text
from engine.data.token_cache import Progress
from engine.data.tokenizer import GPT2Tokenizer, Tokenizer, load_tokenizer
from engine.lens.circuits import head_scores, icl_score
from engine.lens.evaluation import EvalTally, merged
from engine.lens.timelapse import latest_map, save_lens, save_map, save_snapshot
from engine.model.gpt import GPT
from engine.model.pretrained import load_weights as load_pretrained
from engine.model.pretrained import with_pretrained
from engine.runs.files import (
    CONFIG,
    PRIVATE_DIR,
    TOKENIZER,
    EventLog,
    atomic_write_text,
    load_config,
    write_error,
)
from engine.training.checkpoint import (
    TrainerState,
    load_training_state,
    load_weights,
    save_checkpoint,
    settle_checkpoint,
)
from engine.training.devices import pick_device
from engine.training.flops import device_peak, step_flops
from engine.training.graph_step import GraphStep, can_capture
from engine.training.kept import keep
from engine.training.looking import Looking
from engine.training.memory import check_fits
from engine.training.no_dynamo import avoid_dynamo_import, step_without_dynamo
from engine.training.optim import make_optimizer
from engine.training.phases import PhaseWatch
from engine.training.schedule import lr_schedule
from engine.training.stats import StatsRecorder
from engine.training.step import StepReader
from engine.training.stepping import MAX_BAD_STEPS, Control, Stepping


class Trainer(Stepping, Looking):
    """One run: config, tokenizer, data, model, optimizer, progress and the run directory."""

    def __init__(
        self,
        config: RunConfig,
        tokenizer: Tokenizer,
        data: Dataset,
        run_dir: Path | None,
        *,
        device: torch.device,
        resumed_from: Path | None = None,
    ):
        self.config = config
        self.tokenizer = tokenizer
        self.data = data
        self.run_dir = run_dir
        self.device = device
        self.control = Control()
        torch.manual_seed(config.train.seed)
        self.model = GPT(config.model).to(device)
        # A second off the start where nothing compiles (see no_dynamo.py).
        without_dynamo = not config.train.compile and avoid_dynamo_import()
        self.optimizer = make_optimizer(self.model, config, device)
        if without_dynamo:
            for each in getattr(self.optimizer, "optimizers", (self.optimizer,)):  # Muon: two
                step_without_dynamo(each)
        self.state = TrainerState()
        self.batch_rng = torch.Generator().manual_seed(config.train.seed)
        self.autocast_dtype = (
            torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
        )
        self.step_model = torch.compile(self.model) if config.train.compile else self.model
        self.params = [p for p in self.model.parameters() if p.requires_grad]  # walked once
        self.shard = (0, 1)  # (rank, ranks): this process's share of the batch (see distribute)
        self._mean_over_ranks: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._before_step: Callable[[int], None] | None = None
        self.last_checkpoint: Path | None = None
        self._past: tuple[GPT, int] | None = None  # the last past model asked for (model_at)
        self._not_finite: LossNotFinite | None = None  # the step that last paused the run
        # On a GPU a step's loss and gradient norm are read late and a bad step is skipped on the
        # device (engine/training/step.py); elsewhere a read costs nothing, so each step is read at
        # once.
        self.lazy = device.type == "cuda"
        self.reader = StepReader()
        self._bad = torch.zeros((), device=device)  # 1.0 from a non-finite step until read
        self._unsent: list[Event] = []  # read outside the loop (a save between steps), not yet sent
        self._bad_steps = 0  # non-finite steps in a row
        self._logged = TrainerState()  # progress at the last StepCompleted: tokens/s counts from it
        self.graph = (
            GraphStep(self.optimizer, self._step_on, self._bad)
            if can_capture(self.optimizer, device, config.train.compile)
            else None
        )
        self._log: EventLog | None = None
        # Only steps that take statistics use it (every train.stats_every).
        self.stats = StatsRecorder(self.model) if config.train.stats_every else None
        self.phases = PhaseWatch()
        self._position_losses: list[float] = []  # the last eval's mean val loss per position
        self._last_map: EmbeddingMap | None = None  # the map the next one turns to agree with
        self._resumed = resumed_from is not None
        if resumed_from is not None:
            self._load(resumed_from)

    @classmethod
    def create(
        cls,
        config: RunConfig,
        run_dir: Path | None = None,
        progress: Progress | None = None,
        build_cache: bool = True,
    ) -> Trainer:
        """Check the config and corpus, tokenize and build the model; writes nothing but the token
        cache yet. `progress` hears how tokenizing goes (see engine/data/token_cache.py); without
        build_cache the tokens are waited for, as another rank makes them."""
        device = pick_device(config.train.device)
        config = with_pretrained(config)
        folder = Path(config.model.init_from) if config.model.init_from else None
        given = GPT2Tokenizer.from_folder(folder) if folder else None
        if given is not None and given.vocab_size != config.model.vocab_size:
            raise ConfigError(
                f"{folder}'s tokenizer has {given.vocab_size:,} tokens but its model.safetensors "
                f"and config.json are for {config.model.vocab_size:,}"
            )
        if config.data.task:
            tokenizer, data = load_task(config.data, config.model.block_size)
            config = _task_config(config, tokenizer, data)
        else:
            tokenizer, data, path = load_dataset(
                config.data, config.model.block_size, given, progress=progress, build=build_cache
            )
            config = replace(
                config,
                data=replace(config.data, corpus=str(path.resolve())),
                model=replace(config.model, vocab_size=tokenizer.vocab_size),
                sample=replace(config.sample, probe=config.sample.probe or first_line(path)),
            )
        check_fits(config.model, config.train.batch_size, device)
        trainer = cls(config, tokenizer, data, run_dir, device=device)
        if folder is not None:
            load_pretrained(folder, trainer.model)
        return trainer

    @classmethod
    def resume(
        cls,
        run_dir: Path,
        overrides: dict | None = None,
        progress: Progress | None = None,
        build_cache: bool = True,
    ) -> Trainer:
        """Reopen a run directory to continue training (or to sample from it)."""
        config = load_config(run_dir).for_resume(overrides or {})
        tokenizer = load_tokenizer(run_dir / TOKENIZER)
        if tokenizer.vocab_size != config.model.vocab_size:
            raise CheckpointError(
                f"{run_dir / TOKENIZER} has {tokenizer.vocab_size} tokens but "
                f"{run_dir / CONFIG} says vocab_size {config.model.vocab_size}"
            )
        if config.data.task:
            _, data = load_task(config.data, config.model.block_size)
        else:
            _, data, _ = load_dataset(
                config.data, config.model.block_size, tokenizer, progress, build_cache
            )
        device = pick_device(config.train.device)
        check_fits(config.model, config.train.batch_size, device)
        return cls(config, tokenizer, data, run_dir, device=device, resumed_from=run_dir)

    def _load(self, run_dir: Path) -> None:
        settle_checkpoint(run_dir)  # this process owns the run's files from now on
        step = load_weights(run_dir, self.model)
        self.model.to(self.device)
        self.state, rng = load_training_state(run_dir, self.optimizer, step)
        if "batch" in rng:
            self.batch_rng.set_state(rng["batch"])
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        self.last_checkpoint = run_dir / "model.safetensors"
        self.phases = PhaseWatch.from_history(run_dir, self.step)
        self._last_map = latest_map(run_dir, self.step)

    @property
    def finished(self) -> bool:
        return self.state.step >= self.config.train.max_steps

    def record(self, event: Event) -> Event:
        """Append an event to the run's events.jsonl (creating the run directory on first use)."""
        if self.run_dir is not None:
            self.open_run_dir().append(event)
        return event

    def open_run_dir(self) -> EventLog:
        if self._log is None:
            assert self.run_dir is not None
            try:
                self.run_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
                self.run_dir.chmod(PRIVATE_DIR)  # a run from before its files were private
            except OSError as error:
                raise write_error(self.run_dir, error) from None
            atomic_write_text(self.run_dir / CONFIG, self.config.to_json())
            self.tokenizer.save(self.run_dir / TOKENIZER)
            self._log = EventLog(self.run_dir)
        return self._log

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    @functools.cached_property
    def baselines(self) -> Baselines | None:
        """Unigram and bigram loss on the val text, counted once (a pass over the tokens); None
        for a task, whose loss is on its answers, where counting says nothing."""
        if self.data.task:
            return None
        return count_baselines(self.data.train, self.data.val, self.config.model.vocab_size)

    def started_event(self) -> TrainingStarted:
        m, t = self.config.model, self.config.train
        peak, peak_source = device_peak(self.device)
        ranks = self.shard[1]
        if peak is not None and ranks > 1:  # every rank's device counts
            peak, peak_source = peak * ranks, f"{ranks} x {peak_source}"
        return TrainingStarted(
            run_dir=str(self.run_dir or ""),
            preset=self.config.preset,
            device=self.device.type,
            dtype="bfloat16" if self.autocast_dtype else "float32",
            tokenizer=self.config.data.tokenizer,
            vocab_size=m.vocab_size,
            n_params=self.model.num_params(),
            n_layer=m.n_layer,
            n_head=m.n_head,
            n_embd=m.n_embd,
            block_size=m.block_size,
            batch_size=t.batch_size,
            start_step=self.step,
            max_steps=t.max_steps,
            train_tokens=self.data.train_tokens,
            val_tokens=self.data.val_tokens,
            resumed=self._resumed,
            probe=self.config.sample.probe,
            unigram_loss=self.baselines.unigram if self.baselines else None,
            bigram_loss=self.baselines.bigram if self.baselines else None,
            lr_schedule=lr_schedule(self.config),
            pretrained=self.config.model.init_from,
            step_flops=step_flops(m, t.batch_size),
            peak_flops=peak,
            peak_source=peak_source,
            task=self.data.task,
        )

    def events(self) -> Iterator[Event]:
        """Train to max_steps (or until control.stop), yielding every event as it happens.

        The training policy lives here, so a script gets it too: the probe's attention is stored
        at every eval (the time-lapse), with the heads' scores and any phase change they mark;
        every stats_every steps one step is measured (TrainingStats); and a non-finite step is
        skipped and pauses the run. Each turn first takes in the steps whose values have been
        read, then decides what comes next; on a GPU it waits for them only before anything that
        needs the true step.
        """
        train, control = self.config.train, self.control
        yield self.record(self.started_event())
        if self.step == 0:
            yield from self._checkpoint_events()  # the untrained model: where the time-lapse starts
        self._bad_steps, self._logged, evaluated = 0, self.state, self.step

        def eval_due() -> bool:
            return self.step != evaluated and (self.step % train.eval_every == 0 or self.finished)

        while True:
            self._read_steps(
                wait=not self.lazy
                or eval_due()
                or self.finished
                or control.stop
                or control.pause is not None
                or control.save_now
                or control.sample_now
            )
            while self._unsent:
                yield self.record(self._unsent.pop(0))
            if self._bad_steps >= MAX_BAD_STEPS:
                yield self.record(self.save())
                yield self.record(TrainingFinished(FinishReason.DIVERGED, self.step))
                return
            if eval_due():
                evaluated = self.step
                yield from self._checkpoint_events()
            if self.finished or control.stop:
                break
            if control.pause is not None:
                yield from self._pause(control.pause)
                continue
            if control.save_now:
                control.save_now = False
                yield self.record(self.save())
            if control.sample_now:
                control.sample_now = False
                yield self.record(self.sample())
            self.train_step()
        if not self.finished:
            yield self.record(self.save())
        reason = FinishReason.COMPLETED if self.finished else control.stop_reason
        yield self.record(TrainingFinished(reason, self.step))

    def _checkpoint_events(self) -> Iterator[Event]:
        """What happens at every eval: losses, the heads' scores and any phase change they mark,
        a sample, the time-lapse (the probe's attention and logit lens, the embedding map), a
        checkpoint, and the weights kept for replay."""
        evaluated = self.evaluate()
        yield self.record(evaluated)
        scored = self.score_heads()
        yield self.record(scored)
        for change in [*self.phases.see_eval(evaluated), *self.phases.see(scored)]:
            yield self.record(change)
        yield self.record(self.sample())
        if self.run_dir is not None:
            probe = self.config.sample.probe
            save_snapshot(self.run_dir, self.attention(probe))
            save_lens(self.run_dir, self.logit_lens(probe))
            save_map(self.run_dir, self.embedding_map())
        yield self.record(self.save())
        if self.run_dir is not None:
            keep(self.run_dir, self.model, self.step, self.config.train.keep_checkpoints)

    def _pause(self, cause: PauseCause) -> Iterator[Event]:
        """Announce the pause, then wait for the owner: whoever advances the loop again resumes."""
        detail = ""
        if cause is PauseCause.NOT_FINITE and self._not_finite is not None:
            detail = (
                f"{self._not_finite.summary()}; that step was not applied, and the last good "
                f"checkpoint is {self.last_checkpoint or 'not written yet'}"
            )
        yield self.record(TrainingPaused(self.step, cause, detail))
        self.control.pause = None
        if not self.control.stop:
            yield self.record(TrainingResumed(self.step))

    @torch.no_grad()
    def evaluate(self) -> EvalCompleted:
        """Mean loss over eval_batches batches of each split (the same batches at every eval);
        keeps val's mean loss at each context position for the in-context-learning score. A
        task's eval adds the accuracy on its answers, and where a task trains on tokens nothing
        predicts (induction's first half), the val loss on those and on the answers apart."""
        self.model.eval()
        measured = {split: self._measure(split) for split in ("train", "val")}
        self.model.train()
        train, val = measured["train"], measured["val"]
        self._position_losses = val.position_losses()
        return EvalCompleted(
            self.step,
            train.loss(),
            val.loss(),
            train_accuracy=train.accuracy(),
            val_accuracy=val.accuracy(),
            first_half_loss=val.loss(answers=False),
            second_half_loss=val.loss(answers=True),
        )

    def _measure(self, split: str) -> EvalTally:
        tally = EvalTally()
        for batch in merged(self.eval_batches(split), self.config.model.vocab_size):
            with self._autocast():
                logits, _ = self.model(batch.x)
            tally.add(logits.float(), batch)
        return tally

    def score_heads(self) -> HeadsScored:
        """The heads' habits on the repeated random-token probe, and the in-context-learning
        score from the last evaluate()'s val losses by position."""
        heads = head_scores(self.model, self.probe_ids)
        icl, early, late = icl_score(self._position_losses)
        return HeadsScored(self.step, heads, icl, early, late)

    def sample(self) -> SampleGenerated:
        """The fixed prompt and seed from the run's sample config: comparable across steps."""
        self._read_steps(wait=True)
        prompt = self.config.sample.prompt
        _, tokens = self.generate(prompt)
        try:
            text = prompt + "".join(t.text for t in tokens)
        except EngineError as error:  # a diverged model: say so in the time-lapse, keep going
            text = f"{prompt} [no sample: {error}]"
        return SampleGenerated(self.step, prompt, text)

    def save(self) -> CheckpointSaved:
        """Checkpoint now (a no-op on disk for a run without a directory)."""
        self._read_steps(wait=True)  # a bad step still queued rewinds the step saved
        if self.run_dir is None:
            return CheckpointSaved(self.step, "")
        self.open_run_dir()
        rng = {"batch": self.batch_rng.get_state(), "torch": torch.get_rng_state()}
        with self.graph.plain_groups() if self.graph else contextlib.nullcontext():
            path = save_checkpoint(self.run_dir, self.model, self.optimizer, self.state, rng)
        self.last_checkpoint = path
        return CheckpointSaved(self.step, str(path))


def _task_config(config: RunConfig, tokenizer: Tokenizer, data: Dataset) -> RunConfig:
    """A task run's config as it trains: the task's vocabulary, a full batch where the task
    trains on all of its split at once, and a probe and prompt in its own tokens (a prompt the
    task cannot read, such as the default "oh", is replaced by one of its rows)."""
    block_size = config.model.block_size
    train = config.train
    if (rows := data.full_batch()) is not None:
        train = replace(train, batch_size=rows)
    sample = config.sample
    if tokenizer.encode(sample.prompt).unknown or not sample.prompt.strip():
        sample = replace(sample, prompt=prompt_text(data, tokenizer, block_size))
    if not sample.probe or tokenizer.encode(sample.probe).unknown:
        sample = replace(sample, probe=example_text(data, tokenizer, block_size))
    return replace(
        config,
        model=replace(config.model, vocab_size=tokenizer.vocab_size),
        train=train,
        sample=sample,
    )


def train(config: RunConfig, run_dir: Path | None = None) -> Iterator[Event]:
    """Train a fresh run from a config, yielding its events: the simplest way in from a script."""
    trainer = Trainer.create(config, run_dir)
    try:
        yield from trainer.events()
    finally:
        trainer.close()
