"""``python -m numeraud.cli.ctl``: the same as the ``numeraudctl`` script."""

from __future__ import annotations

import sys

from numeraud.cli.ctl import main

sys.exit(main())
