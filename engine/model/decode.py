"""The KV-cached decoder a generation uses: on CUDA, each one-token step replayed as a CUDA graph.

A one-token step is some seventy tiny kernels; on a GPU their launch overhead, not the maths, is
the cost. A CUDA graph captures a step's kernels once and launches them all at once. Each position
needs its own graph (the keys seen grow by one per position), so a position's graph is captured
the first time it is reached. The graphs, their KV cache and their input and output buffers live
as long as the model, so later generations only replay. They read the parameters themselves, which
training updates in place; the few weights Decoder folds are recomputed into the same buffers at
the start of each generation.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator

import torch

from engine.model.gpt import GPT, Decoder, KVCache

GRAPHS = True  # replay decode steps as CUDA graphs on CUDA (a benchmark turns it off to compare)
log = logging.getLogger(__name__)


class EagerDecoder:
    """A fresh Decoder on a fresh cache: what a generation uses off CUDA."""

    def __init__(self, model: GPT):
        param = next(model.parameters())
        self.cache = KVCache(model.config, 1, param.device, param.dtype)
        self.decoder = Decoder(model, self.cache)

    def step(self, token: int) -> torch.Tensor:
        return self.decoder.step(token)

    def close(self) -> None:
        pass


class StaticDecoder:
    """A Decoder whose steps are replayed CUDA graphs (with graphs=False: the same static
    buffers stepped eagerly, which is how a CPU test checks this path)."""

    def __init__(self, model: GPT, graphs: bool):
        param = next(model.parameters())
        self.cache = KVCache(model.config, 1, param.device, param.dtype)
        self.decoder = Decoder(model, self.cache)
        self.token = torch.zeros(1, dtype=torch.long, device=param.device)  # the step's input
        self.logits = torch.zeros(model.config.vocab_size, device=param.device, dtype=param.dtype)
        self.use_graphs = graphs
        self.graphs: list[torch.cuda.CUDAGraph | None] = [None] * model.config.block_size
        self.pool = torch.cuda.graph_pool_handle() if graphs else None
        self.side = torch.cuda.Stream() if graphs else None  # captures happen off the main stream
        self.busy = False
        self._warm = False

    def open(self, model: GPT) -> StaticDecoder:
        """Start a generation with the model's current weights and an empty cache."""
        fresh = Decoder(model, self.cache)
        for old, new in zip(_tensors(self.decoder), _tensors(fresh), strict=True):
            if old.data_ptr() != new.data_ptr():  # a folded copy, not a parameter: refresh it
                old.copy_(new)
        self.cache.reset()
        self.busy = True
        return self

    def close(self) -> None:
        self.busy = False

    def step(self, token: int) -> torch.Tensor:
        """Logits (vocab,) after appending `token` at the cache's next position."""
        pos = self.cache.pos
        self.token.fill_(token)
        if self.use_graphs:
            graph = self.graphs[pos] or self._capture(pos)
            if graph is not None:
                graph.replay()
                self.cache.pos = pos + 1
                return self.logits.clone()  # the buffer is overwritten by the next step
        return self.decoder.step(self.token)

    def _capture(self, pos: int) -> torch.cuda.CUDAGraph | None:
        # Not torch.cuda.graph(): it syncs, empties the allocator's cache and (in some torch
        # versions) collects garbage at every capture, and one generation makes hundreds.
        graph = torch.cuda.CUDAGraph()
        self.side.wait_stream(torch.cuda.current_stream())
        try:
            with torch.cuda.stream(self.side):
                if not self._warm:  # a first launch may set up a library: not in a capture
                    self.decoder.step(self.token)
                    self.cache.pos = pos
                    self._warm = True
                graph.capture_begin(pool=self.pool)
                try:
                    self.logits.copy_(self.decoder.step(self.token))
                finally:
                    graph.capture_end()
        except RuntimeError as error:  # decode on, uncaptured: slower, still right
            log.warning("warning: decoding without CUDA graphs: %s", error)
            self.use_graphs = False
            return None
        finally:
            torch.cuda.current_stream().wait_stream(self.side)
            self.cache.pos = pos  # capturing ran no kernel, but Decoder.step moved the position
        self.graphs[pos] = graph
        return graph


def _tensors(decoder: Decoder) -> Iterator[torch.Tensor]:
    """Every tensor a Decoder holds besides its cache, in a fixed order."""

    def walk(value) -> Iterator[torch.Tensor]:
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, tuple | list):
            for item in value:
                yield from walk(item)

    for name in sorted(vars(decoder)):
        if name not in ("cache", "_views"):
            yield from walk(vars(decoder)[name])


_static: weakref.WeakKeyDictionary[GPT, StaticDecoder] = weakref.WeakKeyDictionary()


def open_decoder(model: GPT, static: bool | None = None) -> EagerDecoder | StaticDecoder:
    """The decoder (with its cache) for one generation; close() it when the generation ends.

    On CUDA it is the model's StaticDecoder, unless another generation holds it. `static=True`
    asks for the static path off CUDA too (stepped eagerly), for tests.
    """
    device = next(model.parameters()).device
    on_cuda = device.type == "cuda" and GRAPHS
    if static if static is not None else on_cuda:
        decoder = _static.get(model)
        if decoder is None:
            decoder = _static[model] = StaticDecoder(model, graphs=on_cuda)
        if not decoder.busy:
            return decoder.open(model)
    return EagerDecoder(model)
