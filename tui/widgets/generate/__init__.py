"""The Generate view's widgets: the streamed output, its candidates and the sampling pipeline."""
