"""The Attention view's widgets: the heatmap, the query's bars and the grid of heads."""
