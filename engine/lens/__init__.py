"""Looking inside a model: attention capture, the forward trace, per-token surprise, head roles,
the sampling pipeline, the attention time-lapse, and the learning's own lenses (activation
statistics, the logit lens, the embedding map, head scores). Read-only: nothing here changes
weights."""
