"""The command-line tools: ``numeraud`` (:mod:`.main` and its :mod:`.commands`), ``numeraudctl`` (:mod:`.ctl`).

The demo, ``numeraud init``'s starter configuration and ``numeraud doctor`` live here too. Importing
this package imports nothing else, so ``numeraudctl`` starts without the supervisor's modules.
"""
