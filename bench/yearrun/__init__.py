"""The simulated year of ``bench/year.py``: its calendar and trouble, the runner, the tally."""
