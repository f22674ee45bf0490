"""Start training without importing torch._dynamo: about 1 s of a 2.8 s start on a 2-core CPU.

torch.optim imports all of torch._dynamo the first time an optimizer is built or steps, only to
tell the compiler where not to trace:
- some methods (zero_grad, state_dict, add_param_group, the update functions) are wrapped in
  `torch._disable_dynamo`, which imports it on first call to build a "never compile" marker;
- `step` runs inside `_use_grad`, which imports it to call `graph_break()` around the update.
A process that never compiles needs neither: the marker would call the method unchanged, and a
graph break outside compilation does nothing. So the markers' cache is filled in with the
methods themselves, and an optimizer's `step` calls the update directly under no_grad (skipping
also the profiler label and the step hooks, which a run never sets). Only when nothing has
imported torch._dynamo yet and the run does not compile (then the import is paid anyway, and
the markers matter).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable

import torch

_CACHE = "__dynamo_disable"  # the attribute torch._compile._disable_dynamo caches its result in


def _disabled_functions(fn: Callable, depth: int = 3) -> Iterable[Callable]:
    """The functions wrapped by `_disable_dynamo` inside `fn`'s closure (or `fn` itself)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return
    if code.co_qualname == "_disable_dynamo.<locals>.inner":  # functools.wraps renamed fn itself
        names = code.co_freevars
        yield fn.__closure__[names.index("fn")].cell_contents
        return
    if depth == 0:
        return
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            content = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if callable(content):
            yield from _disabled_functions(content, depth - 1)


def _optimizer_entry_points() -> list[Callable]:
    from torch.optim._muon import muon
    from torch.optim.adam import adam  # AdamW's update too

    optimizer = torch.optim.Optimizer
    return [
        optimizer.zero_grad,
        optimizer.state_dict,
        optimizer.load_state_dict,
        optimizer.add_param_group,
        adam,
        muon,
    ]


def avoid_dynamo_import() -> bool:
    """Fill in torch.optim's "never compile" markers, before an optimizer is built; False where
    it could not (or need not), and nothing was changed: then skip `step_without_dynamo` too."""
    if "torch._dynamo" in sys.modules:
        return False
    try:
        targets = [fn for entry in _optimizer_entry_points() for fn in _disabled_functions(entry)]
    except (AttributeError, ImportError, ValueError):  # another torch: start as before, just slower
        return False
    if not targets:
        return False
    for fn in targets:
        if getattr(fn, _CACHE, None) is None:
            setattr(fn, _CACHE, fn)
    return True


def step_without_dynamo(optimizer: torch.optim.Optimizer) -> None:
    """Give `optimizer` a step that calls its update directly, with no graph breaks."""
    update = inspect.unwrap(type(optimizer).step)  # past the profiler wrapper and _use_grad

    def step(closure=None):
        with torch.no_grad():  # what _use_grad sets for a non-differentiable optimizer
            return update(optimizer, closure)

    optimizer.step = step
