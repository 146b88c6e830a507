"""The worker loop: sleep until something is due, decide it, send its e-mails, record.

It sleeps until the earliest due time in the database (a notification, a retry, or a lease a
dead worker left behind), and wakes early when this process commits new work (the runtime's
doorbell) or, on PostgreSQL, when another process does (LISTEN/NOTIFY). It never polls
faster than that; ``worker_max_sleep`` only bounds how long a lost wake-up could delay it.

Any number of workers may run against one database: deciding claims rows with ``FOR UPDATE
SKIP LOCKED`` and sending claims deliveries with leases, so no notification is decided twice
and no e-mail is sent twice, except in the one window docs/notifications.md describes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

import anyio.to_thread

from frontdesk.doorbell import Doorbell
from frontdesk.engine.mailer import Mailer
from frontdesk.mail.transport import SendOutcome, SmtpTransport
from frontdesk.push.webpush import PushAnswer
from frontdesk.service import alerts, notifications, outbox, webhooks
from frontdesk.service.notifications import ClaimedDelivery, ClaimedPush
from frontdesk.service.push import push_sender
from frontdesk.service.runtime import ENGINE_CHANNEL, Runtime
from frontdesk.service.webhooks import ClaimedWebhook
from frontdesk.store.database import unavailable
from frontdesk.webhook.sender import WebhookAnswer, WebhookSender

log = logging.getLogger("frontdesk.engine")
T = TypeVar("T")

SEND_BATCH = 50
# Batches one turn of the sending loop claims back to back, each while the one before is
# sent, before the outbox's e-mails (confirmations, invitations) get their turn.
SEND_ROUNDS = 8
# Pushes in flight at once: each is one HTTP request to a push service.
PUSH_CONCURRENCY = 8
# Webhook requests in flight at once.
WEBHOOK_CONCURRENCY = 8
# After an unexpected error (the database away, say) the loop waits this long, not less.
ERROR_PAUSE = 1.0
# The SMTP reply of a server that is shutting the connection down: the server fails.
SERVICE_CLOSING = 421
# An outcome the database could not take is offered again after this pause, doubled each
# time up to the longest, while the e-mail's lease holds.
RECORD_RETRY_FIRST = 0.1
RECORD_RETRY_LONGEST = 2.0


class NotificationWorker:
    """Four loops: one decides notifications at their due times, one sends the e-mails
    decided, one makes the pushes before the e-mails (docs/push.md), one delivers the
    webhook events (docs/webhooks.md). Apart, so that a decision due while a batch of
    e-mails, pushes or webhooks is on its way (a minute, with a slow mail server) is made on
    time all the same."""

    def __init__(self, runtime: Runtime, mailer: Mailer) -> None:
        self.runtime = runtime
        self.mailer = mailer
        self._loops: list[asyncio.Task[None]] = []
        self._listener: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # One HTTP session for every webhook batch: its connections to an endpoint stay
        # open between batches (a TLS handshake per batch would cost more than the post).
        self._webhook_sender: WebhookSender | None = None
        # The mail server (docs/reachability.md): since when it has taken no e-mail, and
        # whether that has been told; whether it is known to work since this start.
        self._mail_failing_since: datetime | None = None
        self._mail_failing_told = False
        self._mail_works_known = False

    async def start(self) -> None:
        rt = self.runtime
        rt.decisions_bell.attach()
        rt.deliveries_bell.attach()
        rt.pushes_bell.attach()
        rt.webhooks_bell.attach()
        rt.call_offs_bell.attach()
        self._stopping = asyncio.Event()
        self._loops = [
            asyncio.create_task(
                self._forever(
                    self._decide,
                    notifications.DECIDE_BATCH,
                    notifications.next_decision_at,
                    rt.decisions_bell,
                ),
                name="engine-decide",
            ),
            asyncio.create_task(
                self._forever(
                    self._send_due, SEND_BATCH, notifications.next_delivery_at, rt.deliveries_bell
                ),
                name="engine-send",
            ),
            asyncio.create_task(
                self._forever(
                    self._push_due,
                    notifications.PUSH_BATCH,
                    notifications.next_push_at,
                    rt.pushes_bell,
                    gather_for=rt.settings.push_gather_for,
                ),
                name="engine-push",
            ),
            asyncio.create_task(
                self._forever(
                    self._deliver_webhooks,
                    webhooks.WEBHOOK_BATCH,
                    webhooks.next_webhook_at,
                    rt.webhooks_bell,
                ),
                name="engine-webhooks",
            ),
            asyncio.create_task(
                self._forever(
                    self._call_off,
                    1,
                    lambda _: None,
                    rt.call_offs_bell,
                ),
                name="engine-call-off",
            ),
            asyncio.create_task(self._watch_presence(), name="engine-alerts"),
        ]
        if rt.database.is_postgresql:
            self._listener = asyncio.create_task(self._listen_forever(), name="engine-listen")

    async def stop(self) -> None:
        """Finish the e-mails being sent (so their outcomes are recorded), then stop."""
        rt = self.runtime
        self._stopping.set()
        rt.decisions_bell.ring()
        rt.deliveries_bell.ring()
        rt.pushes_bell.ring()
        rt.webhooks_bell.ring()
        rt.call_offs_bell.ring()
        if self._listener is not None:
            self._listener.cancel()
        if self._loops:
            _, pending = await asyncio.wait(
                self._loops,
                timeout=max(
                    rt.settings.smtp_timeout, rt.settings.push_timeout, rt.settings.webhook_timeout
                )
                + 1,
            )
            for task in pending:
                task.cancel()
        tasks = [*self._loops, self._listener] if self._listener else self._loops
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        rt.decisions_bell.detach()
        rt.deliveries_bell.detach()
        rt.pushes_bell.detach()
        rt.webhooks_bell.detach()
        rt.call_offs_bell.detach()
        self._loops, self._listener = [], None
        if self._webhook_sender is not None:
            await self._webhook_sender.__aexit__(None, None, None)
            self._webhook_sender = None

    async def run_once(self) -> None:
        """Decide and send everything that is due now (the loops' work, in turn)."""
        while not self._stopping.is_set():
            pushed = await self._push_due()
            decided = await self._decide()
            sent = await self._send_due()
            hooked = await self._deliver_webhooks()
            called_off = await self._call_off()
            if not pushed and not decided and not sent and not hooked and not called_off:
                return

    async def _watch_presence(self) -> None:
        """Nobody online within business hours for too long raises an alert (opt-in per
        account, docs/reachability.md): looked at every ``alert_check_every`` seconds."""
        rt = self.runtime
        while not self._stopping.is_set():
            try:
                await anyio.to_thread.run_sync(alerts.check_nobody_online, rt)
            except Exception as error:
                if not unavailable(error):
                    log.exception("looking for accounts with nobody online failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=rt.settings.alert_check_every)

    async def _note_mail_server(self, outcome: SendOutcome) -> None:
        """Whether the mail server works: an e-mail it took says yes; no answer at all, or
        421 (it is closing), says it fails. Failing for longer than ``alert_after`` alerts
        the owners and admins of the accounts with e-mail waiting, once; the next e-mail it
        takes resolves that (docs/reachability.md)."""
        rt = self.runtime
        now = rt.clock.now()
        if outcome.accepted:
            was_failing = self._mail_failing_since is not None
            self._mail_failing_since = None
            self._mail_failing_told = False
            if was_failing or not self._mail_works_known:
                self._mail_works_known = True
                await anyio.to_thread.run_sync(alerts.mail_server_works, rt, now)
            return
        if outcome.code is not None and outcome.code != SERVICE_CLOSING:
            return  # the server answered: this recipient's trouble, not the server's
        if self._mail_failing_since is None:
            self._mail_failing_since = now
        failing_for = (now - self._mail_failing_since).total_seconds()
        if not self._mail_failing_told and failing_for >= rt.settings.alert_after:
            self._mail_failing_told = True
            since = self._mail_failing_since
            await anyio.to_thread.run_sync(
                lambda: alerts.mail_server_failing(rt, since=since, text=outcome.text, now=now)
            )

    async def _decide(self) -> int:
        """Decide a batch of what is due."""
        return await anyio.to_thread.run_sync(notifications.decide_due, self.runtime)

    async def _call_off(self) -> int:
        """A chunk of a call-off left unfinished (rule 2 on SQLite, ``note_agent_online``),
        in the group commit on the event loop, among the requests' writes and the sweep's.
        How many call-offs are left unfinished; with none, no transaction at all."""
        rt = self.runtime
        if rt.call_offs:
            await rt.database.run_write(partial(notifications.continue_call_off_in, rt=rt))
        return len(rt.call_offs)

    async def _forever(
        self,
        work: Callable[[], Awaitable[int]],
        batch: int,
        next_due: Callable[[Runtime], datetime | None],
        bell: Doorbell,
        *,
        gather_for: float = 0.0,
    ) -> None:
        """Do ``work`` until a batch of it is not full, then sleep until ``next_due`` or a
        ring. ``gather_for``: work due sooner than that waits until then, and goes with
        what falls due meanwhile (a ring for work due earlier still wakes it)."""
        rt = self.runtime
        max_sleep = rt.settings.worker_max_sleep
        while not self._stopping.is_set():
            delay = max_sleep
            try:
                while await work() >= batch and not self._stopping.is_set():
                    pass
                due = await anyio.to_thread.run_sync(next_due, rt)
                if due is not None:
                    delay = min(max((due - rt.clock.now()).total_seconds(), gather_for), max_sleep)
            except Exception as error:
                if unavailable(error):
                    log.warning(
                        "the database is unavailable (%s); the notification worker tries "
                        "again in %g s",
                        type(error).__name__,
                        ERROR_PAUSE,
                    )
                else:
                    log.exception("the notification worker failed; trying again")
                delay = ERROR_PAUSE
            if self._stopping.is_set():
                return
            await bell.wait(delay, wakes_at=rt.clock.now() + timedelta(seconds=delay))

    async def _push_due(self) -> int:
        """Decide a batch of due pushes and make them, ``PUSH_CONCURRENCY`` at a time, over
        one HTTP session; record what the push services answered."""
        rt = self.runtime
        await self._push_alerts()
        decided, claimed = await anyio.to_thread.run_sync(notifications.claim_pushes, rt)
        if not claimed:
            return decided
        waiting = deque(claimed)
        answered: list[tuple[ClaimedPush, PushAnswer]] = []
        async with push_sender(rt) as sender:

            async def pusher() -> None:
                while waiting:
                    item = waiting.popleft()
                    answer = await sender.push(
                        item.subscription,
                        item.payload,
                        now=rt.clock.now(),
                        ttl=item.ttl,
                        topic=item.topic,
                    )
                    answered.append((item, answer))

            await asyncio.gather(*(pusher() for _ in range(min(PUSH_CONCURRENCY, len(claimed)))))
        await anyio.to_thread.run_sync(
            notifications.record_push_answers, rt, answered, rt.clock.now()
        )
        return decided

    async def _push_alerts(self) -> None:
        """The due alerts' pushes to owners and admins (docs/reachability.md)."""
        rt = self.runtime
        claimed = await anyio.to_thread.run_sync(alerts.claim_alert_pushes, rt)
        if not claimed:
            return
        answered: list[tuple[int, PushAnswer]] = []
        async with push_sender(rt) as sender:
            for item in claimed:
                answer = await sender.push(
                    item.subscription,
                    item.payload,
                    now=rt.clock.now(),
                    ttl=item.ttl,
                    topic=item.topic,
                )
                answered.append((item.subscription_id, answer))
        await anyio.to_thread.run_sync(alerts.record_alert_pushes, rt, answered, rt.clock.now())

    async def _deliver_webhooks(self) -> int:
        """Claim a batch of due webhook events and post them, ``WEBHOOK_CONCURRENCY`` at a
        time, over one HTTP session; record what each endpoint answered."""
        rt = self.runtime
        # Claim and record as the requests write (on SQLite in the group commit): under a
        # storm of visitor messages, a pool thread's transaction waits long for its turn.
        claimed = await rt.database.run_write(lambda session: webhooks.claim_webhooks(session, rt))
        if not claimed:
            return 0
        waiting = deque(claimed)
        answered: list[tuple[ClaimedWebhook, WebhookAnswer]] = []
        if self._webhook_sender is None:
            self._webhook_sender = await WebhookSender(
                timeout=rt.settings.webhook_timeout, local_hosts=rt.settings.webhook_local_hosts
            ).__aenter__()
        sender = self._webhook_sender

        async def poster() -> None:
            while waiting:
                item = waiting.popleft()
                answer = await sender.send(
                    item.url,
                    item.body,
                    msg_id=item.msg_id,
                    secret=item.secret,
                    now=rt.clock.now(),
                )
                answered.append((item, answer))

        await asyncio.gather(*(poster() for _ in range(min(WEBHOOK_CONCURRENCY, len(claimed)))))
        at = rt.clock.now()
        await rt.database.run_write(
            lambda session: webhooks.record_webhook_answers(session, rt, answered, at)
        )
        return len(claimed)

    async def _send_due(self) -> int:
        """Send a batch of due deliveries, then of due outbox e-mails."""
        return await self._send_deliveries() + await self._send_notices()

    async def _send_notices(self) -> int:
        """Claim a batch of due outbox e-mails (address confirmations, invitations,
        digests: a few an hour) and send them one after another, recording each."""
        rt = self.runtime
        claimed = await anyio.to_thread.run_sync(lambda: outbox.claim_outbox(rt, limit=SEND_BATCH))
        transport = self.mailer.transport
        assert transport is not None or not claimed, "the mailer is started before the worker"
        budget = timedelta(seconds=rt.settings.smtp_timeout * 1.5)
        for index, item in enumerate(claimed):
            if self._stopping.is_set() or rt.clock.now() + budget > item.lease_until:
                await anyio.to_thread.run_sync(outbox.release_notices, rt, claimed[index:])
                break
            assert transport is not None
            try:
                message = self.mailer.write_notice(item.notice)
            except Exception as exc:  # a bug must not stop every other e-mail
                log.exception("could not write outbox e-mail %s", item.outbox_id)
                outcome = SendOutcome(accepted=False, code=None, text=f"could not write it: {exc}")
            else:
                outcome = await transport.send(
                    item.envelope_from, item.notice.recipient_email, message
                )
            await record_while_leased(
                rt,
                partial(anyio.to_thread.run_sync, outbox.record_notice, rt, item, outcome),
                until=item.lease_until,
            )
            await self._note_mail_server(outcome)
        return len(claimed)

    async def _send_deliveries(self) -> int:
        """Claim a batch of due deliveries and send them over up to ``smtp_max_connections``
        connections at once, recording each outcome as soon as it is known. While a full
        batch is sent, the next is claimed (up to ``SEND_ROUNDS`` batches a call), so the
        connections do not stand idle between batches."""
        rt = self.runtime
        claimed = await anyio.to_thread.run_sync(
            lambda: notifications.claim_deliveries(rt, limit=SEND_BATCH)
        )
        if not claimed:
            return 0
        transport = self.mailer.transport
        assert transport is not None, "the mailer is started before the worker"
        waiting = deque(claimed)
        # Each delivery is let go once sent, not held for all the batches of the call.
        total = len(claimed)
        del claimed
        recorder = _GroupRecorder(rt)
        untried: list[ClaimedDelivery] = []
        failures: list[BaseException] = []
        budget = timedelta(seconds=rt.settings.smtp_timeout * 1.5)
        rounds = 1
        more = total >= SEND_BATCH
        next_batch: asyncio.Task[None] | None = None

        async def claim_next() -> None:
            nonlocal total, more
            try:
                batch = await anyio.to_thread.run_sync(
                    lambda: notifications.claim_deliveries(rt, limit=SEND_BATCH)
                )
            except Exception as exc:
                failures.append(exc)
                return
            waiting.extend(batch)
            total += len(batch)
            more = len(batch) >= SEND_BATCH

        async def next_item() -> ClaimedDelivery | None:
            """The next e-mail to send, waiting for the next batch's claim if need be;
            ``None`` once there is none."""
            nonlocal next_batch, rounds
            while True:
                if (
                    more
                    and rounds < SEND_ROUNDS
                    and len(waiting) <= SEND_BATCH // 2
                    and (next_batch is None or next_batch.done())
                    and not failures
                    and not self._stopping.is_set()
                ):
                    rounds += 1
                    next_batch = asyncio.create_task(claim_next(), name="engine-claim")
                if waiting:
                    return waiting.popleft()
                if next_batch is None or next_batch.done():
                    return None
                await asyncio.wait([next_batch])

        async def sender() -> None:
            # One per connection: each takes the next e-mail when its last one is recorded,
            # so no e-mail waits for a connection and each send() has its whole timeout.
            while (item := await next_item()) is not None:
                if (
                    self._stopping.is_set()
                    or failures
                    or rt.clock.now() + budget > item.lease_until
                ):
                    untried.append(item)
                    continue
                try:
                    outcome = await self._send(transport, item)
                    recorded = await recorder.record(item, outcome)
                    await self._note_mail_server(outcome)
                except Exception as exc:
                    # The others finish the e-mail they are sending (so its outcome is
                    # recorded) and take no new one; the error goes to the loop.
                    failures.append(exc)
                    return
                if not recorded:
                    log.warning(
                        "delivery %s was taken over by another worker while this one sent it",
                        item.delivery_id,
                    )

        senders = min(rt.settings.smtp_max_connections, total)
        await asyncio.gather(*(sender() for _ in range(senders)))
        if next_batch is not None:
            await asyncio.wait([next_batch])  # still running if every sender failed
        # What no sender took (every one failed) is given back, not left to its lease.
        untried.extend(waiting)
        if untried:
            await anyio.to_thread.run_sync(notifications.release_deliveries, rt, untried)
        if failures:
            raise failures[0]
        return total

    async def _send(self, transport: SmtpTransport, item: ClaimedDelivery) -> SendOutcome:
        try:
            message = self.mailer.write(item.email)
        except Exception as exc:  # a bug must not stop every other e-mail
            log.exception("could not write the e-mail of delivery %s", item.delivery_id)
            return SendOutcome(accepted=False, code=None, text=f"could not write it: {exc}")
        return await transport.send(item.envelope_from, item.email.recipient_email, message)

    def _ring_all(self) -> None:
        for bell in self.runtime.engine_bells.values():
            bell.ring()

    async def _listen_forever(self) -> None:
        """Other processes' commits ring this process's doorbell (PostgreSQL NOTIFY)."""
        while True:
            try:
                async for payload in self.runtime.hear_others(ENGINE_CHANNEL):
                    self.runtime.hear_engine_notice(payload)
            except Exception:
                log.warning("lost the database notification channel; listening again")
                # Work committed meanwhile is found by the next look at the schedule.
                self._ring_all()
                await asyncio.sleep(ERROR_PAUSE)


async def record_while_leased(
    rt: Runtime, record: Callable[[], Awaitable[T]], *, until: datetime
) -> T:
    """``record()``, the outcome of an e-mail the mail server has answered, tried again
    while the database is unavailable (down, restarting) for as long as the e-mail's lease
    holds: an outcome dropped is an e-mail sent again once the lease has run out. After
    that another worker may have taken the e-mail over, and its record is the one that
    counts, so the error goes to the loop (docs/notifications.md: the duplicate window)."""
    pause = RECORD_RETRY_FIRST
    while True:
        try:
            return await record()
        except Exception as error:
            if not unavailable(error) or rt.clock.now() + timedelta(seconds=pause) >= until:
                raise
            log.warning(
                "could not record an e-mail's outcome (the database is unavailable: %s); "
                "trying again in %.1f s",
                type(error).__name__,
                pause,
            )
        await asyncio.sleep(pause)
        pause = min(pause * 2, RECORD_RETRY_LONGEST)


class _GroupRecorder:
    """Records the outcomes of one batch's senders with group commit: an outcome that arrives
    while a record transaction runs waits for it and then goes, with every other outcome
    that arrived meanwhile, into the next one. Each outcome is still recorded before its
    sender takes another e-mail, and no outcome waits longer than it would for a
    transaction of its own (docs/notifications.md: the duplicate window)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._waiting: list[tuple[ClaimedDelivery, SendOutcome, asyncio.Future[bool]]] = []
        self._running = False

    async def record(self, item: ClaimedDelivery, outcome: SendOutcome) -> bool:
        recorded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, outcome, recorded))
        if not self._running:
            self._running = True
            try:
                while self._waiting:
                    batch, self._waiting = self._waiting, []
                    await self._commit(batch)
            finally:
                self._running = False
        return await recorded

    async def _commit(
        self, batch: list[tuple[ClaimedDelivery, SendOutcome, asyncio.Future[bool]]]
    ) -> None:
        outcomes = [(item, outcome) for item, outcome, _ in batch]
        rt = self.runtime
        try:
            # On SQLite in the event loop's group commit, beside the requests' writes, with
            # no hop to a thread and back for each outcome.
            results = await record_while_leased(
                rt,
                lambda: rt.database.run_write(
                    lambda session: notifications.record_outcomes(session, rt, outcomes)
                ),
                until=max(item.lease_until for item, _ in outcomes),
            )
        except Exception as exc:
            for _, _, recorded in batch:
                recorded.set_exception(exc)
            return
        for (_, _, recorded), result in zip(batch, results, strict=True):
            recorded.set_result(result)
