"""The exit codes of numeraud's processes, in one place (the systemd units and the spawner read them too).

======  =====================================================================
code    meaning
======  =====================================================================
0       clean stop (a handler with ``recycle = true`` after every event, too)
1       failure (a handler's ``on_start`` raised)
10      fenced: a newer process took the handler's name; not restarted
11      a callback ran past its ``timeout``; restarted, the event comes again
78      bad configuration (sysexits.h ``EX_CONFIG``); not restarted
======  =====================================================================
"""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_FENCED: Final = 10
EXIT_TIMEOUT: Final = 11
#: sysexits.h EX_CONFIG: the exit code of any process refusing its configuration.
EX_CONFIG: Final = 78

#: Exits after which a handler is not started again (systemd: ``RestartPreventExitStatus=``).
NO_RESTART: Final = frozenset({EXIT_FENCED, EX_CONFIG})
