"""The end-to-end demo behind ``numeraud demo``: the whole daemon on an embedded sandbox.

One job per module: :mod:`~numeraud.demo.scenario` plays the story (daily rounds on a
fast-forwarded sandbox, a new dataset version mid-run, a model handler killed mid-training and
its event redelivered), :mod:`~numeraud.demo.observe` watches the daemon as an operator would and
narrates one line per step, :mod:`~numeraud.demo.report` builds the round x model table,
:mod:`~numeraud.demo.processes` starts and stops the processes (and turns SIGINT/SIGTERM into an
orderly stop), and :mod:`~numeraud.demo.workdir` owns the directory the demo leaves behind.
"""

from numeraud.demo.observe import DemoFailed
from numeraud.demo.scenario import DemoOptions, DemoReport, DemoRun

__all__ = ["DemoFailed", "DemoOptions", "DemoReport", "DemoRun"]
