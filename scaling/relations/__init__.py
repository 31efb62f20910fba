"""Relations between measured quantities: loss-to-loss (shifted power law) and loss-to-accuracy."""
