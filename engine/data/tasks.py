"""Synthetic tasks beside corpora, each small enough for a famous phase change on a laptop CPU.

induction: rows of random stretches, each shown twice in a row (S1 S1 S2 S2 ...). A stretch's
    second showing is predictable only by finding the earlier copy of the current token and
    copying what followed it (an induction head, Olsson et al. 2022). Stretch lengths vary (2 to a
    quarter of the context), so how far back the copy lies varies too: with one fixed offset a
    model copies by position instead, and with one long stretch per row it found a copying
    circuit built on heads that look several tokens back (it learned the long repeats and missed
    the first tokens of each) rather than one token back. The loss is on the repeats alone:
    trained on the random tokens too, a model pulled towards "never a token seen before" there
    and "a token seen before" in the repeat sat on a long plateau. Every batch is new; val is a
    fixed set of rows, whose first showings are measured apart.
modadd: "a b = c" with c = (a + b) mod p, every pair once, split at random into train (a share
    train_fraction) and held-out val; full batch, the loss on c alone. With weight decay it
    memorises the training pairs first and generalises much later (grokking, Power et al. 2022).

Tokens are numbers (and "="), read by a word tokenizer, so a learner can type them anywhere a
text is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from engine.contract.config import TASK_TEXT, DataConfig
from engine.data.dataset import IGNORE, Dataset, EvalBatch, Passage, to_device
from engine.data.tokenizer import UNK, WordTokenizer

TASK_SEED = 17  # fixed: a task's split and val rows depend on its settings alone (a resume too)
EQUALS = "="
INDUCTION_VAL_ROWS = 512
COUNTED_ROWS = 256  # induction rows whose tokens stand for the training text (token counts)
SHORTEST = 2  # induction's shortest stretch
HEAD_PROBE_ROWS = 8


def number_ids(tokenizer: WordTokenizer, count: int) -> torch.Tensor:
    """The ids of the tokens "0" .. str(count - 1)."""
    return torch.tensor([tokenizer.index[str(n)] for n in range(count)])


class ModularAddition(Dataset):
    """Every pair (a, b) below the modulus once, as the row "a b = c"."""

    task = "modadd"

    def __init__(self, modulus: int, train_fraction: float):
        self.modulus = modulus
        self.tokenizer = WordTokenizer([UNK, *(str(n) for n in range(modulus)), EQUALS])
        a, b = torch.cartesian_prod(torch.arange(modulus), torch.arange(modulus)).unbind(1)
        numbers = number_ids(self.tokenizer, modulus)
        equals = torch.full_like(a, self.tokenizer.index[EQUALS])
        rows = torch.stack((numbers[a], numbers[b], equals, numbers[(a + b) % modulus]), 1)
        order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(TASK_SEED))
        n_train = min(len(rows) - 1, max(1, round(train_fraction * len(rows))))
        self.rows = {"train": rows[order[:n_train]], "val": rows[order[n_train:]]}  # (N, 4) each
        super().__init__(self.rows["train"].flatten(), self.rows["val"].flatten())

    @property
    def train_tokens(self) -> int:
        return len(self.rows["train"]) * TASK_TEXT  # one step is one epoch

    @property
    def val_tokens(self) -> int:
        return len(self.rows["val"]) * TASK_TEXT

    def row_tokens(self, block_size: int) -> int:
        return TASK_TEXT

    def full_batch(self) -> int | None:
        return len(self.rows["train"])

    def _xy(self, rows: torch.Tensor, device) -> tuple[torch.Tensor, torch.Tensor]:
        x = rows[:, :TASK_TEXT]
        y = torch.full_like(x, IGNORE)
        y[:, -1] = rows[:, -1]  # only c is predictable: a and b are random, "=" always comes
        return to_device(x, device), to_device(y, device)

    def batch(self, split, batch_size, block_size, generator, device, shard=(0, 1)):
        """The whole split, every step (full batch; batch_size is ignored): this rank's share."""
        rank, ranks = shard
        return self._xy(self.rows[split][rank::ranks], device)

    def eval_batches(
        self, split: str, batch_size: int, block_size: int, count: int, seed: int, device
    ) -> Iterator[EvalBatch]:
        """All of the split, in batch_size chunks: accuracy over every pair, not a sample."""
        rows = self.rows[split]
        for start in range(0, len(rows), max(1, batch_size)):
            x, y = self._xy(rows[start : start + batch_size], device)
            yield EvalBatch(x, y, y != IGNORE)

    def passage(self, number: int, block_size: int) -> Passage:
        """Held-out pair `number`: "a b = c", c asked."""
        row = self.rows["val"][number % len(self.rows["val"])]
        return Passage(tuple(int(i) for i in row.tolist()), (TASK_TEXT,))


