"""The Train view's widgets: the loss chart and its legend, the stats, samples and the passage."""
