"""Incidents and alert groups on disk: what is saved is what a restarted procbot reads back."""

from __future__ import annotations

from core.alerts.incidents import AlertGroup, Incident
from core.store.incidents import IncidentStore
from core.store.registry import Registry


async def test_an_incident_reads_back_as_it_was_saved_and_leaves_the_open_list_when_resolved(tmp_path):
    reg = Registry(tmp_path / "r.db")
    await reg.open()
    store = IncidentStore(reg)
    inc = await store.create(Incident(program="web", opened_at=100.0, updated_at=100.0,
                                      destinations=["slack:#ops"]))
    inc.roots, inc.crashes, inc.updated_at = {"slack:#ops": 7}, 3, 160.0
    await store.save(inc)

    reopened = IncidentStore(reg)
    assert await reopened.latest("web") == inc
    assert await reopened.open_incidents() == [inc]
    inc.resolved_at = 200.0
    await store.save(inc)
    assert await reopened.open_incidents() == []
    assert await reopened.by_ids([inc.id]) == [inc]
    await reg.close()


async def test_an_open_alert_group_reads_back_with_its_members_and_messages(tmp_path):
    reg = Registry(tmp_path / "r.db")
    await reg.open()
    store = IncidentStore(reg)
    grp = await store.create_group(AlertGroup(opened_at=100.0, updated_at=100.0, destinations=["slack:#ops"]))
    grp.members, grp.roots = [1, 2, 3], {"slack:#ops": 9}
    await store.save_group(grp)

    assert await IncidentStore(reg).open_groups() == [grp]
    await reg.close()
