"""Fitting layer: scaling laws, loss-to-loss relations and weight-statistic trajectories.

Reads tables (pandas DataFrames or files), never models.
"""
