"""Weight statistics against loss and step: trajectories, change points, the LR schedule."""
