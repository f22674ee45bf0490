"""The Lab view's widgets: an ablation's result, the head importance table, the game's panel."""
