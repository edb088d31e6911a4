"""Rendering at scale: one realistic template for 100,000 customers, their data read in bulk.

    .venv/bin/python bench/render.py [--customers 100000] [--products 2000] [--events 1000000] [--batch 500]

Writes a shop in SQL: customers (names, locales, time zones), a catalog, product views,
adds to cart and orders over 90 days (so that the cold-start lists exist: popular,
trending, popular in one's favorite categories), traits from those events (the full
recompute), propensity scores for most customers and personalization consent for most.
Saves a marketing template with two content blocks (a product card, looped over
`recommendations | recommend: 4` with products.popular as the else-branch, and a footer
with the unsubscribe link and the postal address), branches on traits and scores, and
money, local_date, greeting and default filters. Then renders it for everyone, --batch
customers per `templates_render` call, end to end: the customers read, consent, traits,
scores, recommendations (ranked and cached, or read from Redis) and past orders in bulk:

  - in one process, the recommendation cache cold (the first pass) and warm (the second);
  - in two processes splitting the customers, as two Celery workers would, cold and warm.

Prints messages/s, latency per batch and for one recipient alone, each process's peak RSS,
and the CPU each message took (the worker's and its Postgres backend's, from /proc), which
says what two free cores would do when the machine is shared. The
ceiling, in the same run and the same processes: python-liquid rendering the same parsed
parts (subject, preheader, HTML, text) with the same data already in memory (no database,
no Redis), every content block rendered in full, as python-liquid does; and Tailor's whole
step for one recipient on that data (sandbox, notes, preheader, text tidied, links, and
content blocks reused across recipients: blocks.py), which now beats that ceiling.
"""

import argparse
import multiprocessing
import os
import random
import resource
import statistics
import sys
import time
import traceback

from _processes import database_fresh
from _setup import ROOT, machine

BENCH_DB = "tailor_bench_render"
BENCH_REDIS = "redis://127.0.0.1:6379/5"
CAMPAIGN = {"id": 1, "name": "Weekly picks", "utm_campaign": "weekly-picks-48", "variant": "A"}
CORES = os.cpu_count()
PICKED = "Our picks for you"  # the heading of personal recommendations: the else-branch says "Popular right now"

# --- the shop, written in SQL: the bench measures rendering, not the ingest path ---------------

CATEGORIES = ["Shoes", "Bags", "Outdoors", "Kitchen", "Books", "Toys", "Beauty", "Garden", "Sports", "Music",
              "Pets", "Office"]  # fmt: skip
NOUNS = ["Runner", "Tote", "Tent", "Skillet", "Novel", "Puzzle", "Serum", "Planter", "Racket", "Headphones",
         "Harness", "Notebook"]  # fmt: skip
ADJECTIVES = ["Classic", "Everyday", "Premium", "Compact", "Organic", "Vintage", "Ultralight", "Signature",
              "Weekend", "Studio", "Essential", "Deluxe"]  # fmt: skip
FIRST_NAMES = ["Ana", "Ben", "Chloé", "David", "Elif", "Farah", "Giulia", "Hannah", "Ivan", "Jonas", "Keiko", "Liam",
               "Maya", "Noah", "Olivia", "Pablo", "Quentin", "Rosa", "Sven", "Tomás", "Uma", "Victor", "Wen", "Yusuf",
               "Zoë", "Amélie", "Björn", "Carmen", "Dmitri", "Emma"]  # fmt: skip
LAST_NAMES = ["García", "Smith", "Müller", "Rossi", "Dubois", "Jansen", "Tanaka", "Kowalski", "Nguyen", "Silva",
              "Brown", "Schneider", "Ferrari", "Martin", "de Vries", "Sato", "Nowak", "Tran", "Santos",
              "Wilson"]  # fmt: skip
# (locale, time zone, weight): where the customers live.
PLACES = [("en-US", "America/New_York", 22), ("en-US", "America/Chicago", 8), ("en-US", "America/Los_Angeles", 10),
          ("en-GB", "Europe/London", 12), ("de-DE", "Europe/Berlin", 12), ("fr-FR", "Europe/Paris", 9),
          ("es-ES", "Europe/Madrid", 6), ("nl-NL", "Europe/Amsterdam", 5), ("it-IT", "Europe/Rome", 5),
          ("en-AU", "Australia/Sydney", 4), ("ja-JP", "Asia/Tokyo", 4), ("pt-BR", "America/Sao_Paulo", 3)]  # fmt: skip
