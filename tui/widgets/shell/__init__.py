"""The frame around the views: the run header, the view tabs, the tour's note and the key hints."""
