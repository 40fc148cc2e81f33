"""The end-to-end demo behind ``numeraud demo``: the whole daemon on an embedded sandbox.

One job per module: :mod:`~numeraud.cli.demo.scenario` plays the story (daily rounds on a
fast-forwarded sandbox, a new dataset version mid-run, a model handler killed mid-training and
its event redelivered), :mod:`~numeraud.cli.demo.observe` watches the daemon as an operator would and
narrates one line per step, :mod:`~numeraud.cli.demo.report` builds the round x model table,
:mod:`~numeraud.cli.demo.processes` starts and stops the processes (and turns SIGINT/SIGTERM into an
orderly stop), and :mod:`~numeraud.cli.demo.workdir` owns the directory the demo leaves behind.
"""

from numeraud.cli.demo.observe import DemoFailed
from numeraud.cli.demo.scenario import DemoOptions, DemoReport, DemoRun

__all__ = ["DemoFailed", "DemoOptions", "DemoReport", "DemoRun"]
