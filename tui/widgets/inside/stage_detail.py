"""StageDetail: what the selected stage of the forward pass is, under the pipeline.

Its name, shape and parameters, one sentence on what it computes, a link to its Learn entry, and
what belongs to that stage alone: one strip per head (with the head's role) for the attention
stages, the nearest tokens in embedding space at the token embedding, the likeliest next tokens at
the end. Token text is always shown through cell_label (engine.token_label).
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.content import Content
from textual.widget import Widget

from engine import ForwardTrace, HeadRole, TraceStage
from tui.format import cell_label, fit, learn_link, probability
from tui.widgets.inside.stage_list import count, norm_text, shape_text
from tui.widgets.inside.vector_strip import StripColours, largest, strip
from tui.widgets.kept_lines import KeptLines

# Each stage kind's Learn entry (an exact tui/glossary.md heading).
STAGE_TERMS = {
    "tokens": "Token",
    "token_embedding": "Embedding",
    "position_embedding": "Position and token embeddings",
    "embedding_sum": "Position and token embeddings",
    "layernorm": "Layer normalization",
    "query": "Keys, queries and values",
    "key": "Keys, queries and values",
    "value": "Keys, queries and values",
    "normed_query": "QK-norm",
    "normed_key": "QK-norm",
    "rotated_query": "Rotary position embeddings (RoPE)",
    "rotated_key": "Rotary position embeddings (RoPE)",
    "scores": "Attention scores",
    "causal_mask": "Causal masking",
    "softmax": "Softmax",
    "weighted_values": "Attention and self-attention",
    "attention_projection": "Multi-head attention",
    "residual": "Residual connection",
    "mlp_up": "Feed-forward network",
    "gelu": "ReLU and GELU",
    "relu_squared": "ReLU²",
    "mlp_down": "Linear layer",
    "logits": "Logits",
    "probabilities": "Softmax",
    "top_candidates": "Temperature, top-k and top-p",
}

# One sentence per kind: what the stage computes, in the model's own terms.
STAGE_NOTES = {
    "tokens": "The text cut into tokens; each becomes a number, its id in the vocabulary.",
    "token_embedding": "Each id looks up a learned row of numbers: what the model knows of "
    "that token.",
    "position_embedding": "A learned row per position, so the model can tell where a token is.",
    "embedding_sum": "Token and position rows added: the start of the residual stream.",
    "layernorm": "The vector shifted to mean 0 and scaled to spread 1, then rescaled per channel.",
    "query": "What this token looks for: a linear map of its vector, split into heads.",
    "key": "What this token offers to others that look for it, one per head.",
    "value": "What this token passes on to whoever attends to it, one per head.",
    "normed_query": "The query scaled to a fixed length per head (QK-norm): only its direction "
    "counts.",
    "normed_key": "The key scaled to a fixed length per head, like the query.",
    "rotated_query": "Each channel pair of the query turned by an angle that grows with its "
    "position (RoPE).",
    "rotated_key": "The key turned the same way: a score now depends on how far apart two "
    "tokens are.",
    "scores": "Each earlier token's key dotted with this query, over √(head size).",
    "causal_mask": "Scores of later tokens set to −∞ (the dots): the future is hidden.",
    "softmax": "Scores turned into weights that are ≥ 0 and sum to 1 (each head's row).",
    "weighted_values": "The values averaged with those weights: what each head gathered.",
    "attention_projection": "The heads joined and mixed by one linear layer, back to the "
    "stream's width.",
    "residual": "The block's output added to its input: the residual stream carries on.",
    "mlp_up": "A linear layer widening each vector four times: room to compute.",
    "gelu": "GELU bends each value: negatives squashed towards 0, positives kept.",
    "relu_squared": "ReLU² bends each value: negatives set to 0, positives squared.",
    "mlp_down": "A linear layer back to the stream's width.",
    "logits": "The final vector dotted with every token's row of the head (its embedding, when "
    "tied): one score per token.",
    "probabilities": "Softmax over the logits: the chance of each next token.",
    "top_candidates": "The likeliest next tokens, what sampling chooses from.",
}

ROLE_W = 19  # "previous-token 0.82"


class StageDetail(KeptLines, Widget):
    """The selected stage of a ForwardTrace, in a few lines."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.trace: ForwardTrace | None = None
        self.index = 0
        self.version = 0

    def show(self, trace: ForwardTrace | None, index: int) -> None:
        lines = self._line_count()
        self.trace, self.index = trace, index
        self.version += 1
        self.refresh(layout=self._line_count() != lines)

    @property
    def stage(self) -> TraceStage | None:
        if self.trace is None or not self.trace.stages:
            return None
        return self.trace.stages[min(self.index, len(self.trace.stages) - 1)]

    @property
    def _note(self) -> bool:
        # A short screen gives a stage's heads the room: the sentence is in its Learn entry too.
        stage = self.stage
        return not (stage is not None and stage.per_head and self.screen.has_class("-short"))

    def render_key(self):
        return (self.version, self._note)

    def _line_count(self) -> int:
        stage = self.stage
        if stage is None:
            return 1
        return 1 + self._note + (len(stage.vectors) if stage.per_head else 1)

    def get_content_height(self, container, viewport, width) -> int:
        return self._line_count()

    def render(self) -> Content:
        stage, trace = self.stage, self.trace
        if stage is None or trace is None:
            return Content("")
        variables = self.app.theme_variables
        heading = STAGE_TERMS.get(stage.kind, "Transformer")
        params = f"{count(stage.params)} parameters" if stage.params else "no parameters"
        title = Content.assemble(
            (stage.name, "bold"),
            (f" · {shape_text(stage.shape)} · {params} · ", "$foreground-muted"),
            learn_link(f"⏎ {heading}", heading),
        )
        lines = [title]
        if self._note:
            lines.append(Content(STAGE_NOTES.get(stage.kind, "")))
        if stage.per_head:
            lines += self._heads(stage, trace, StripColours(variables))
        elif stage.kind == "tokens":
            lines.append(self._token(trace))
        elif stage.kind == "token_embedding":
            lines.append(self._neighbours(trace))
        elif stage.kind in ("logits", "probabilities", "top_candidates"):
            lines.append(self._candidates(trace))
        else:
            lines.append(self._range(stage))
        return Content("\n").join(lines)

    def _heads(self, stage: TraceStage, trace: ForwardTrace, colours: StripColours) -> list:
        roles: dict[tuple[int, int], HeadRole] = {(r.layer, r.head): r for r in trace.roles}
        width = self.size.width
        strip_w = max(4, width - 7 - ROLE_W - 2 - 8)
        scale = largest(stage.vectors)  # every head on one scale, so they compare
        lines = []
        for head, (vector, norm) in enumerate(zip(stage.vectors, stage.norms, strict=True)):
            role = roles.get((stage.layer, head)) if stage.layer is not None else None
            line = Content.styled(fit(f"head {head}", 7), "$foreground-muted")
            if role is not None:
                line += learn_link(fit(f"{role.role} {role.score:.2f}", ROLE_W), "Head roles", "")
            else:
                line += Content(" " * ROLE_W)
            line += Content("  ") + Content.from_rich_text(strip([vector], strip_w, colours, scale))
            lines.append(line + Content(" " + fit(norm_text(norm), 7, "right")))
        return lines

    def _token(self, trace: ForwardTrace) -> Content:
        p = trace.position
        return Content(f"position {p + 1}: {cell_label(trace.tokens[p])} → id {trace.token_ids[p]}")

    def _neighbours(self, trace: ForwardTrace) -> Content:
        if not trace.neighbours:
            return Content("")
        items = [f"{cell_label(n.text)} {n.similarity:+.2f}" for n in trace.neighbours]
        near = self._fitting(items, len("nearest tokens (cosine): "))
        return Content.assemble(
            "nearest tokens (", learn_link("cosine", "Cosine similarity"), "): ", near
        )

    def _fitting(self, items: list[str], used: int) -> str:
        """As many whole items as fit the line after `used` cells, joined by " · "."""
        shown: list[str] = []
        for item in items:
            if shown and used + cell_len(" · ".join([*shown, item])) > self.size.width:
                break
            shown.append(item)
        return " · ".join(shown)

    def _candidates(self, trace: ForwardTrace) -> Content:
        items = [f"{cell_label(c.text)} {probability(c.prob)}" for c in trace.candidates]
        return Content("next token: " + self._fitting(items, len("next token: ")))

    def _range(self, stage: TraceStage) -> Content:
        values = [v for v in stage.vectors[0]] if stage.vectors else []
        if not values:
            return Content("")
        return Content.assemble(
            (f"{len(values)} values from {min(values):.2f} to {max(values):.2f} · ", ""),
            learn_link("norm", "Vector norm"),
            f" {norm_text(stage.norms[0])}",
        )