PERSONAS = 40  # each customer leans to three categories of their persona, so favorite lists repeat
QUIET_SHARE = 0.1  # customers with no events at all: no traits, the popular lists


def _personas() -> list[int]:
    """Three distinct categories (1-based) per persona, flattened."""
    chooser = random.Random(7)
    return [k + 1 for _ in range(PERSONAS) for k in chooser.sample(range(len(CATEGORIES)), 3)]


def store_write(cursor, customers: int, products: int, events: int) -> None:
    places = [place for place in PLACES for _ in range(place[2])]
    cursor.execute("SELECT setseed(0.42)")
    cursor.execute(
        """INSERT INTO personalization_product (created_at, updated_at, sku, name, category, price, currency, url,
                                                image_url, in_stock, attributes)
           SELECT now(), now(), 'SKU-' || lpad(g::text, 5, '0'),
                  (%(adjectives)s::text[])[1 + (g / 12) %% 12] || ' ' || (%(nouns)s::text[])[1 + g %% 12] || ' '
                      || (g / 144 + 1),
                  (%(categories)s::text[])[1 + g %% 12], round((5 + random() * 195)::numeric, 2), 'USD',
                  'https://shop.example.com/products/sku-' || g, 'https://cdn.example.com/img/sku-' || g || '.jpg',
                  random() > 0.05, '{}'
           FROM generate_series(0, %(products)s - 1) g""",
        {"adjectives": ADJECTIVES, "nouns": NOUNS, "categories": CATEGORIES, "products": products},
    )
    cursor.execute(
        """INSERT INTO personalization_customer (created_at, updated_at, external_id, email, first_name, last_name,
                                                 timezone, locale, attributes)
           SELECT now() - random() * interval '700 days', now(), 'c' || g, 'c' || g || '@example.com',
                  CASE WHEN random() < 0.08 THEN '' ELSE (%(first)s::text[])[1 + floor(random() * %(nf)s)::int] END,
                  (%(last)s::text[])[1 + floor(random() * %(nl)s)::int],
                  (%(zones)s::text[])[p], (%(locales)s::text[])[p], '{}'
           FROM (SELECT g, 1 + floor(random() * %(np)s)::int AS p FROM generate_series(1, %(customers)s) g) c""",
        {"first": FIRST_NAMES, "nf": len(FIRST_NAMES), "last": LAST_NAMES, "nl": len(LAST_NAMES),
         "zones": [p[1] for p in places], "locales": [p[0] for p in places], "np": len(places),
         "customers": customers},
    )  # fmt: skip
    # Customer c (scattered over the ids, heavy users first) of persona c % 40; 92% of what
    # they touch is in their persona's categories, popular products more often; recent days busier.
    active = int(customers * (1 - QUIET_SHARE))
    per_category = products // len(CATEGORIES)
    cursor.execute(
        """INSERT INTO tracking_event (message_id, type, user_id, anonymous_id, customer_id, product_sku,
                                       properties, context, occurred_at, received_at)
           SELECT 'r-' || g, t, 'c' || c, '', c, 'SKU-' || lpad((k - 1 + 12 * floor(pop * %(per)s)::int)::text, 5, '0'),
                  CASE WHEN t = 'Order Completed'
                       THEN jsonb_build_object('revenue', round((15 + random() * 185)::numeric, 2)) ELSE '{}' END,
                  '{}', at, at
           FROM (SELECT g, c, at, pop,
                        CASE WHEN r < 0.80 THEN 'Product Viewed' WHEN r < 0.93 THEN 'Product Added'
                             ELSE 'Order Completed' END AS t,
                        CASE WHEN rc < 0.55 THEN (%(personas)s::int[])[(c %% %(np)s) * 3 + 1]
                             WHEN rc < 0.80 THEN (%(personas)s::int[])[(c %% %(np)s) * 3 + 2]
                             WHEN rc < 0.92 THEN (%(personas)s::int[])[(c %% %(np)s) * 3 + 3]
                             ELSE 1 + floor(random() * 12)::int END AS k
                 FROM (SELECT g, 1 + (floor(power(random(), 1.6) * %(active)s)::bigint * 7919) %% %(customers)s AS c,
                              random() AS r, random() AS rc, power(random(), 2.5) AS pop,
                              now() - power(random(), 1.5) * interval '90 days' - interval '1 minute' AS at
                       FROM generate_series(1, %(events)s) g) e) typed""",
        {"per": per_category, "personas": _personas(), "np": PERSONAS, "active": active, "customers": customers,
         "events": events},
    )  # fmt: skip
    cursor.execute(
        """UPDATE personalization_customer c SET first_seen_at = s.first, last_seen_at = s.last
           FROM (SELECT customer_id, min(occurred_at) AS first, max(occurred_at) AS last FROM tracking_event
                 GROUP BY customer_id) s WHERE s.customer_id = c.id"""
    )
    # The profile fold's part (orders, revenue, the last 20 products viewed), in SQL; the
    # full recompute (traits_recompute) then does engagement, categories and RFM.
    cursor.execute(
        """WITH orders AS (
               SELECT customer_id, count(*) FILTER (WHERE type = 'Order Completed') AS n,
                      coalesce(sum((properties ->> 'revenue')::numeric), 0) AS revenue,
                      min(occurred_at) FILTER (WHERE type = 'Order Completed') AS first_order,
                      max(occurred_at) FILTER (WHERE type = 'Order Completed') AS last_order,
                      jsonb_object_agg(type, 1) AS types
               FROM tracking_event GROUP BY customer_id),
           viewed AS (
               SELECT customer_id, jsonb_agg(jsonb_build_object('sku', product_sku, 'at', occurred_at)
                                             ORDER BY occurred_at DESC) AS items
               FROM (SELECT customer_id, product_sku, occurred_at,
                            row_number() OVER (PARTITION BY customer_id ORDER BY occurred_at DESC) AS n
                     FROM tracking_event WHERE type = 'Product Viewed') v
               WHERE n <= 20 GROUP BY customer_id)
           INSERT INTO personalization_traits (customer_id, event_counts, order_count, revenue, first_order_at,
               last_order_at, last_viewed, cart, average_order_value, engagement_log, category_weights,
               favorite_categories, email_opens_30d, email_clicks_30d, site_visits_30d, updated_at)
           SELECT o.customer_id, '{}', o.n, o.revenue, o.first_order, o.last_order, coalesce(v.items, '[]'),
                  '[]', 0, NULL, '{}', '[]', 0, 0, 0, now()
           FROM orders o LEFT JOIN viewed v USING (customer_id)"""
    )
    cursor.execute(
        """UPDATE personalization_traits t SET cart = c.items, cart_updated_at = now()
           FROM (SELECT t2.customer_id,
                        jsonb_agg(jsonb_build_object('sku', p.sku, 'name', p.name, 'price', p.price::float,
                                                     'quantity', 1, 'added_at', v.item ->> 'at')) AS items
                 FROM personalization_traits t2
                 CROSS JOIN LATERAL (SELECT item FROM jsonb_array_elements(t2.last_viewed) item LIMIT 2) v
                 JOIN personalization_product p ON p.sku = v.item ->> 'sku'
                 WHERE t2.customer_id % 8 = 3 GROUP BY t2.customer_id) c
           WHERE c.customer_id = t.customer_id"""
    )


