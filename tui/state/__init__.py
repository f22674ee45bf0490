"""What the UI remembers and works out, apart from any widget: the loss history, compared runs,
rate windows, the guided tour and the replay clock. Nothing here imports Textual, so tests drive
it directly."""
