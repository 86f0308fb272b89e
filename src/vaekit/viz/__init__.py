"""Matplotlib figures (optional extra ``vaekit[viz]``): grids, curves, scatter plots."""
