"""What the supervisor knows is live, for the registry to write into a re-created file.

Why: a registry file that was deleted or truncated must come back holding
the programs and their open runs, or the next procbot would not know the
running children (and would start them twice). The supervisor is the
source of that truth; this is the one place that reads it for the registry.
"""

from __future__ import annotations

from core.process.supervisor import Supervisor, spec_rows
from core.store.standin import LiveRun, LiveState


def supervisor_live_state(sup: Supervisor) -> LiveState:
    cfg = sup.config
    programs = spec_rows(cfg)
    runs = []
    for runner in sup.runners.values():
        st = runner.st
        if runner.nonce is not None and st.pid is not None and st.state.is_up:
            runs.append(LiveRun(nonce=runner.nonce, program=st.name, pid=st.pid, start_ticks=st.start_ticks or 0,
                                started_at=st.started_at or 0.0,
                                started_by="adopted" if st.adopted else "procbot", adopted=st.adopted))
    return LiveState(programs=programs, runs=runs)
