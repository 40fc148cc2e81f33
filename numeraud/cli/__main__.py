"""``python -m numeraud.cli``: the ``numeraud`` command."""

import sys

from numeraud.cli.main import main

sys.exit(main())
