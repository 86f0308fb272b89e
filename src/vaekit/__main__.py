"""``python -m vaekit`` (and ``torchrun ... -m vaekit train ...``) runs the CLI."""

import sys

from vaekit.cli import main

sys.exit(main())