def scores_and_consent_write(cursor, purchase_version: int, churn_version: int) -> None:
    cursor.execute(
        """INSERT INTO personalization_customerscore (customer_id, kind, score, model_version_id, computed_at)
           SELECT customer_id, 'purchase_30d', least(100, order_count * 9 + floor(random() * 45)::int), %s, now()
           FROM personalization_traits WHERE random() < 0.75""",
        [purchase_version],
    )
    cursor.execute(
        """INSERT INTO personalization_customerscore (customer_id, kind, score, model_version_id, computed_at)
           SELECT customer_id, 'churn_90d',
                  CASE WHEN last_order_at IS NULL THEN floor(random() * 60)::int
                       ELSE least(100, floor(extract(epoch FROM now() - last_order_at) / 86400
                                             + random() * 30)::int) END, %s, now()
           FROM personalization_traits WHERE random() < 0.75""",
        [churn_version],
    )
    # Personalization: granted by 90% at signup; 2.5% of those withdrew later; the rest never asked.
    cursor.execute(
        """INSERT INTO consent_consentrecord (customer_id, subject_hash, purpose, decision, source, policy_version,
               wording, proof, actor, recorded_at)
           SELECT id, '', purpose, 'granted', 'signup_form', '1', 'Yes, personalize my emails', '{}', 'person',
                  created_at
           FROM personalization_customer, unnest(ARRAY['personalization', 'email_marketing']) purpose
           WHERE random() < 0.9"""
    )
    cursor.execute(
        """INSERT INTO consent_consentrecord (customer_id, subject_hash, purpose, decision, source, policy_version,
               wording, proof, actor, recorded_at)
           SELECT customer_id, '', 'personalization', 'withdrawn', 'preference_center', '1', '', '{}', 'person',
                  now() - random() * interval '30 days'
           FROM consent_consentrecord WHERE purpose = 'personalization' AND random() < 0.025"""
    )
    cursor.execute("ANALYZE")


