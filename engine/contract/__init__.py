"""The contract between the engine and its clients: config, events, requests and replies, the
records they carry, a run's state, the client Protocol and the errors a user can act on.

Plain Python only (no torch): a client imports these before, or without, loading the engine.
"""
