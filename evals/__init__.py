"""Evaluation layer: load every checkpoint of a suite and measure losses and downstream tasks."""
