"""What the UI remembers and works out, apart from any widget: the loss history, compared runs,
rate windows and the guided tour. Nothing here imports Textual, so tests drive it directly."""