# --- the template ------------------------------------------------------------------------------

STYLE = """
  body { margin: 0; padding: 0; background: #f4f4f5; font-family: Helvetica, Arial, sans-serif; color: #1f2937; }
  .wrapper { width: 100%; background: #f4f4f5; }
  .container { width: 600px; margin: 0 auto; background: #ffffff; }
  .header { padding: 24px; background: #111827; color: #ffffff; font-size: 20px; font-weight: bold; }
  .hero { padding: 24px; font-size: 16px; line-height: 24px; }
  .badge { display: inline-block; padding: 2px 10px; border-radius: 12px; background: #fde68a; color: #92400e; }
  .offer { padding: 16px; border: 2px dashed #10b981; text-align: center; font-size: 18px; }
  h2 { margin: 24px 24px 8px; font-size: 18px; }
  .viewed { padding: 4px 24px; font-size: 14px; }
  .button { display: inline-block; padding: 12px 24px; background: #2563eb; color: #ffffff; text-decoration: none;
            border-radius: 4px; }
  @media (max-width: 620px) { .container { width: 100% !important; } .product-card { display: block; } }
"""

HTML = (
    """<!DOCTYPE html>
<html lang="{{ locale | default: 'en' }}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{ shop.name }}</title><style>"""
    + STYLE
    + """</style></head>
<body>
<table class="wrapper" role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td>
<table class="container" role="presentation" width="600" cellpadding="0" cellspacing="0" align="center">
<tr><td class="header"><a href="{{ shop.url }}" style="color:#ffffff;text-decoration:none">{{ shop.name }}</a></td></tr>
<tr><td class="hero">
<p>{{ customer.first_name | greeting }}!</p>
{% if customer.traits.order_count >= 5 %}
<p><span class="badge">VIP</span> {{ customer.traits.order_count }} orders and
{{ customer.traits.lifetime_value | money }} with us: thank you. Your member prices are below.</p>
{% elsif customer.traits.order_count > 0 %}
<p>Thanks again for your order of {{ customer.traits.last_order_at | local_date: "long" }}.
Here is what we think you will like next.</p>
{% else %}
<p>Welcome to {{ shop.name }}, {{ customer.first_name | default: "friend" }}. Your first order ships free.</p>
{% endif %}
</td></tr>
{% if customer.scores.churn_90d >= 70 %}
<tr><td class="offer">We miss you{% if customer.first_name != blank %}, {{ customer.first_name }}{% endif %}:
15% off everything with code <strong>COMEBACK15</strong>.</td></tr>
{% elsif customer.scores.purchase_30d >= 60 and customer.traits.cart.size > 0 %}
<tr><td class="offer">Your cart is waiting: {{ customer.traits.cart.size }}
item{% if customer.traits.cart.size > 1 %}s{% endif %} saved,
from {{ customer.traits.cart.first.price | money }}.</td></tr>
{% endif %}
{% if customer.traits.last_viewed.size > 0 %}
<tr><td><h2>Still thinking about it?</h2>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0">
{% for product in customer.traits.last_viewed limit: 2 %}
<tr><td class="viewed"><a href="{{ product | product_url }}">{{ product.name }}</a>
· {{ product.price | money: product.currency }}{% unless product.in_stock %} (back soon){% endunless %}</td></tr>
{% endfor %}
</table></td></tr>
{% endif %}
<tr><td>
{% assign picks = recommendations | recommend: 4 %}
{% if picks.size > 0 %}<h2>"""
    + PICKED
    + """</h2>{% else %}<h2>Popular right now</h2>{% endif %}
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr>
{% for product in picks %}{% render 'product-card', product: product %}{% else %}
{% for product in products.popular limit: 4 %}{% render 'product-card', product: product %}{% endfor %}
{% endfor %}
</tr></table>
</td></tr>
{% if customer.traits.favorite_categories.size > 0 %}
{% assign favorite = customer.traits.favorite_categories | first %}
<tr><td style="padding:16px 24px;text-align:center">
<a class="button" href="{{ shop.url }}/c/{{ favorite | downcase | url_encode }}">More in {{ favorite }}</a></td></tr>
{% endif %}
{% render 'footer' %}
</table>
</td></tr></table>
</body>
</html>
"""
)

