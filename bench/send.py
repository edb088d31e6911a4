"""Sending a campaign: 100,000 consented customers, 2 variants and a 10% holdout, end to end.

    .venv/bin/python bench/send.py [--customers 100000] [--mode anymail|smtp|both] [--workers 2]
                                   [--batch 1000] [--recommendations cold|warm] [--ceiling-sends 20000]

The shop, its consent and the template are the rendering benchmark's (bench/render.py:
customers with names, locales and time zones, a catalog, 90 days of events, traits,
scores, personalization consent for most, and the realistic "Weekly picks" template
with its two blocks), written in SQL; on top of it, everyone has said yes to marketing
email and 80% to tracking (so most messages carry tracked links and the open pixel), and
one segment holds them all. The campaign: variant A (control, the template's subject)
and B (another subject), holdout 10%, quiet hours off (QUIET_HOURS=0-0: every row is due
at once wherever its recipient lives), no send rate limit. The recommendations cache is
emptied before each send, so that its first batches rank everyone's lists afresh
(--recommendations warm ranks and caches everyone's before the first send instead).

For each mode, with --workers real Celery worker processes (solo pool: concurrency 1
each, as production runs on 2 cores) started here:

  - anymail: EMAIL_BACKEND is Anymail's test backend (bench/_backends.py says why its
    outbox is emptied after each send);
  - smtp: Django's SMTP backend to a local SMTP sink (aiosmtpd) in its own process, which
    counts the messages and their distinct Message-IDs.

`campaign_send` is called here, as the API would. Measured from that call: planning
(until the campaign is sending: its ledger rows commit with that state, whether
campaign_send plans or a worker's task does), sending (until the last ledger row is
marked sent, by its `sent_at`), messages/s end to end, the workers' peak RSS and CPU and
their Postgres connections' CPU, and the ledger's final counts. The ceiling, in the same
run: 2,000 of the campaign's messages built again by Tailor (rendered, tracked, headers)
and then handed, already built, to the same backend --ceiling-sends times over in one
process (no database, no rendering): the backend's own throughput, so that the cost of
the ledger and the rendering shows. Target: at least 1,000 messages/s (100,000
recipients in under 2 minutes).
"""

import argparse
import contextlib
import itertools
import multiprocessing
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _processes import database_fresh, services_env
from _setup import ROOT, machine

BENCH_DB = "tailor_bench_send"
BENCH_REDIS = "redis://127.0.0.1:6379/10"
TARGET = 1_000  # messages/s
CEILING_SAMPLE = 2_000
BACKENDS = {"anymail": "_backends.AnymailTestBackend", "smtp": "django.core.mail.backends.smtp.EmailBackend"}
SUBJECT_B = "{{ customer.first_name | default: 'Hello' }}, this week's picks are in"
OPEN = ("planned", "claimed", "waiting")

# --- the SMTP sink: its own process, counting what it is given --------------------------------

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.I | re.M)


def _sink(port: int, ready, stop, results) -> None:
    from aiosmtpd.controller import Controller

    class Counting:
        def __init__(self):
            self.messages, self.bytes, self.ids = 0, 0, set()

        async def handle_DATA(self, server, session, envelope):
            content = envelope.original_content or envelope.content
            self.messages += 1
            self.bytes += len(content)
            found = _MESSAGE_ID.search(content, 0, content.find(b"\r\n\r\n"))
            self.ids.add(found[1] if found else None)
            return "250 OK"

    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    results.put({"messages": handler.messages, "bytes": handler.bytes, "distinct_ids": len(handler.ids),
                 "cpu_seconds": time.process_time()})  # fmt: skip


class Sink:
    """An SMTP server on a free local port, in a process of its own."""

    def __enter__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        context = multiprocessing.get_context("spawn")
        self._ready, self._stop, self._results = context.Event(), context.Event(), context.Queue()
        self._process = context.Process(target=_sink, args=(self.port, self._ready, self._stop, self._results))
        self._process.start()
        if not self._ready.wait(timeout=30):
            raise SystemExit("The SMTP sink did not start.")
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.counted = self._results.get(timeout=60)
        self._process.join(timeout=30)


# --- the workers: real Celery processes --------------------------------------------------------


def _proc_memory_mib(pid: int) -> dict[str, float]:
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM")))
    return {name: int(value.split()[0]) / 1024 for name, value in fields.items()}


