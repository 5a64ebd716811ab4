"""The mute stage: the one place a silence is checked (Alertmanager's "Muter").

Every new message about an incident (first alert, reminder, recovery) passes
here before it is queued; edits of messages already posted do not (an edit
notifies nobody, and chat must not show a stale state during a silence). A
held-back alert or reminder is remembered in the incident's state, so the
periodic check posts it once the silence ends while the incident is open.
"""

from __future__ import annotations

from core.alerts.incident_state import MUTED, Say, move, state_of
from core.alerts.incidents import Incident, IncidentStore
from core.alerts.silences import Silences


class Mute:
    def __init__(self, silences: Silences, store: IncidentStore) -> None:
        self.silences = silences
        self.store = store

    def silenced(self, inc: Incident) -> bool:
        return self.silences.matching(inc.program, inc.group) is not None

    async def admit(self, inc: Incident, say: Say) -> bool:
        """True if ``say`` may be posted now; otherwise the incident remembers it was held back."""
        if not self.silenced(inc):
            return True
        held_back = MUTED.get(say)  # a recovery held back is simply not posted
        if held_back is not None and state_of(inc) is not held_back:
            move(inc, held_back)
            await self.store.save(inc)
        return False