PRODUCT_CARD = """<td class="product-card" width="25%" style="padding:8px;vertical-align:top;text-align:center;\
font-size:13px">
<a href="{{ product | product_url }}" style="text-decoration:none;color:#1f2937">{{ product | product_image: 132 }}
<p style="margin:8px 0 4px;font-weight:bold">{{ product.name | truncate: 38 }}</p></a>
<p style="margin:0;color:#059669">{{ product.price | money: product.currency }}</p>
{% if product.because != blank %}<p style="margin:4px 0 0;color:#6b7280;font-size:11px">{{ product.because }}</p>\
{% endif %}
</td>"""

FOOTER = """<tr><td style="padding:24px;font-size:12px;line-height:18px;color:#6b7280;text-align:center">
<p>You get this email because you signed up at {{ shop.name }}.</p>
<p><a href="{{ links.preferences }}" style="color:#6b7280">Email preferences</a> ·
<a href="{{ links.unsubscribe }}" style="color:#6b7280">Unsubscribe</a></p>
<p>{{ shop.name }} · {{ shop.address }}</p>
</td></tr>"""

SUBJECT = (
    "{% if customer.traits.order_count > 0 %}{{ customer.first_name | default: 'Hello' }}, new picks after your "
    "last order{% elsif customer.first_name != blank %}{{ customer.first_name }}, welcome to {{ shop.name }}"
    "{% else %}Welcome to {{ shop.name }}{% endif %}"
)
PREHEADER = (
    "{% if customer.scores.churn_90d >= 70 %}15% off, just for you{% else %}Picked for you this week{% endif %}"
    " · {{ shop.name }}"
)


def template_write():
    from campaigns.models import ContentBlock, EmailTemplate, MessageKind, SourceFormat
    from campaigns.templating.services import block_save, template_save

    block_save(block=ContentBlock(name="product-card", description="One product, a quarter of a row",
                                  source=PRODUCT_CARD))  # fmt: skip
    block_save(block=ContentBlock(name="footer", description="Preferences, unsubscribe, postal address",
                                  source=FOOTER))  # fmt: skip
    template = EmailTemplate(name="Weekly picks", kind=MessageKind.MARKETING, subject=SUBJECT, preheader=PREHEADER,
                             source_format=SourceFormat.HTML, html=HTML, text="")  # fmt: skip
    return template_save(template=template, actor="bench")


