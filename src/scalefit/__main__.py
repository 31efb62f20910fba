"""Allow ``python -m scalefit``."""
from scalefit.cli import main

main()
