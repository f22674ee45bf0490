"""Widgets, grouped by the view they serve (shell: the frame around every view). drawing and
kept_lines are what several groups share; a group imports from neither another group nor a view."""
