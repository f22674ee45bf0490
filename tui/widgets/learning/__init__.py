"""Widgets of the Learning view: the small multiples, the logit lens grid, the embedding map."""
