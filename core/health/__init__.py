"""Health checks: is a running program also well?

A program's ``health`` table names one probe (an HTTP GET, a TCP connect or an argv command);
:class:`core.health.monitor.HealthMonitor` runs it every ``interval`` while the program runs,
:mod:`core.health.verdict` turns the results into a verdict (pure: ``failures`` in a row, none
counted during ``start_period``), and the runner moves the program to ``unhealthy`` and back.

This package imports nothing at import time: :mod:`core.health.targets` is read by the config
models, the rest only by the runner of a program that has a check.
"""
