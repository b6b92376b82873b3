"""`python -m vae ...`: see vae/cli.py."""
import sys

from .cli import main

if __name__ == "__main__":  # worker processes (vae/workers.py) import this module again; they must not run the CLI
    sys.exit(main())