def _proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (all cores, every process)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def _database_backends_cpu() -> dict[int, float]:
    """CPU seconds of each Postgres backend on the bench database but this process's own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        pids = [pid for (pid,) in cursor.fetchall()]
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError):  # gone meanwhile
            seconds[pid] = _proc_cpu_seconds(pid)
    return seconds


class Workers:
    """`count` Celery workers, concurrency 1 each, ready when they all answer a ping."""

    def __init__(self, env: dict, count: int, logs: Path):
        self.env, self.count, self.logs = env, count, logs

    def __enter__(self):
        from config.celery import app

        self.processes, self.log_files = [], []
        self.names = [f"send{n + 1}@{socket.gethostname()}" for n in range(self.count)]
        for name in self.names:
            log = open(self.logs / f"{name.split('@')[0]}.log", "w")  # closed in __exit__
            self.log_files.append(log)
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-n", name,
                 "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            ))  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.check()
            answered = {name for reply in app.control.ping(timeout=0.5) for name in reply}
            if answered >= set(self.names):
                return self
        raise SystemExit(f"The workers did not answer within a minute; see {self.logs}.")

    def check(self) -> None:
        for process, name in zip(self.processes, self.names, strict=True):
            if process.poll() is not None:
                log = (self.logs / f"{name.split('@')[0]}.log").read_text()[-3000:]
                raise SystemExit(f"Worker {name} stopped (exit {process.returncode}):\n{log}")

    def memory(self) -> list[dict[str, float]]:
        return [_proc_memory_mib(p.pid) for p in self.processes]

    def cpu(self) -> list[float]:
        return [_proc_cpu_seconds(p.pid) for p in self.processes]

    def __exit__(self, *exc):
        for process in self.processes:
            process.terminate()  # a warm shutdown: at once when the senders are done
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:  # interrupted mid-campaign: its task would run to the end
                process.kill()
                process.wait()
        for log in self.log_files:
            log.close()


# --- the shop, its consent, the audience, the campaign -------------------------------------------


def shop_write(customers: int, products: int, events: int):
    """The rendering benchmark's shop and template; everyone consented to marketing email."""
    import render
    from django.db import connection

    from personalization.models import ModelKind, ModelStatus, ModelVersion, Segment
    from personalization.services.traits import traits_recompute

    with connection.cursor() as cursor:
        render.store_write(cursor, customers, products, events)
    traits_recompute()
    purchase, churn = (ModelVersion.objects.create(kind=kind, status=ModelStatus.ACTIVE, decision="bench")
                       for kind in (ModelKind.PURCHASE, ModelKind.CHURN))  # fmt: skip
    segment = Segment.objects.create(
        name="Everyone emailable (bench)", rules={"type": "all", "rules": [{"type": "consent",
                                                                            "purpose": "email_marketing"}]},
    )  # fmt: skip
    with connection.cursor() as cursor:
        render.scores_and_consent_write(cursor, purchase.pk, churn.pk)
        # render.py grants marketing email to 90%; here everyone has, and 80% allow tracking.
        cursor.execute(
            """INSERT INTO consent_consentrecord (customer_id, subject_hash, purpose, decision, source,
                   policy_version, wording, proof, actor, recorded_at)
               SELECT id, '', 'email_marketing', 'granted', 'signup_form', '1', 'Yes, send me offers', '{}',
                      'person', created_at
               FROM personalization_customer c
               WHERE NOT EXISTS (SELECT 1 FROM consent_consentrecord r
                                 WHERE r.customer_id = c.id AND r.purpose = 'email_marketing')"""
        )
        cursor.execute(
            """INSERT INTO consent_consentrecord (customer_id, subject_hash, purpose, decision, source,
                   policy_version, wording, proof, actor, recorded_at)
               SELECT id, '', 'tracking', 'granted', 'cookie_banner', '1', 'Accept all', '{}', 'person', created_at
               FROM personalization_customer WHERE random() < 0.8"""
        )
        cursor.execute(
            """INSERT INTO personalization_segmentmembership (segment_id, customer_id, entered_at)
               SELECT %s, id, now() FROM personalization_customer""",
            [segment.pk],
        )
        cursor.execute("ANALYZE")
    Segment.objects.filter(pk=segment.pk).update(member_count=customers)
    return segment, render.template_write()


