"""A run's directory on disk: its files and their formats, the runs listing, and export."""
