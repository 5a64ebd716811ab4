"""The log daemon: one lean process per state dir that holds the programs' output pipes.

This package's server side (``protocol``, ``files``, ``server``, ``__main__``)
imports only the standard library so the process stays small; ``client``
is procbot's asyncio side.
"""
