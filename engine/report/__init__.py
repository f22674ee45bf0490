"""A run's report: one web page, whole in itself, of what the run's files hold (the config, the
history, the time-lapse), drawn with matplotlib (the optional `report` extra), loaded only when a
report is written. Reads the run; never changes it, beyond the report file it writes."""