def recommendations_warm(batch: int = 1_000) -> None:
    """Every customer's recommendations ranked and cached (a day), as a send after another finds them."""
    from consent.models import Purpose
    from consent.selectors import customers_consenting
    from personalization.models import Customer
    from personalization.recommendations.serving import recommendation_candidates_many

    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), batch):
        customers = list(Customer.objects.filter(pk__in=ids[start : start + batch]))
        chosen = Customer.objects.filter(pk__in=[c.pk for c in customers])
        personal = set(
            customers_consenting(customers=chosen, purpose=Purpose.PERSONALIZATION).values_list("pk", flat=True)
        )
        recommendation_candidates_many(customers=customers, personal_ids=personal)


def campaign_make(name: str, segment, version):
    from campaigns.models import Campaign, Variant

    campaign = Campaign.objects.create(name=name, from_email="news@shop.example.com", from_name="Demo Store",
                                       holdout_percent=10)  # fmt: skip
    campaign.segments.add(segment)
    Variant.objects.create(campaign=campaign, name="A", template_version=version, is_control=True)
    Variant.objects.create(campaign=campaign, name="B", template_version=version, subject=SUBJECT_B)
    return campaign


def ledger_counts(campaign) -> dict[str, int]:
    from django.db.models import Count

    from campaigns.models import Message

    return dict(Message.objects.filter(campaign=campaign).values_list("status").annotate(Count("id")).order_by())


# --- one mode: the campaign end to end, then the backend's ceiling --------------------------------


def send_end_to_end(campaign, env: dict, workers: int, logs: Path) -> dict:
    from django.db.models import Count, Max, Min

    from campaigns.models import Campaign, Message
    from campaigns.services import campaign_send

    with Workers(env, workers, logs) as running:
        before = {"memory": running.memory(), "cpu": running.cpu(), "busy": _machine_busy_seconds(),
                  "database": _database_backends_cpu()}  # fmt: skip
        # The workers close their connections after each task (Celery's Django fixup): their
        # backends' CPU is read while they run, the last reading of each kept.
        database = dict(before["database"])
        started = time.time()
        campaign_send(campaign=campaign)
        # Planned when the campaign is sending: its ledger rows and its state commit together,
        # in campaign_send or in the worker task it queues.
        deadline = time.monotonic() + 3600
        for polls in itertools.count():
            if not Campaign.objects.filter(pk=campaign.pk, state__in=["draft", "scheduled"]).exists():
                break
            running.check()
            if time.monotonic() > deadline:
                raise SystemExit("The campaign was not planned within an hour.")
            if polls % 10 == 0:
                database.update(_database_backends_cpu())
            time.sleep(0.05)
        planned = time.time()
        rows = Message.objects.filter(campaign=campaign)
        while rows.filter(status__in=OPEN).exists():
            running.check()
            if time.monotonic() > deadline:
                raise SystemExit("The campaign was not sent within an hour.")
            database.update(_database_backends_cpu())
            time.sleep(0.5)
        database.update(_database_backends_cpu())
        after = {"memory": running.memory(), "cpu": running.cpu(), "busy": _machine_busy_seconds(),
                 "database": database}  # fmt: skip
        campaign.refresh_from_db()
        for _ in range(40):  # the senders' last batch marks the campaign sent
            if campaign.state == "sent":
                break
            time.sleep(0.25)
            campaign.refresh_from_db()
    span = rows.filter(status="sent").aggregate(first=Min("sent_at"), last=Max("sent_at"))
    by_variant = dict(rows.filter(status="sent").values_list("variant__name").annotate(Count("id")).order_by())
    tracked = rows.filter(status="sent").exclude(links=[]).count()
    return {
        "started": started, "planned": planned, "first": span["first"].timestamp(), "last": span["last"].timestamp(),
        "counts": ledger_counts(campaign), "by_variant": by_variant, "tracked": tracked, "state": campaign.state,
        "left_out": campaign.left_out, "before": before, "after": after,
    }  # fmt: skip


def ceiling_messages(campaign, size: int):
    """`size` of the campaign's sent messages built again as its batches built them."""
    from campaigns.models import Message
    from campaigns.sending.batches import _allowed_now, _prepared, _rows

    ids = list(Message.objects.filter(campaign=campaign, status="sent").values_list("pk", flat=True))
    ids = sorted(random.Random(3).sample(ids, min(size, len(ids))))
    rows = _rows(ids)
    _, trackable = _allowed_now(campaign, rows)
    outgoing, failed = _prepared(campaign, rows, trackable)
    assert not failed, failed
    return [item.email for item in outgoing]


