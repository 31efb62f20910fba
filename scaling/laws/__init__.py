"""Scaling laws L(N, D): the law registry, the fit engine, allocation, IsoFLOP, comparison."""
