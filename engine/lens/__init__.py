"""Looking inside a model: attention capture, the forward trace, per-token surprise, head roles,
the sampling pipeline and the attention time-lapse. Read-only: nothing here changes weights."""