class InductionTask(Dataset):
    """Rows of block_size + 1 tokens: random stretches of varying length, each shown twice in a
    row, the tokens of a row distinct where the symbols allow."""

    task = "induction"

    def __init__(self, symbols: int, block_size: int):
        self.symbols = symbols
        self.window = block_size + 1
        self.tokenizer = WordTokenizer([UNK, *(str(n) for n in range(symbols))])
        self.numbers = number_ids(self.tokenizer, symbols)
        self.longest = max(SHORTEST, self.window // 4)
        self.shortest = SHORTEST
        val, val_answers = self.rows(INDUCTION_VAL_ROWS, torch.Generator().manual_seed(TASK_SEED))
        self.val_rows, self.val_answers = val, val_answers
        counted, _ = self.rows(COUNTED_ROWS, torch.Generator().manual_seed(TASK_SEED + 1))
        super().__init__(counted.flatten(), val.flatten())

    @property
    def train_tokens(self) -> int:
        return 0  # every batch is new: there are no epochs

    def rows(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(count, window) token ids and (count, window - 1) bools: which targets (the token
        after each position) lie in a second showing after its first token, the predictable
        ones. The last stretch may be cut off by the window's end."""
        W = self.window
        stretches = -(-W // (2 * self.shortest))  # enough to fill the window at the shortest
        length = torch.randint(
            self.shortest, self.longest + 1, (count, stretches), generator=generator
        )
        ends = (2 * length).cumsum(1)  # where each stretch's second showing ends
        first_token = length.cumsum(1) - length  # each stretch's first token among the draws
        position = torch.arange(W).repeat(count, 1)
        stretch = torch.searchsorted(ends, position, right=True)  # the stretch each position is in
        L = length.gather(1, stretch)
        into = position - (ends - 2 * length).gather(1, stretch)  # how far into its stretch
        source = first_token.gather(1, stretch) + torch.where(into < L, into, into - L)
        distinct = int(source.max()) + 1
        if self.symbols >= distinct:  # distinct, so each token's earlier copy is unique
            draws = torch.rand(count, self.symbols, generator=generator).argsort(dim=1)
        else:
            draws = torch.randint(self.symbols, (count, distinct), generator=generator)
        tokens = self.numbers[draws.gather(1, source)]
        answers = (into > L)[:, 1:]  # target t + 1 is a second showing's token 1 onwards
        return tokens, answers

    def head_probe(self, block_size: int) -> torch.Tensor:
        """Val rows' inputs: the heads are scored on the task's own text, whose copies lie at
        varying distances (a head that looks back by position scores low on them)."""
        return self.val_rows[:HEAD_PROBE_ROWS, :-1]

    def batch(self, split, batch_size, block_size, generator, device, shard=(0, 1)):
        """New random rows for training (for val, rows of the fixed val set), the repeats'
        predictable tokens the only targets."""
        rank, ranks = shard
        if split == "train":
            rows, answers = self.rows(batch_size, generator)
        else:
            pick = torch.randint(len(self.val_rows), (batch_size,), generator=generator)
            rows, answers = self.val_rows[pick], self.val_answers[pick]
        rows = rows.view(ranks, -1, self.window)[rank]
        answers = answers.view(ranks, -1, self.window - 1)[rank]
        x, y, _ = self._xy(rows, answers, device)
        return x, y

    @staticmethod
    def _xy(rows: torch.Tensor, answers: torch.Tensor, device):
        """Inputs, the answers as targets, and the other tokens as targets of their own."""
        following = rows[:, 1:]
        y = following.masked_fill(~answers, IGNORE)
        others = following.masked_fill(answers, IGNORE)
        return to_device(rows[:, :-1], device), to_device(y, device), to_device(others, device)

    def eval_batches(
        self, split: str, batch_size: int, block_size: int, count: int, seed: int, device
    ) -> Iterator[EvalBatch]:
        """Val: the fixed val rows in order (as many as count batches hold); train: count
        batches of new rows drawn from `seed`, the same at every eval."""
        generator = torch.Generator().manual_seed(seed)
        for number in range(count):
            if split == "train":
                rows, answers = self.rows(batch_size, generator)
            else:
                start = (number * batch_size) % len(self.val_rows)
                rows = self.val_rows[start : start + batch_size]
                answers = self.val_answers[start : start + batch_size]
            x, y, others = self._xy(rows, answers, device)
            yield EvalBatch(x, y, to_device(answers, device), others)

    def passage(self, number: int, block_size: int) -> Passage:
        """Val row `number`, its repeats' predictable tokens asked."""
        index = number % len(self.val_rows)
        asked = tuple(int(t) + 1 for t in self.val_answers[index].nonzero().flatten().tolist())
        return Passage(tuple(int(i) for i in self.val_rows[index].tolist()), asked)


def load_task(config: DataConfig, block_size: int) -> tuple[WordTokenizer, Dataset]:
    """The task `config.task` names, and its tokenizer."""
    task: ModularAddition | InductionTask
    if config.task == "modadd":
        task = ModularAddition(config.modulus, config.train_fraction)
    else:
        task = InductionTask(config.symbols, block_size)
    return task.tokenizer, task


def example_text(data: Dataset, tokenizer: WordTokenizer, block_size: int) -> str:
    """A val row as text: the probe a task's attention is stored on."""
    return tokenizer.decode(data.passage(0, block_size).ids)


def prompt_text(data: Dataset, tokenizer: WordTokenizer, block_size: int) -> str:
    """A val row up to its first asked token: what a task's samples continue."""
    passage = data.passage(1, block_size)
    return tokenizer.decode(passage.ids[: passage.asked[0]])
