"""Weight-statistics layer: moments, tails, spectra and fitted families of every weight tensor."""