def ceiling_run(emails: list, backend: str, sends: int, batch: int, **options) -> dict:
    """Hand already-built messages to the backend one by one, a connection per batch, as
    batches.py does, in this one process."""
    from django.core.mail import get_connection

    sequence = [emails[n % len(emails)] for n in range(sends)]
    connection = get_connection(backend, **options)
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, sends, batch):
        with connection:
            for email in sequence[start : start + batch]:
                connection.send_messages([email])
    elapsed = time.perf_counter() - started
    return {"rate": sends / elapsed, "seconds": elapsed, "cpu_share": (time.process_time() - cpu) / elapsed}


def mode_run(mode: str, args, segment, version, base_env: dict, logs: Path) -> dict:
    from django.db import connection

    from campaigns.models import Campaign
    from personalization.recommendations.serving import recommendations_forget

    for previous in Campaign.objects.all():  # each mode starts from the same ledger: empty
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM campaigns_message WHERE campaign_id = %s", [previous.pk])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE campaigns_message")
    if args.recommendations == "cold":
        recommendations_forget()  # every list, shared and personal: the first batches rank afresh
    campaign = campaign_make(f"Weekly picks ({mode})", segment, version)
    env = {**base_env, "EMAIL_BACKEND": BACKENDS[mode]}
    print(f"{mode}: EMAIL_BACKEND={BACKENDS[mode]}" + (" to a local aiosmtpd sink" if mode == "smtp" else ""))

    sink = Sink() if mode == "smtp" else None
    if sink:
        sink.__enter__()
        env.update({"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(sink.port)})
    try:
        outcome = send_end_to_end(campaign, env, args.workers, logs)
    finally:
        if sink:
            sink.__exit__(None, None, None)
    report(mode, outcome, args.workers, sink.counted if sink else None)

    emails = ceiling_messages(campaign, CEILING_SAMPLE)
    sizes = [len(email.message().as_bytes()) for email in emails]
    options = {}
    if mode == "smtp":
        sink = Sink().__enter__()
        options = {"host": "127.0.0.1", "port": sink.port}
    try:
        ceiling = ceiling_run(emails, BACKENDS[mode], args.ceiling_sends, args.batch, **options)
    finally:
        if mode == "smtp":
            sink.__exit__(None, None, None)
            ceiling["sink"] = sink.counted
    extra = ""
    if mode == "smtp":
        extra = (f"; the sink got {ceiling['sink']['messages']:,} and used {ceiling['sink']['cpu_seconds']:.1f} "
                 f"CPU s")  # fmt: skip
    print(f"  ceiling, {len(emails):,} of its messages (MIME {sum(sizes) / len(sizes) / 1024:.1f} KiB on average) "
          f"already built, handed to the same backend {args.ceiling_sends:,} times in one process: "
          f"{ceiling['rate']:,.0f} messages/s ({ceiling['seconds']:.1f} s, CPU/wall "
          f"{ceiling['cpu_share']:.0%}){extra}")  # fmt: skip
    return {"outcome": outcome, "ceiling": ceiling}


def report(mode: str, outcome: dict, workers: int, counted: dict | None) -> None:
    counts = outcome["counts"]
    sent = counts.get("sent", 0)
    recipients = sum(counts.values())
    total = outcome["last"] - outcome["started"]
    planning = outcome["planned"] - outcome["started"]
    sending = outcome["last"] - outcome["planned"]
    cpu = [a - b for a, b in zip(outcome["after"]["cpu"], outcome["before"]["cpu"], strict=True)]
    busy = outcome["after"]["busy"] - outcome["before"]["busy"]
    database = sum(cpu - outcome["before"]["database"].get(pid, 0) for pid, cpu in outcome["after"]["database"].items())
    memory = zip(outcome["after"]["memory"], outcome["before"]["memory"], strict=True)
    peaks = ", ".join(f"{after['VmHWM']:.0f} MiB (from {before['VmRSS']:.0f})" for after, before in memory)
    print(f"  {recipients:,} recipients planned in {planning:.1f} s (left out: {outcome['left_out'] or 'nobody'}); "
          f"first message sent {outcome['first'] - outcome['planned']:.1f} s after planning")  # fmt: skip
    print(f"  {sent:,} messages sent in {sending:.1f} s = {sent / sending:,.0f} messages/s after planning; "
          f"from 'send' to the last row sent {total:.1f} s = {sent / total:,.0f} messages/s end to end "
          f"({recipients / total:,.0f} recipients/s)")  # fmt: skip
    print(f"  workers ({workers}, solo pool): peak RSS {peaks}; CPU {' + '.join(f'{c:.0f}' for c in cpu)} s "
          f"= {sum(cpu) / max(1, sent) * 1000:.2f} ms a message; their Postgres connections {database:.0f} CPU s "
          f"= {database / max(1, sent) * 1000:.2f} ms a message; the machine's cores were busy {busy:.0f} CPU s "
          f"over the run (also Redis, the sink, this process, and whatever else ran)")  # fmt: skip
    print(f"  ledger: {dict(sorted(counts.items()))}; sent by variant {dict(sorted(outcome['by_variant'].items()))}; "
          f"{outcome['tracked']:,} with tracked links; campaign {outcome['state']}")  # fmt: skip
    if counted:
        print(f"  the sink: {counted['messages']:,} messages, {counted['distinct_ids']:,} distinct Message-IDs, "
              f"{counted['bytes'] / max(1, counted['messages']) / 1024:.1f} KiB on average; "
              f"{counted['cpu_seconds']:.0f} CPU s")  # fmt: skip
    outcome.update(sent=sent, total=total, sending=sending, planning=planning)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--mode", choices=["anymail", "smtp", "both"], default="both")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes, concurrency 1 each")
    parser.add_argument("--batch", type=int, default=1000, help="CAMPAIGN_BATCH_SIZE: rows a worker claims at a time")
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=None, help="product events (default: 10 per customer)")
    parser.add_argument("--ceiling-sends", type=int, default=20_000)
    parser.add_argument("--recommendations", choices=["cold", "warm"], default="cold",
                        help="cold: the cache emptied before each send; warm: all cached before the first")  # fmt: skip
    args = parser.parse_args()
    events = args.events if args.events is not None else 10 * args.customers

    database_url = database_fresh(BENCH_DB)
    settings_env = {"QUIET_HOURS": "0-0", "CAMPAIGN_BATCH_SIZE": str(args.batch),
                    "CAMPAIGN_SEND_CONCURRENCY": str(args.workers), "CAMPAIGN_SEND_RATE": "0"}  # fmt: skip
    base_env = {**services_env(database_url, BENCH_REDIS), **settings_env,
                "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    # This process plans (campaign_send, as the API calls it) and queues the senders on the broker.
    os.environ.update({**services_env(database_url, BENCH_REDIS), **settings_env,
                       "DJANGO_SETTINGS_MODULE": "config.settings"})  # fmt: skip
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(BENCH_REDIS).flushdb()
    print(f"machine: {machine()}")
    started = time.perf_counter()
    segment, version = shop_write(args.customers, args.products, events)
    print(f"shop: {args.customers:,} customers, all consented to marketing email, {args.products:,} products, "
          f"{events:,} events; template {version.template.name!r} ({len(version.html):,} characters of HTML); "
          f"written in {time.perf_counter() - started:.0f} s")  # fmt: skip
    print(f"campaign: variants A (control) and B (subject {SUBJECT_B!r}), holdout 10%; {args.workers} Celery "
          f"workers, solo pool; batches of {args.batch}")  # fmt: skip

    if args.recommendations == "warm":
        started = time.perf_counter()
        recommendations_warm()
        print(
            f"recommendations: everyone's ranked and cached before the sends, in {time.perf_counter() - started:.0f} s"
        )
    else:
        print("recommendations: the cache emptied before each send (cold)")
    modes = ["anymail", "smtp"] if args.mode == "both" else [args.mode]
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-send-") as logs:
        for mode in modes:
            results[mode] = mode_run(mode, args, segment, version, base_env, Path(logs))

    print(f"against the ceiling (the backend alone, one process) and the target (>= {TARGET:,} messages/s):")
    for mode, result in results.items():
        outcome, ceiling = result["outcome"], result["ceiling"]["rate"]
        rate = outcome["sent"] / outcome["total"]
        verdict = "met" if rate >= TARGET else "missed"
        print(f"  {mode:<7} {rate:7,.0f} messages/s end to end ({outcome['total']:.0f} s for "
              f"{sum(outcome['counts'].values()):,} recipients) = {rate / ceiling:.0%} of {ceiling:,.0f}; "
              f"{rate / args.workers:,.0f} per worker; target {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
