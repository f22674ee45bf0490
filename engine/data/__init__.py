"""Text to training batches: the corpus, the tokenizers, the token cache, the dataset, and what
counting alone achieves on it (the baselines)."""
