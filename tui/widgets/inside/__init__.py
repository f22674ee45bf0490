"""The Inside view's widgets: the token row, the list of stages, a stage's detail, vector strips."""