# --- the workers: each a fresh process with its own connections, as a Celery worker -----------


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _database_cpu() -> tuple[int, float]:
    """(pid, CPU seconds) of this process's Postgres backend, on the same machine: the
    database's part of each message, spent on this worker's queries alone."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [pid] = cursor.fetchone()
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return pid, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _customers(ids: list[int]):
    from personalization.models import Customer

    return list(Customer.objects.filter(pk__in=ids).order_by("pk"))


def _chunks(ids: list[int], size: int):
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _job_end_to_end(job: dict, barrier) -> dict:
    """Customers read, then templates_render, batch after batch."""
    from campaigns.models import TemplateVersion
    from campaigns.templating.selectors import templates_render

    version = TemplateVersion.objects.get(pk=job["version_id"])
    _customers(job["ids"][:1])  # the connections open before the clock starts, as in a running worker
    outcome = {"rss_before_mib": _rss_mib(), "batch_seconds": [], "messages": 0, "errors": 0, "personalized": 0,
               "picked": 0, "html_bytes": 0, "first_error": ""}  # fmt: skip
    barrier.wait(timeout=600)
    started, cpu, database = time.monotonic(), time.process_time(), _database_cpu()
    for ids in _chunks(job["ids"], job["batch"]):
        began = time.perf_counter()
        rendered = templates_render(version=version, customers=_customers(ids), campaign=CAMPAIGN)
        outcome["batch_seconds"].append(time.perf_counter() - began)
        outcome["messages"] += len(rendered)
        for email in rendered:
            outcome["errors"] += bool(email.error)
            outcome["first_error"] = outcome["first_error"] or email.error
            outcome["personalized"] += email.personalized
            outcome["picked"] += PICKED in email.html
            outcome["html_bytes"] += len(email.html)
    outcome["phases"] = {"end to end": (started, time.monotonic(), time.process_time() - cpu)}
    pid, database_now = _database_cpu()
    outcome["database_cpu"] = database_now - database[1] if pid == database[0] else float("nan")
    return outcome


def _job_in_memory(job: dict, barrier) -> dict:
    """The ceiling: every recipient's data read first, recommendations included, then rendered
    from memory: by python-liquid alone (the four parsed parts; with no notes to keep, blocks
    render in full), then by Tailor's whole step."""
    from campaigns.models import TemplateVersion
    from campaigns.templating.data import recipients_data
    from campaigns.templating.notes import Notes
    from campaigns.templating.selectors import _compiled, _render_one

    compiled = _compiled(TemplateVersion.objects.get(pk=job["version_id"]))
    parts = [p for p in (compiled.subject, compiled.preheader, compiled.html, compiled.text) if p is not None]
    recipients = []
    for ids in _chunks(job["ids"], job["batch"]):
        batch = recipients_data(customers=_customers(ids), needs=compiled.needs, campaign=CAMPAIGN)
        for recipient in batch:
            drop = recipient.data["recommendations"]
            if drop:  # reads the whole batch's candidates on the first recipient
                drop.source  # noqa: B018
        recipients += batch
    outcome = {"rss_before_mib": _rss_mib(), "messages": len(recipients), "phases": {}}
    barrier.wait(timeout=600)
    started, cpu = time.monotonic(), time.process_time()
    for recipient in recipients:
        for part in parts:
            part.render(recipient.data)
    outcome["phases"]["python-liquid"] = (started, time.monotonic(), time.process_time() - cpu)
    barrier.wait(timeout=600)
    started, cpu = time.monotonic(), time.process_time()
    errors = sum(bool(_render_one(compiled, recipient, Notes()).error) for recipient in recipients)
    outcome["phases"]["tailor step"] = (started, time.monotonic(), time.process_time() - cpu)
    outcome["errors"] = errors
    return outcome


def _job_single(job: dict, barrier) -> dict:
    """One recipient per call, as a triggered email renders; and the Python memory of one batch."""
    import tracemalloc

    from campaigns.models import TemplateVersion
    from campaigns.templating.selectors import templates_render

    version = TemplateVersion.objects.get(pk=job["version_id"])
    customers = _customers(job["ids"])
    templates_render(version=version, customers=customers[:1], campaign=CAMPAIGN)
    barrier.wait(timeout=600)
    timings = []
    for customer in customers:
        began = time.perf_counter()
        templates_render(version=version, customers=[customer], campaign=CAMPAIGN)
        timings.append(time.perf_counter() - began)
    batch = _customers(job["batch_ids"])
    tracemalloc.start()
    templates_render(version=version, customers=batch, campaign=CAMPAIGN)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"single_seconds": timings, "batch_traced_peak_mib": peak / 2**20, "phases": {}}


JOBS = {"end to end": _job_end_to_end, "in memory": _job_in_memory, "single": _job_single}


