"""Services the daemon adds to the App beyond the core: crash alerts, digests, scheduled restarts.

``install_extensions(app)`` builds them and registers them in
``app.extensions`` (started before the supervisor, so no crash goes
unseen; stopped after it), and plugs ``/proc digest`` and the
"undelivered alerts" lines of ``/proc status`` into the dispatcher.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.app import App
from bot.platforms import platform_problem
from bot.restart_schedule import RestartSchedule
from bot.schedule_check import digest_problems, restart_cron_problems
from bot.scheduler import DigestScheduler
from core.alerts.incidents import IncidentStore
from core.alerts.outbox import MessengerLookup, NotReady, Outbox
from core.alerts.policy import AlertPolicy
from core.alerts.recording import RegistryAlerts, route_destinations
from core.digest.builder import DigestBuilder
from core.errors import ConfigError, DeliveryError
from core.ports import Forwarder, Messenger
from core.process.oom import OomWatch
from core.store.outbox import OutboxStore
from core.store.rollup import SampleRollup


@dataclass
class Alerting:
    """Handles on the installed services (tests and the benchmark drive them)."""

    outbox: Outbox
    policy: AlertPolicy
    digests: DigestScheduler
    incidents: IncidentStore
    builder: DigestBuilder
    restarts: RestartSchedule


def install_extensions(app: App, *, outbox_backoff: float = 1.0) -> Alerting:
    """Attach alerting and digests to ``app`` (before ``app.start()``).

    Raises ConfigError naming the key for a digest whose cron expression or
    time zone does not parse: the daemon then refuses to start.
    """
    problems = digest_problems(app.config) + restart_cron_problems(app.config)
    if problems:
        key, problem = problems[0]
        raise ConfigError(app.config.source, key, problem)
    incidents = IncidentStore(app.registry)
    rollup = SampleRollup(app.registry)
    # in a fleet, bot.fleet.install puts the relay to the front (a Forwarder) among app.messengers
    outbox = Outbox(OutboxStore(app.registry), messenger_lookup(app), app.clock, backoff_initial=outbox_backoff)
    policy = AlertPolicy(
        bus=app.bus, outbox=outbox, store=incidents, silences=app.silences, supervisor=app.supervisor,
        settings=lambda: app.config.alerts, clock=app.clock, host=app.host, oom=OomWatch(),
    )
    builder = DigestBuilder(registry=app.registry, rollup=rollup, incidents=incidents, supervisor=app.supervisor,
                            silences=app.silences, clock=app.clock, host=app.host, flush_events=app.recorder.flush)
    digests = DigestScheduler(specs=list(app.config.digest), builder=builder, rollup=rollup, outbox=outbox,
                              registry=app.registry, clock=app.clock,
                              build_delay=min(app.config.procbot.scan_interval + 0.5, 15.0))
    # order matters: the outbox delivers what the policy queues on start-up; stop runs in reverse
    registry_alerts = RegistryAlerts(app.registry, outbox, lambda: route_destinations(app.config.alerts.route),
                                     app.host)
    restarts = RestartSchedule(app.supervisor, app.clock)
    app.reloaded.append(restarts.sync)  # a reload adds and removes restart_cron jobs
    app.extensions.extend([outbox, policy, digests, registry_alerts, restarts])
    app.dispatcher.digests = digests
    app.dispatcher.notes = outbox
    return Alerting(outbox, policy, digests, incidents, builder, restarts)


def messenger_lookup(app: App) -> MessengerLookup:
    """Platform -> Messenger (or Forwarder), or a DeliveryError that says why alerts cannot go there.

    Adapters start after the extensions, so a configured platform without its
    Messenger yet is a short retryable wait; an unconfigured one is a failure
    shown in ``/proc status``, never a crash.
    """

    def lookup(platform: str) -> Messenger | Forwarder:
        messenger = app.messengers.get(platform)
        if messenger is not None:
            return messenger
        problem = platform_problem(app.config, app.environ, platform, adapters=app._with_adapters)
        if problem:
            raise DeliveryError(problem, retryable=False)
        raise NotReady(f"the {platform} adapter is not running yet")

    return lookup

