"""File formats: one record per format, and the readers that turn files into rows or blocks."""