def _worker(job: dict, barrier, results) -> None:
    try:
        _django()
        outcome = JOBS[job["mode"]](job, barrier)
        outcome["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results.put(outcome)
    except BaseException:
        barrier.abort()
        results.put({"error": traceback.format_exc()})


def workers_run(jobs: list[dict]) -> list[dict]:
    """Run each job in its own fresh (spawned) process at once; their timed phases start together."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(jobs)), context.Queue()
    processes = [context.Process(target=_worker, args=(job, barrier, results)) for job in jobs]
    for process in processes:
        process.start()
    outcomes = []
    while len(outcomes) < len(jobs):
        try:
            outcomes.append(results.get(timeout=5))
        except Exception:
            if not any(p.is_alive() for p in processes):
                raise SystemExit("A worker died; see its error above.") from None
    for process in processes:
        process.join()
    for outcome in outcomes:
        if "error" in outcome:
            raise SystemExit(f"A worker failed:\n{outcome['error']}")
    return outcomes


def _split(ids: list[int], processes: int) -> list[list[int]]:
    size = -(-len(ids) // processes)
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _elapsed(outcomes: list[dict], phase: str) -> float:
    """From the first process's start of the phase to the last one's end."""
    return max(o["phases"][phase][1] for o in outcomes) - min(o["phases"][phase][0] for o in outcomes)


def _load() -> str:
    """The machine's load average over the last minute: what else was running."""
    with open("/proc/loadavg") as loadavg:
        return loadavg.read().split()[0]


def _cpu_share(outcomes: list[dict], phase: str) -> str:
    """Each process's CPU time over its wall time in the phase: below 100% in memory, the
    machine's other processes had the CPU; end to end, it also waited for Postgres and Redis."""
    return "/".join(f"{o['phases'][phase][2] / (o['phases'][phase][1] - o['phases'][phase][0]):.0%}" for o in outcomes)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _label(processes: int) -> str:
    return f"{processes} process{'es' if processes > 1 else ''}"


def end_to_end(ids: list[int], processes: int, version_id: int, batch: int, cache: str) -> dict:
    """Messages rendered per second (a failed render is not a message), from the first process's
    start to the last one's end; and the CPU each message took, in the workers and in Postgres."""
    jobs = [{"mode": "end to end", "ids": share, "version_id": version_id, "batch": batch}
            for share in _split(ids, processes)]  # fmt: skip
    outcomes = workers_run(jobs)
    elapsed = _elapsed(outcomes, "end to end")
    total = {key: sum(o[key] for o in outcomes) for key in ("messages", "errors", "personalized", "picked",
                                                            "html_bytes", "database_cpu")}  # fmt: skip
    rendered = total["messages"] - total["errors"]
    batches = [seconds for o in outcomes for seconds in o["batch_seconds"]]
    rate = rendered / elapsed
    worker_ms = sum(o["phases"]["end to end"][2] for o in outcomes) * 1000 / rendered
    database_ms = total["database_cpu"] * 1000 / rendered
    capacity = CORES * 1000 / (worker_ms + database_ms)
    print(f"  {_label(processes)}, recommendations {cache}: {rendered:,} messages in {elapsed:.1f} s = "
          f"{rate:,.0f} messages/s; batch of {batch}: p50 {percentile(batches, 0.5) * 1000:.0f} ms, "
          f"p99 {percentile(batches, 0.99) * 1000:.0f} ms, max {max(batches) * 1000:.0f} ms")  # fmt: skip
    print(f"    CPU per message: {worker_ms:.2f} ms in the worker + {database_ms:.2f} ms in Postgres; at that, "
          f"{CORES} free cores would render {capacity:,.0f} messages/s (CPU/wall of the workers "
          f"{_cpu_share(outcomes, 'end to end')}, load average {_load()})")  # fmt: skip
    memory = ", ".join(f"{o['peak_rss_mib']:.0f} MiB (from {o['rss_before_mib']:.0f})" for o in outcomes)
    print(f"    peak RSS per process: {memory}; {total['personalized'] / total['messages']:.1%} personalized, "
          f"{total['picked'] / rendered:.1%} with personal recommendations, "
          f"HTML {total['html_bytes'] / rendered / 1024:.1f} KiB on average")  # fmt: skip
    first_error = next((o["first_error"] for o in outcomes if o["first_error"]), "")
    print(f"    {total['errors']:,} renders failed" + (f", the first: {first_error}" if first_error else ""))
    return {"rate": rate, "capacity": capacity}


def in_memory(ids: list[int], processes: int, version_id: int, batch: int) -> dict[str, dict]:
    jobs = [{"mode": "in memory", "ids": share, "version_id": version_id, "batch": batch}
            for share in _split(ids, processes)]  # fmt: skip
    outcomes = workers_run(jobs)
    messages = sum(o["messages"] for o in outcomes)
    figures = {}
    for phase in ("python-liquid", "tailor step"):
        cpu_ms = sum(o["phases"][phase][2] for o in outcomes) * 1000 / messages
        figures[phase] = {"rate": messages / _elapsed(outcomes, phase), "cpu_ms": cpu_ms,
                          "capacity": CORES * 1000 / cpu_ms}  # fmt: skip
    errors = sum(o["errors"] for o in outcomes)
    memory = ", ".join(f"{o['rss_before_mib']:.0f} MiB" for o in outcomes)
    phases = (("python-liquid", "ceiling, python-liquid alone, blocks in full"), ("tailor step", "Tailor's step"))
    for phase, what in phases:
        figure = figures[phase]
        print(f"  {_label(processes)}, {what}: {figure['rate']:,.0f} messages/s; CPU per message "
              f"{figure['cpu_ms']:.2f} ms: {CORES} free cores would render {figure['capacity']:,.0f} messages/s "
              f"(CPU/wall {_cpu_share(outcomes, phase)})")  # fmt: skip
    print(f"    {errors} renders failed; load average {_load()}; all the data in memory: {memory}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=None, help="product events (default: 10 per customer)")
    parser.add_argument("--batch", type=int, default=500, help="customers per templates_render call")
    args = parser.parse_args()
    events = args.events if args.events is not None else 10 * args.customers

    database_url = database_fresh(BENCH_DB)
    os.environ.update({"DATABASE_URL": database_url, "REDIS_URL": BENCH_REDIS, "SECRET_KEY": "bench-only-secret-key",
                       "CELERY_TASK_ALWAYS_EAGER": "true", "DJANGO_SETTINGS_MODULE": "config.settings",
                       "LOG_LEVEL": "WARNING"})  # fmt: skip
    _django()
    import redis
    from django.core.management import call_command
    from django.db import connection

    from personalization.models import Customer, ModelKind, ModelStatus, ModelVersion, Traits
    from personalization.recommendations.serving import recommendations_forget
    from personalization.services.traits import traits_recompute

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(BENCH_REDIS).flushdb()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        store_write(cursor, args.customers, args.products, events)
    traits_recompute()
    purchase, churn = (ModelVersion.objects.create(kind=kind, status=ModelStatus.ACTIVE, decision="bench")
                       for kind in (ModelKind.PURCHASE, ModelKind.CHURN))  # fmt: skip
    with connection.cursor() as cursor:
        scores_and_consent_write(cursor, purchase.pk, churn.pk)
        cursor.execute("SELECT count(*) FROM tracking_event")
        [stored_events] = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM personalization_customerscore")
        [scores] = cursor.fetchone()
    favorites = Traits.objects.exclude(favorite_categories=[]).values("favorite_categories").distinct().count()
    print(f"machine: {machine()}")
    print(f"store: {args.customers:,} customers ({Traits.objects.count():,} with traits, {scores:,} scores), "
          f"{args.products:,} products, {stored_events:,} events; {favorites:,} different lists of favorite "
          f"categories; written in {time.perf_counter() - started:.0f} s")  # fmt: skip

    version = template_write()
    print(f"template: {len(version.html):,} characters of HTML after inlining, {len(version.text):,} of text, "
          f"blocks {', '.join(sorted(version.blocks))}")  # fmt: skip
    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))

    print(f"end to end, {args.batch} customers per templates_render call:")
    figures = {}
    for processes in (1, 2):
        recommendations_forget()  # every list, shared and personal: the next reads rank afresh
        figures[processes, "cold"] = end_to_end(ids, processes, version.pk, args.batch, "cold")
        figures[processes, "warm"] = end_to_end(ids, processes, version.pk, args.batch, "warm")

    print("the same data already in memory (no database, no Redis):")
    ceilings = {processes: in_memory(ids, processes, version.pk, args.batch) for processes in (1, 2)}

    sample = random.Random(1).sample(ids, min(300, len(ids)))
    [single] = workers_run([{"mode": "single", "ids": sample, "batch_ids": ids[: args.batch],
                             "version_id": version.pk, "batch": args.batch}])  # fmt: skip
    timings = single["single_seconds"]
    print(f"one recipient per templates_render call (warm, {len(timings)} customers): "
          f"p50 {percentile(timings, 0.5) * 1000:.1f} ms, p99 {percentile(timings, 0.99) * 1000:.1f} ms, "
          f"mean {statistics.mean(timings) * 1000:.1f} ms; Python memory of one batch of {args.batch} "
          f"(tracemalloc peak): {single['batch_traced_peak_mib']:.1f} MiB")  # fmt: skip

    print("against the ceiling (python-liquid alone, the same processes) and the target (>= 2,000 messages/s),")
    print(f"  measured / what {CORES} free cores would do at the CPU each message took:")
    for (processes, cache), figure in figures.items():
        ceiling = ceilings[processes]["python-liquid"]
        rate, capacity = figure["rate"], figure["capacity"]
        print(f"  {_label(processes):<11}, {cache}: {rate:6,.0f} / {capacity:6,.0f} messages/s = "
              f"{rate / ceiling['rate']:.0%} / {capacity / ceiling['capacity']:.0%} of the ceiling's "
              f"{ceiling['rate']:,.0f} / {ceiling['capacity']:,.0f}; target {'met' if rate >= 2000 else 'missed'}"
              f"{' (would be met)' if rate < 2000 <= capacity else ''}")  # fmt: skip


if __name__ == "__main__":
    main()
