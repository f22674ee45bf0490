"""The engine process: the worker that owns a run, its channel to clients, the client, how it is
launched (torchrun included), the CPU policy, and tokenising in the background."""
